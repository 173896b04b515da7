package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/mysqlkit"
)

// paymentCols is the column list every payment read selects, in scanPayment's order.
const paymentCols = `id, order_id, gateway, gateway_id, reference, status,
	amount, currency, received, received_currency,
	gateway_amount, gateway_currency, gateway_received, gateway_received_currency, unit_scale,
	tx_ref, pay_url, expires_at, created_at, updated_at,
	applied_status, next_check_at, checks, failures, last_error, paid_status, watch`

type scanner interface{ Scan(dest ...any) error }

func scanPayment(r scanner) (*bridge.Payment, error) {
	var (
		p                 bridge.Payment
		gatewayID         sql.NullString
		status, applied   string
		expires           dbTime
		created, updated  dbTime
		next              dbTime
		amount, received  decimal.Decimal
		gAmount, gReceive decimal.Decimal
		unitScale         sql.NullInt16
	)
	err := r.Scan(&p.ID, &p.OrderID, &p.Gateway, &gatewayID, &p.OrderRef, &status,
		&amount, &p.Amount.Currency, &received, &p.Received.Currency,
		&gAmount, &p.GatewayAmount.Currency, &gReceive, &p.GatewayReceived.Currency, &unitScale,
		&p.TxRef, &p.PayURL, &expires, &created, &updated,
		&applied, &next, &p.Checks, &p.Failures, &p.LastError, &p.PaidStatus, &p.Watch)
	if err != nil {
		return nil, err
	}
	p.GatewayID = gatewayID.String
	p.UnitScale = int(unitScale.Int16)
	p.Status, p.AppliedStatus = bridge.PaymentStatus(status), bridge.PaymentStatus(applied)
	p.Amount.Amount, p.Received.Amount = amount, received
	p.GatewayAmount.Amount, p.GatewayReceived.Amount = gAmount, gReceive
	p.ExpiresAt, p.CreatedAt, p.UpdatedAt, p.NextCheckAt = expires.Time, created.Time, updated.Time, next.Time
	return &p, nil
}

// knownStatus reports whether s is one of the core's payment statuses.
func knownStatus(s bridge.PaymentStatus) bool {
	switch s {
	case bridge.PaymentCreating, bridge.PaymentPending, bridge.PaymentUnderpaid, bridge.PaymentPaid,
		bridge.PaymentOverpaid, bridge.PaymentExpired, bridge.PaymentCancelled, bridge.PaymentFailed:
		return true
	}
	return false
}

// maxAmount is the first value DECIMAL(36,18) cannot hold.
var maxAmount = decimal.New(1, 18)

// checkMoney refuses an amount the column would round or reject, so money is
// never changed silently on its way into the database.
func checkMoney(field string, m bridge.Money) error {
	if m.Amount.Abs().Cmp(maxAmount) >= 0 || !m.Amount.Equal(m.Amount.Truncate(18)) {
		return bridge.Errorf(bridge.EINVALID, "%s %s does not fit 18 integer and 18 fractional digits", field, m.Amount)
	}
	if len(m.Currency) > 16 {
		return bridge.Errorf(bridge.EINVALID, "%s currency longer than 16 characters", field)
	}
	return nil
}

func checkPayment(p *bridge.Payment) error {
	if !knownStatus(p.Status) {
		return bridge.Errorf(bridge.EINVALID, "unknown payment status %q", p.Status)
	}
	if p.AppliedStatus != "" && !knownStatus(p.AppliedStatus) {
		return bridge.Errorf(bridge.EINVALID, "unknown applied status %q", p.AppliedStatus)
	}
	if p.Gateway == "" || len(p.Gateway) > 32 {
		return bridge.Errorf(bridge.EINVALID, "gateway name must have 1 to 32 characters")
	}
	if p.OrderRef == "" || len(p.OrderRef) > 64 {
		return bridge.Errorf(bridge.EINVALID, "payment reference must have 1 to 64 characters")
	}
	if len(p.GatewayID) > 191 {
		return bridge.Errorf(bridge.EINVALID, "gateway payment id longer than 191 characters")
	}
	if p.UnitScale < 0 || p.UnitScale > 64 {
		return bridge.Errorf(bridge.EINVALID, "unit scale %d outside 0..64", p.UnitScale)
	}
	if len(p.PayURL) > 1024 {
		return bridge.Errorf(bridge.EINVALID, "pay url longer than 1024 characters")
	}
	switch p.PaidStatus {
	case "", bridge.StatusProcessing, bridge.StatusCompleted:
	default:
		return bridge.Errorf(bridge.EINVALID, "paid status %q: want processing or completed", p.PaidStatus)
	}
	for _, f := range []struct {
		name string
		m    bridge.Money
	}{{"amount", p.Amount}, {"received", p.Received}, {"gateway amount", p.GatewayAmount}, {"gateway received", p.GatewayReceived}} {
		if err := checkMoney(f.name, f.m); err != nil {
			return err
		}
	}
	return nil
}

