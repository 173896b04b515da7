package main

import (
	"context"
	"database/sql"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/store"
	"github.com/wcbridge/wcbridge/woo"
)

// applier applies gateway reports in one transaction on the shop's
// database, which holds both the sidecar's tables and WooCommerce's: the
// store locks and writes the payment (with its notification and callback),
// and WooCommerce's tables are written through the same *sql.Tx.
type applier struct {
	store *store.Store
	woo   *woo.Store
}

var _ bridge.Applier = applier{}

func (a applier) ApplyPayment(ctx context.Context, ref bridge.PaymentRef, cb *bridge.AppliedCallback, fn bridge.ApplyFunc) (*bridge.Payment, error) {
	// The storage mode is brought up to date before the transaction takes
	// a connection: inside it, nothing may wait for a second one.
	if _, err := a.woo.CurrentMode(ctx); err != nil {
		return nil, err
	}
	return a.store.UpdatePaymentTx(ctx, ref, cb, func(tx *sql.Tx, p *bridge.Payment) (*bridge.Notification, error) {
		return fn(ctx, orderTx{a: a, tx: tx}, p)
	})
}

// orderTx is bridge.OrderTx on one transaction.
type orderTx struct {
	a  applier
	tx *sql.Tx
}

func (t orderTx) Order(ctx context.Context, id int64) (*bridge.Order, error) {
	return t.a.woo.OrderTx(ctx, t.tx, id)
}

func (t orderTx) ApplyOrder(ctx context.Context, u bridge.OrderUpdate) (*bridge.OrderResult, error) {
	return t.a.woo.ApplyOrderTx(ctx, t.tx, u)
}

func (t orderTx) OrderPayments(ctx context.Context, orderID int64) ([]*bridge.Payment, error) {
	return t.a.store.OrderPaymentsTx(ctx, t.tx, orderID)
}
