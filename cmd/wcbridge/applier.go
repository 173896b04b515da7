package main

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/store"
	"github.com/wcbridge/wcbridge/woo"
)

// applier applies gateway reports in one transaction on the shop's
// database, which holds both the sidecar's tables and WooCommerce's: the
// store locks and writes the payment (with its notification and callback),
// and WooCommerce's tables are written through the same *sql.Tx.
//
// Once started (run), reports are applied by a few writers, each taking
// every report waiting when it is free into one transaction with one
// commit: under load a commit (and its flush to disk) serves many
// payments, and the database works on a few transactions at a time rather
// than one per waiting callback. Alone, a report gets a transaction of its
// own at once: grouping costs no waiting.
type applier struct {
	store   *store.Store
	woo     *woo.Store
	jobs    chan *applyJob
	running atomic.Bool // while not, each report is applied alone
	stopped chan struct{}
}

var _ bridge.Applier = (*applier)(nil)

// applyJob is one report waiting for a writer.
type applyJob struct {
	ctx  context.Context
	u    store.PaymentUpdate
	done chan struct{}
}

// Defaults for workers.apply_writers and workers.apply_group.
const (
	defaultApplyWriters = 4
	defaultApplyGroup   = 32
)

// applyTimeout bounds one group's transaction, which runs on even when the
// callers' contexts end (shutdown waits for it).
const applyTimeout = time.Minute

func newApplier(st *store.Store, ws *woo.Store) *applier {
	return &applier{store: st, woo: ws, jobs: make(chan *applyJob), stopped: make(chan struct{})}
}

// run applies reports with writers writers, up to group reports per
// transaction, until ctx ends; a group taken is finished first.
func (a *applier) run(ctx context.Context, writers, group int) {
	writers, group = max(writers, 1), max(group, 1)
	a.running.Store(true)
	defer close(a.stopped)
	defer a.running.Store(false)
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jobs := make([]*applyJob, 0, group)
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-a.jobs:
					jobs = append(jobs[:0], j)
				}
			more:
				for len(jobs) < group {
					select {
					case j := <-a.jobs:
						jobs = append(jobs, j)
					default:
						break more
					}
				}
				a.applyGroup(jobs)
			}
		}()
	}
	wg.Wait()
}

func (a *applier) applyGroup(jobs []*applyJob) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(jobs[0].ctx), applyTimeout)
	defer cancel()
	us := make([]*store.PaymentUpdate, len(jobs))
	for i, j := range jobs {
		us[i] = &j.u
	}
	// The storage mode is brought up to date before the transaction takes
	// a connection: inside it, nothing may wait for a second one.
	if _, err := a.woo.CurrentMode(ctx); err != nil {
		for _, u := range us {
			u.Err = err
		}
	} else {
		a.store.UpdatePayments(ctx, us)
	}
	for _, j := range jobs {
		close(j.done)
	}
}

func (a *applier) ApplyPayment(ctx context.Context, ref bridge.PaymentRef, cb *bridge.AppliedCallback, fn bridge.ApplyFunc) (*bridge.Payment, error) {
	fctx := ctx
	grouped := a.running.Load()
	if grouped {
		// fn runs in a writer's transaction, which ends on its own terms.
		fctx = context.WithoutCancel(ctx)
	}
	u := a.update(fctx, ref, cb, fn)
	alone := func() (*bridge.Payment, error) {
		if _, err := a.woo.CurrentMode(ctx); err != nil {
			return nil, err
		}
		return a.store.UpdatePaymentTx(ctx, ref, cb, u.Fn)
	}
	if !grouped {
		return alone()
	}
	j := &applyJob{ctx: ctx, u: u, done: make(chan struct{})}
	select {
	case a.jobs <- j:
	case <-a.stopped:
		return alone()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Taken by a writer: its transaction decides, whatever ctx does now.
	<-j.done
	return j.u.Payment, j.u.Err
}

// update is the store's update running fn with ctx on the store's
// transaction, through an orderTx.
func (a *applier) update(ctx context.Context, ref bridge.PaymentRef, cb *bridge.AppliedCallback, fn bridge.ApplyFunc) store.PaymentUpdate {
	var last *orderTx // fn's last run, to tell whether it wrote
	return store.PaymentUpdate{Ref: ref, CB: cb,
		Fn: func(tx *sql.Tx, p *bridge.Payment) (*bridge.Notification, error) {
			last = &orderTx{a: a, tx: tx}
			return fn(ctx, last, p)
		},
		Wrote: func() bool { return last != nil && last.wrote },
	}
}

// orderTx is bridge.OrderTx on one transaction. wrote is set once ApplyOrder
// ran or a read failed: the transaction may then hold changes of this run.
type orderTx struct {
	a     *applier
	tx    *sql.Tx
	wrote bool
}

func (t *orderTx) Order(ctx context.Context, id int64) (*bridge.Order, error) {
	// An earlier update of the group may have held rows of this order back.
	if err := t.a.store.DeferredIn(t.tx).FlushFor(ctx, t.tx, id); err != nil {
		t.wrote = true
		return nil, fmt.Errorf("order %d: write held-back rows: %w", id, err)
	}
	o, err := t.a.woo.OrderTx(ctx, t.tx, id)
	if err != nil {
		t.wrote = true
	}
	return o, err
}

func (t *orderTx) ApplyOrder(ctx context.Context, u bridge.OrderUpdate) (*bridge.OrderResult, error) {
	t.wrote = true
	// In a transaction shared by several reports, the order's meta rows
	// go in at its end with theirs (store.DeferredIn).
	return t.a.woo.ApplyOrderTx(ctx, t.tx, u, t.a.store.DeferredIn(t.tx))
}

func (t *orderTx) OrderPayments(ctx context.Context, orderID int64) ([]*bridge.Payment, error) {
	ps, err := t.a.store.OrderPaymentsTx(ctx, t.tx, orderID)
	if err != nil {
		t.wrote = true
	}
	return ps, err
}