// liveSlot is the live_order_id value for p: its order id while the status
// holds the order's single live slot, else NULL.
func liveSlot(p *bridge.Payment) sql.NullInt64 {
	if p.Status.Live() {
		return sql.NullInt64{Int64: p.OrderID, Valid: true}
	}
	return sql.NullInt64{}
}

// due reports whether the reconciler still has work on p. A failed payment
// never reached the customer, so it has nothing to apply (bridge.Payment.ApplyDue).
func due(p *bridge.Payment) bool { return !p.Status.Final() || p.ApplyDue() || p.Watch }

// nullScale maps a unit scale of 0 (none recorded) to NULL.
func nullScale(n int) sql.NullInt16 { return sql.NullInt16{Int16: int16(n), Valid: n != 0} }

// nullString maps "" to NULL, so payments without a gateway id yet do not
// collide in the (gateway, gateway_id) unique index.
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// CreatePayment inserts p, taking its order's live slot. If another live
// payment holds the slot it returns that payment and bridge.ErrLivePayment.
// Zero CreatedAt and NextCheckAt mean now.
func (s *Store) CreatePayment(ctx context.Context, p *bridge.Payment) (*bridge.Payment, error) {
	if p.Status != bridge.PaymentCreating && p.Status != bridge.PaymentPending {
		return nil, bridge.Errorf(bridge.EINVALID, "a new payment must be creating or pending, not %q", p.Status)
	}
	if err := checkPayment(p); err != nil {
		return nil, fmt.Errorf("create payment: %w", err)
	}
	now := s.nowUTC()
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	if p.NextCheckAt.IsZero() {
		p.NextCheckAt = now
	}
	p.CreatedAt, p.UpdatedAt, p.NextCheckAt = stamp(p.CreatedAt), now, stamp(p.NextCheckAt)
	if !p.ExpiresAt.IsZero() {
		p.ExpiresAt = stamp(p.ExpiresAt)
	}
	// The slot may be freed between a refused insert and the look-up of its
	// holder; a few rounds settle that race.
	for range 3 {
		res, err := s.db.ExecContext(ctx, "INSERT INTO "+s.payments+` (order_id, gateway, gateway_id, reference, status,
	amount, currency, received, received_currency,
	gateway_amount, gateway_currency, gateway_received, gateway_received_currency, unit_scale,
	tx_ref, pay_url, expires_at, created_at, updated_at,
	applied_status, next_check_at, due, checks, last_error, live_order_id, paid_status, watch)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.OrderID, p.Gateway, nullString(p.GatewayID), p.OrderRef, string(p.Status),
			p.Amount.Amount, p.Amount.Currency, p.Received.Amount, p.Received.Currency,
			p.GatewayAmount.Amount, p.GatewayAmount.Currency, p.GatewayReceived.Amount, p.GatewayReceived.Currency, nullScale(p.UnitScale),
			clip(p.TxRef, 191), p.PayURL, dt(p.ExpiresAt), dt(p.CreatedAt), dt(p.UpdatedAt),
			string(p.AppliedStatus), dt(p.NextCheckAt), due(p), p.Checks, clip(p.LastError, 1024), liveSlot(p), p.PaidStatus, p.Watch)
		if err == nil {
			id, err := res.LastInsertId()
			if err != nil {
				return nil, fmt.Errorf("create payment: %w", err)
			}
			p.ID = id
			return p, nil
		}
		if !isDup(err) {
			return nil, fmt.Errorf("create payment: %w", dbError(err))
		}
		live, lerr := s.livePayment(ctx, p.OrderID)
		if lerr == nil {
			return live, bridge.ErrLivePayment
		} else if !errors.Is(lerr, bridge.ErrPaymentNotFound) {
			return nil, fmt.Errorf("create payment: %w", lerr)
		}
		// No live holder: the duplicate is the reference or the gateway id,
		// unless the holder just left the slot; then the next round says.
		if taken, terr := s.paymentExists(ctx, p); terr != nil {
			return nil, fmt.Errorf("create payment: %w", terr)
		} else if taken {
			return nil, fmt.Errorf("create payment: reference or gateway id in use: %w", dbError(err))
		}
	}
	return nil, fmt.Errorf("create payment: live slot of order %d: %w", p.OrderID, bridge.ErrUnavailable)
}

// paymentExists reports whether p's reference or gateway id is already used.
func (s *Store) paymentExists(ctx context.Context, p *bridge.Payment) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+s.payments+
		" WHERE reference = ? OR (gateway = ? AND gateway_id = ?)", p.OrderRef, p.Gateway, nullString(p.GatewayID)).Scan(&n)
	return n > 0, dbError(err)
}

func (s *Store) livePayment(ctx context.Context, orderID int64) (*bridge.Payment, error) {
	return s.onePayment(ctx, "live_order_id = ?", orderID)
}

func (s *Store) onePayment(ctx context.Context, where string, args ...any) (*bridge.Payment, error) {
	p, err := scanPayment(s.db.QueryRowContext(ctx, "SELECT "+paymentCols+" FROM "+s.payments+" WHERE "+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridge.ErrPaymentNotFound
	}
	return p, dbError(err)
}

// Payment reads one payment by id.
func (s *Store) Payment(ctx context.Context, id int64) (*bridge.Payment, error) {
	p, err := s.onePayment(ctx, "id = ?", id)
	if err != nil {
		return nil, fmt.Errorf("payment %d: %w", id, err)
	}
	return p, nil
}

// PaymentByGatewayID finds a payment by the gateway's id for it.
func (s *Store) PaymentByGatewayID(ctx context.Context, gateway, gatewayID string) (*bridge.Payment, error) {
	if gatewayID == "" {
		return nil, fmt.Errorf("payment by gateway id: %w", bridge.ErrPaymentNotFound)
	}
	p, err := s.onePayment(ctx, "gateway = ? AND gateway_id = ?", gateway, gatewayID)
	if err != nil {
		return nil, fmt.Errorf("payment by gateway id: %w", err)
	}
	return p, nil
}

// PaymentByOrderRef finds a payment by our reference.
func (s *Store) PaymentByOrderRef(ctx context.Context, reference string) (*bridge.Payment, error) {
	p, err := s.onePayment(ctx, "reference = ?", reference)
	if err != nil {
		return nil, fmt.Errorf("payment by reference: %w", err)
	}
	return p, nil
}

// OrderPayments lists an order's payments, newest first.
func (s *Store) OrderPayments(ctx context.Context, orderID int64) ([]*bridge.Payment, error) {
	ps, err := s.queryPayments(ctx, "SELECT "+paymentCols+" FROM "+s.payments+" WHERE order_id = ? ORDER BY id DESC", orderID)
	if err != nil {
		return nil, fmt.Errorf("order %d payments: %w", orderID, err)
	}
	return ps, nil
}

func (s *Store) queryPayments(ctx context.Context, query string, args ...any) ([]*bridge.Payment, error) {
	return queryAll(ctx, s.db, scanPayment, query, args...)
}

// queryAll runs query and scans every row with scan.
func queryAll[T any](ctx context.Context, db querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, dbError(rows.Err())
}

// UpdatePayment reads payment id under a row lock, lets fn change a copy and
// writes it back with fn's notification, all in one transaction. Concurrent
// updates of one payment run one after the other, each seeing the last one's
// result. ID, OrderID, Gateway, OrderRef and CreatedAt cannot be changed.
// When the server picks the transaction as a deadlock victim, the whole round,
// fn included, runs again (at most twice more).
func (s *Store) UpdatePayment(ctx context.Context, id int64, fn func(p *bridge.Payment) (*bridge.Notification, error)) (*bridge.Payment, error) {
	return s.UpdatePaymentTx(ctx, bridge.PaymentRef{ID: id}, nil, func(_ *sql.Tx, p *bridge.Payment) (*bridge.Notification, error) { return fn(p) })
}

// UpdatePaymentTx is UpdatePayment for a caller that writes more in the
// same transaction: fn gets the transaction, in which it may write other
// tables (WooCommerce's: see bridge.Applier), and cb, when not nil, is
// recorded applied in it too. A lock wait timeout, like a deadlock, runs
// the whole round again.
func (s *Store) UpdatePaymentTx(ctx context.Context, ref bridge.PaymentRef, cb *bridge.AppliedCallback, fn func(tx *sql.Tx, p *bridge.Payment) (*bridge.Notification, error)) (*bridge.Payment, error) {
	var p *bridge.Payment
	// A deadlock or a lock wait timeout rolled everything back, fn's
	// effects included, so the whole round may run again.
	err := mysqlkit.Retry(ctx, 2, func() (err error) {
		p, err = s.updatePayment(ctx, ref, cb, fn)
		return err
	})
	if err != nil {
		return nil, updateErr(ref, err)
	}
	return p, nil
}

func updateErr(ref bridge.PaymentRef, err error) error {
	if ref.ID == 0 {
		return fmt.Errorf("update payment %s %s: %w", ref.Gateway, ref.GatewayID, dbError(err))
	}
	return fmt.Errorf("update payment %d: %w", ref.ID, dbError(err))
}

// PaymentUpdate is one of the updates UpdatePayments applies together: Ref,
// CB and Fn as for UpdatePaymentTx, and its result.
type PaymentUpdate struct {
	Ref bridge.PaymentRef
	CB  *bridge.AppliedCallback
	Fn  func(tx *sql.Tx, p *bridge.Payment) (*bridge.Notification, error)
	// Wrote, asked after Fn failed, says whether that run of Fn wrote
	// anything (or saw a statement fail). A failure of Fn's own that wrote
	// nothing fails its update only; nil means it may have written.
	Wrote func() bool

	Payment *bridge.Payment
	Err     error
}

// UpdatePayments applies updates in one transaction with one commit, each
// as UpdatePaymentTx would, in order: a later one sees what an earlier one
// wrote (the rows held back for the end, DeferredIn, once it flushes
// them). An update whose Fn fails without writing fails alone and the
// others go on. Anything else that fails the transaction (a statement, a
// deadlock, Fn failing after a write, the commit) rolls it all back, and
// each update then runs again alone through UpdatePaymentTx, so one
// update's trouble costs the others only time. Each update's result is in
// its Payment and Err.
//
// While callbacks are arriving, the transaction waits a moment before its
// commit for small writes to carry (ride.go).
func (s *Store) UpdatePayments(ctx context.Context, us []*PaymentUpdate) {
	if len(us) > 0 && s.updateTogether(ctx, us) == nil {
		return
	}
	for _, u := range us {
		u.Payment, u.Err = s.UpdatePaymentTx(ctx, u.Ref, u.CB, u.Fn)
	}
}

func (s *Store) updateTogether(ctx context.Context, us []*PaymentUpdate) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer rollback(tx)
	// The notifications, and the order meta the updates' Fn hold back
	// (DeferredIn), are written at the end by one INSERT each. Alone, an
	// update writes them with its own statements, at no extra round trip.
	var held *mysqlkit.Deferred
	if len(us) > 1 {
		held = &mysqlkit.Deferred{}
		s.deferred.Store(tx, held)
		defer s.deferred.Delete(tx)
	}
	// The group's payments are read and locked by one statement, not one
	// each: the statements, not the rows, are what the database's time goes
	// to (docs/BENCHMARKS.md §1).
	locked, err := s.lockPayments(ctx, tx, us)
	if err != nil {
		return err
	}
	for _, u := range us {
		p, dirty, err := s.updatePaymentIn(ctx, tx, held, locked, u.Ref, u.CB, u.Fn)
		if err != nil && (dirty || u.Wrote == nil || u.Wrote()) {
			return err
		}
		u.Payment, u.Err = p, nil
		if err != nil {
			u.Err = updateErr(u.Ref, err)
		}
	}
	if err := held.Flush(ctx, tx); err != nil {
		return fmt.Errorf("write the updates' held-back rows: %w", err)
	}
	k, err := s.carryRiders(ctx, tx)
	if err == nil {
		err = tx.Commit()
	}
	s.endCarrier(k, err == nil)
	return err
}

func (s *Store) updatePayment(ctx context.Context, ref bridge.PaymentRef, cb *bridge.AppliedCallback, fn func(tx *sql.Tx, p *bridge.Payment) (*bridge.Notification, error)) (*bridge.Payment, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer rollback(tx)
	p, _, err := s.updatePaymentIn(ctx, tx, nil, nil, ref, cb, fn)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return p, nil
}

// updatePaymentIn is updatePayment's work inside tx, without the commit;
// with held (a transaction shared by several updates), the notification is
// held back there for the transaction's end, and locked holds the group's
// payments as lockPayments read them. When it fails, dirty says that it
// wrote, or one of its own statements failed: otherwise it only read and
// locked the payment's row, and tx is as fn left it.
func (s *Store) updatePaymentIn(ctx context.Context, tx *sql.Tx, held *mysqlkit.Deferred, locked *lockedPayments, ref bridge.PaymentRef, cb *bridge.AppliedCallback, fn func(tx *sql.Tx, p *bridge.Payment) (*bridge.Notification, error)) (_ *bridge.Payment, dirty bool, _ error) {
	where, args := "id = ?", []any{ref.ID}
	if ref.ID == 0 {
		if ref.GatewayID == "" {
			return nil, false, bridge.ErrPaymentNotFound
		}
		where, args = "gateway = ? AND gateway_id = ?", []any{ref.Gateway, ref.GatewayID}
	}
	if cb != nil {
		cb.LeaseLost = false // from an earlier run of a round that rolled back
	}
	old := locked.take(ref)
	if old == nil {
		var err error
		old, err = scanPayment(tx.QueryRowContext(ctx, "SELECT "+paymentCols+" FROM "+s.payments+" WHERE "+where+" FOR UPDATE", args...))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, bridge.ErrPaymentNotFound
		} else if err != nil {
			return nil, true, err
		}
	}
	p := *old
	notify, err := fn(tx, &p)
	if err != nil {
		return nil, false, err
	}
	// Identity is not fn's to change: a payment is one attempt, through one
	// gateway, for one order.
	p.ID, p.OrderID, p.Gateway, p.OrderRef, p.CreatedAt, p.PaidStatus = old.ID, old.OrderID, old.Gateway, old.OrderRef, old.CreatedAt, old.PaidStatus
	if p.Status != old.Status && !old.Status.CanMove(p.Status) {
		return nil, false, fmt.Errorf("%s to %s: %w", old.Status, p.Status, bridge.ErrPaymentStatus)
	}
	if err := checkPayment(&p); err != nil {
		return nil, false, err
	}
	p.UpdatedAt = s.nowUTC()
	p.NextCheckAt = stamp(p.NextCheckAt)
	if !p.ExpiresAt.IsZero() {
		p.ExpiresAt = stamp(p.ExpiresAt)
	}

	// The notification is queued by the payment's own statement, in the
	// same round trip (writePayment); in a transaction shared by several
	// updates, with theirs at its end.
	var queue *queued
	if notify != nil {
		if notify.OrderID == 0 {
			notify.OrderID = p.OrderID
		}
		q, args, err := s.enqueueStmt(notify)
		if err != nil {
			return nil, false, fmt.Errorf("queue notification: %w", err)
		}
		queue = &queued{q, args}
	}
	var later []any // the notification's row, held back below
	if held != nil && queue != nil {
		later, queue = queue.args, nil
	}
	live := liveSlot(&p)
	leased, err := s.writePayment(ctx, tx, &p, live, cb, queue)
	if isDup(err) && live.Valid && !old.Status.Live() {
		// An expired or cancelled payment got a late partial payment while a
		// newer attempt holds the order's live slot. The money must be
		// recorded; the newer attempt keeps the slot. (The notification, if
		// queued before the payment's statement failed, is queued again: a
		// no-op on its event.)
		s.log.Warn("payment became live while another holds the order's slot",
			"payment_id", p.ID, "order_id", p.OrderID, "status", p.Status)
		leased, err = s.writePayment(ctx, tx, &p, sql.NullInt64{}, cb, queue)
	}
	if err != nil {
		return nil, true, err
	}
	if cb != nil && !leased {
		// Another replica holds the callback now (or the payment row did
		// not change, which leaves the count ambiguous): that it was applied
		// is recorded all the same, without touching the other's lease.
		res, err := tx.ExecContext(ctx, "UPDATE "+s.callbacks+" SET applied_at = ?, reason = ? WHERE id = ? AND applied_at IS NULL",
			dt(p.UpdatedAt), clip(cb.Reason, 255), cb.ID)
		if err != nil {
			return nil, true, fmt.Errorf("record callback %d applied: %w", cb.ID, err)
		}
		n, _ := res.RowsAffected()
		cb.LeaseLost = n == 1
	}
	if later != nil {
		// Queued at the transaction's end, once this update has written
		// everything else: an update that fails holds nothing back.
		held.Add(s.enqueueHead(), enqueueTail, p.OrderID, enqueueRow, later...)
	}
	return &p, false, nil
}

// lockedPayments are the payments of a group of updates, read and locked
// together at the start of their transaction (lockPayments). Each is
// handed out once, to the first update that names it: that update may
// change the row, so an update after it on the same payment reads the row
// again, as does one whose payment the group's read did not find.
type lockedPayments struct {
	byID      map[int64]*bridge.Payment
	byGateway map[[2]string]*bridge.Payment
}

// take returns ref's payment as the group's read found it, once; nil when
// the read did not find it or it was taken before.
func (l *lockedPayments) take(ref bridge.PaymentRef) *bridge.Payment {
	if l == nil {
		return nil
	}
	p := l.byID[ref.ID]
	if ref.ID == 0 {
		p = l.byGateway[[2]string{ref.Gateway, ref.GatewayID}]
	}
	if p != nil {
		delete(l.byID, p.ID)
		delete(l.byGateway, [2]string{p.Gateway, p.GatewayID})
	}
	return p
}

// lockPayments reads and locks, in tx, the payments us name: one statement
// for those named by id and one for those named by the gateway's id (a
// group of callbacks names them by the gateway's id only). The indexes are
// named, as in the updates by id (outbox.go): on a small table the server
// would rather scan it whole, locking every row. Fewer than two updates
// need no group read.
func (s *Store) lockPayments(ctx context.Context, tx *sql.Tx, us []*PaymentUpdate) (*lockedPayments, error) {
	if len(us) < 2 {
		return nil, nil
	}
	var ids, pairs []any
	for _, u := range us {
		switch {
		case u.Ref.ID != 0:
			ids = append(ids, u.Ref.ID)
		case u.Ref.GatewayID != "":
			pairs = append(pairs, u.Ref.Gateway, u.Ref.GatewayID)
		}
	}
	l := &lockedPayments{byID: map[int64]*bridge.Payment{}, byGateway: map[[2]string]*bridge.Payment{}}
	read := func(index, where string, args []any) error {
		ps, err := queryAll(ctx, tx, scanPayment, "SELECT "+paymentCols+" FROM "+s.payments+" FORCE INDEX ("+index+") WHERE "+where+" FOR UPDATE", args...)
		for _, p := range ps {
			l.byID[p.ID] = p
			if p.GatewayID != "" {
				l.byGateway[[2]string{p.Gateway, p.GatewayID}] = p
			}
		}
		return err
	}
	if len(ids) > 0 {
		if err := read("`PRIMARY`", "id IN ("+placeholders(len(ids))+")", ids); err != nil {
			return nil, fmt.Errorf("lock the group's payments: %w", err)
		}
	}
	if len(pairs) > 0 {
		if err := read("gateway_payment", "(gateway, gateway_id) IN ("+strings.TrimSuffix(strings.Repeat("(?, ?), ", len(pairs)/2), ", ")+")", pairs); err != nil {
			return nil, fmt.Errorf("lock the group's payments: %w", err)
		}
	}
	return l, nil
}

// DeferredIn returns the rows held back in tx, a transaction UpdatePayments
// shares among several updates, to be written at its end; nil when tx is
// not one (write at once). An update's Fn adds rows there only for what it
// wrote itself, and before reading an order whose rows are held back
// (Waiting) flushes them.
func (s *Store) DeferredIn(tx *sql.Tx) *mysqlkit.Deferred {
	if d, ok := s.deferred.Load(tx); ok {
		return d.(*mysqlkit.Deferred)
	}
	return nil
}

// OrderPaymentsTx is OrderPayments read inside tx.
func (s *Store) OrderPaymentsTx(ctx context.Context, tx *sql.Tx, orderID int64) ([]*bridge.Payment, error) {
	ps, err := queryAll(ctx, tx, scanPayment, "SELECT "+paymentCols+" FROM "+s.payments+" WHERE order_id = ? ORDER BY id DESC", orderID)
	if err != nil {
		return nil, fmt.Errorf("order %d payments: %w", orderID, err)
	}
	return ps, nil
}

// queued is a notification's INSERT (enqueueStmt) sent with a payment's
// write.
type queued struct {
	stmt string
	args []any
}

// writePayment writes p and, when cb is not nil, records cb applied in the
// same statement (a join on the callback's id and lease); held says whether
// cb's lease was still held, so that it was recorded. A notification to
// queue, when not nil, goes first in the same query (the connection allows
// several statements: cmd/wcbridge's openDB), so that the rows counted are
// still the payment's statement's, the last.
func (s *Store) writePayment(ctx context.Context, tx *sql.Tx, p *bridge.Payment, live sql.NullInt64, cb *bridge.AppliedCallback, queue *queued) (held bool, err error) {
	table, join, set, args := s.payments, "", "", []any{}
	if cb != nil {
		// Every payment write changes updated_at, so the rows changed are
		// the payment and, when the lease still held it, the callback.
		table = s.payments + " p LEFT JOIN " + s.callbacks + " c ON c.id = ? AND c.lease_owner <=> ?"
		join, set = "p.", ", c.applied_at = ?, c.reason = ?, c.attempts = c.attempts + 1, c.lease_until = NULL, c.lease_owner = NULL"
		args = append(args, cb.ID, nullString(cb.Lease))
	}
	q := "UPDATE " + table + " SET " + join + "gateway_id = ?, " + join + "status = ?, " +
		join + "amount = ?, " + join + "currency = ?, " + join + "received = ?, " + join + "received_currency = ?, " +
		join + "gateway_amount = ?, " + join + "gateway_currency = ?, " + join + "gateway_received = ?, " + join + "gateway_received_currency = ?, " + join + "unit_scale = ?, " +
		join + "tx_ref = ?, " + join + "pay_url = ?, " + join + "expires_at = ?, " + join + "updated_at = ?, " +
		join + "applied_status = ?, " + join + "next_check_at = ?, " + join + "due = ?, " + join + "checks = ?, " + join + "last_error = ?, " + join + "live_order_id = ?, " + join + "watch = ?" +
		set + " WHERE " + join + "id = ?"
	args = append(args, nullString(p.GatewayID), string(p.Status),
		p.Amount.Amount, p.Amount.Currency, p.Received.Amount, p.Received.Currency,
		p.GatewayAmount.Amount, p.GatewayAmount.Currency, p.GatewayReceived.Amount, p.GatewayReceived.Currency, nullScale(p.UnitScale),
		clip(p.TxRef, 191), p.PayURL, dt(p.ExpiresAt), dt(p.UpdatedAt),
		string(p.AppliedStatus), dt(p.NextCheckAt), due(p), p.Checks, clip(p.LastError, 1024), live, p.Watch)
	if cb != nil {
		args = append(args, dt(p.UpdatedAt), clip(cb.Reason, 255))
	}
	args = append(args, p.ID)
	if queue != nil {
		q, args = mysqlkit.Statements(queue.stmt, q), append(slices.Clip(queue.args), args...)
	}
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil || cb == nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 2, err
}

// defaultLimit bounds a claim whose caller gave no limit.
const defaultLimit = 100

// ClaimDue leases up to f.Limit payments the reconciler has work on (not
// final, or an application to the order outstanding) whose NextCheckAt is at
// or before f.DueAt (now when zero), oldest first, for lease. A lease is
// taken by one conditional UPDATE, so concurrent claimers get disjoint sets;
// an expired lease can be claimed again. Each payment's Lease names the
// claim; Reschedule releases it.
func (s *Store) ClaimDue(ctx context.Context, owner string, f bridge.PaymentFilter, lease time.Duration) ([]*bridge.Payment, error) {
	dueAt := s.nowUTC()
	if !f.DueAt.IsZero() {
		dueAt = stamp(f.DueAt)
	}
	where := "due = 1 AND next_check_at <= ?"
	args := []any{dt(dueAt)}
	if f.Gateway != "" {
		where += " AND gateway = ?"
		args = append(args, f.Gateway)
	}
	ids, id, err := s.claim(ctx, s.payments, where, args, "next_check_at, id", f.Limit, owner, lease)
	if err != nil || len(ids) == 0 {
		return nil, wrapErr("claim due payments", err)
	}
	in, inArgs := inIDs(ids)
	ps, err := s.queryPayments(ctx, "SELECT "+paymentCols+" FROM "+s.payments+" WHERE "+in+" AND lease_owner = ? ORDER BY next_check_at, id", append(inArgs, id)...)
	if err != nil {
		return nil, fmt.Errorf("claim due payments: %w", err)
	}
	for _, p := range ps {
		p.Lease = id
	}
	return ps, nil
}

// wrapErr prefixes a non-nil err with op.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}

// claim leases up to limit rows (0: defaultLimit) of table matching where
// (with args) and held by nobody to a new lease of owner for d, first in
// order, and returns their ids and the lease. Candidates are found by a
// plain read through an index, which takes no locks, and then leased by
// primary key with the condition checked again under the row locks: a row
// another claimer took meanwhile no longer matches and is skipped. (An
// UPDATE ... ORDER BY ... LIMIT would lock every row it scans and stall the
// writers of those rows while it runs.) The claimed rows are read back by
// primary key and lease: nothing reads the table beyond the due rows.
func (s *Store) claim(ctx context.Context, table, where string, args []any, order string, limit int, owner string, d time.Duration) ([]int64, string, error) {
	return s.claimBy(ctx, table, where, args, order, limit, owner, d, func(ctx context.Context, fn func(ctx context.Context, q execer) error) error {
		return fn(ctx, s.db)
	})
}

// claimBy is claim with the lease written by write (s.db, or an apply's
// commit: writeSoon).
func (s *Store) claimBy(ctx context.Context, table, where string, args []any, order string, limit int, owner string, d time.Duration,
	write func(ctx context.Context, fn func(ctx context.Context, q execer) error) error) ([]int64, string, error) {
	if owner == "" || len(owner) > 64 {
		return nil, "", bridge.Errorf(bridge.EINVALID, "lease owner must have 1 to 64 characters")
	}
	if limit <= 0 {
		limit = defaultLimit
	}
	found, err := queryAll(ctx, s.db, func(r scanner) (int64, error) {
		var id int64
		return id, r.Scan(&id)
	}, claimQuery(table, where, order), append(append([]any{}, args...), limit)...)
	if err != nil || len(found) == 0 {
		return nil, "", err
	}
	where += " AND " + leaseFree
	lease := bridge.NewLease(owner)
	in, inArgs := inIDs(found)
	// By primary key, named: on a small table the server may scan it whole
	// instead, and lock (and wait for) every row it passes, among them rows
	// other transactions are inserting, which are none of its business.
	qs := "UPDATE " + table + " FORCE INDEX (`PRIMARY`) SET lease_owner = ?, lease_until = " + leaseEnd(d) + " WHERE " + in + " AND " + where
	qargs := append(append([]any{lease}, inArgs...), args...)
	var n int64
	err = write(ctx, func(ctx context.Context, q execer) error {
		retries := 2
		if inTx(q) {
			retries = 0 // a deadlock rolled the transaction back: its owner runs it again
		}
		var res sql.Result
		if err := mysqlkit.Retry(ctx, retries, func() (err error) {
			res, err = q.ExecContext(ctx, qs, qargs...)
			return err
		}); err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return nil, "", dbError(err)
	}
	if n == 0 {
		return nil, "", nil // others took them all
	}
	return found, lease, nil
}

// claimQuery is the SELECT with which a claim finds its candidates: the rows
// matching where that nobody holds, in order, at most a limit of them (the
// last parameter).
func claimQuery(table, where, order string) string {
	return "SELECT id FROM " + table + " WHERE " + where + " AND " + leaseFree + " ORDER BY " + order + " LIMIT ?"
}

// Reschedule writes the reconciler's plans, grouped so that payments with
// the same next check, error, outcome and lease share one statement (usually
// one for a whole pass). A failed look counts one more consecutive failure;
// any other resets the count. A payment whose lease is no longer the plan's
// (it ran out and another replica claimed the payment) is left alone.
func (s *Store) Reschedule(ctx context.Context, plans []bridge.Reschedule) error {
	type key struct {
		next   time.Time
		err    string
		failed bool
		lease  string
	}
	groups := map[key][]int64{}
	var order []key
	for _, p := range plans {
		k := key{stamp(p.NextCheckAt), clip(p.LastError, 1024), p.Failed, p.Lease}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], p.ID)
	}
	for _, k := range order {
		failures := "0"
		if k.failed {
			failures = "failures + 1"
		}
		q := "UPDATE " + s.payments + " FORCE INDEX (`PRIMARY`) SET next_check_at = ?, checks = checks + 1, failures = " + failures + ", lease_owner = NULL, lease_until = NULL"
		args := []any{dt(k.next)}
		if k.err != "" {
			q += ", last_error = ?"
			args = append(args, k.err)
		}
		in, inArgs := inIDs(groups[k])
		q += " WHERE lease_owner = ? AND " + in
		args = append(append(args, k.lease), inArgs...)
		if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("reschedule payments: %w", dbError(err))
		}
	}
	return nil
}

// PaymentProblems counts, per gateway, the payments the reconciler still
// has work on (due) whose last error is set, with the latest of them.
func (s *Store) PaymentProblems(ctx context.Context) (map[string]bridge.PaymentProblem, error) {
	type row struct {
		gateway string
		bridge.PaymentProblem
	}
	rows, err := queryAll(ctx, s.db, func(r scanner) (row, error) {
		var x row
		var at dbTime
		err := r.Scan(&x.gateway, &x.Count, &x.PaymentID, &x.OrderID, &x.Error, &at)
		x.At = at.Time
		return x, err
	}, "SELECT p.gateway, c.n, p.id, p.order_id, p.last_error, p.updated_at FROM "+s.payments+" p JOIN (SELECT gateway, COUNT(*) n, MAX(id) last FROM "+s.payments+
		" WHERE due = 1 AND last_error <> '' GROUP BY gateway) c ON c.last = p.id")
	if err != nil {
		return nil, fmt.Errorf("payment problems: %w", err)
	}
	out := make(map[string]bridge.PaymentProblem, len(rows))
	for _, x := range rows {
		out[x.gateway] = x.PaymentProblem
	}
	return out, nil
}
