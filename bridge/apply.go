package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Recording what a gateway reported: the payment's new state, the change to
// its order and the notification, in one transaction (the Applier). The call
// chain: RecordGatewayState (the reconciler, a recheck) or a callback ->
// recordReport -> updateOrder (outcome.go) -> the Applier's OrderTx;
// catchUpOrder re-runs it for a payment whose order missed its status.

// Applier applies what a gateway reported in one database transaction: the
// payment's new state, the change to its WooCommerce order, the notification
// for WordPress and the callback that brought the report are committed
// together or not at all, with one commit.
type Applier interface {
	// ApplyPayment reads the payment ref names under a row lock
	// (ErrPaymentNotFound when there is none) and calls fn with a copy and
	// the orders of the same transaction. Unless fn fails, the copy
	// is written back (a status change CanMove refuses is ErrPaymentStatus,
	// as with Payments.UpdatePayment), fn's notification is queued, cb (when
	// not nil) is recorded applied with cb.Reason, and the transaction
	// commits. When the server picks the transaction as a deadlock victim or
	// a lock wait times out, everything is rolled back and fn runs again in
	// a new transaction (a few times). ID, OrderID, Gateway, OrderRef,
	// CreatedAt and PaidStatus cannot be changed.
	ApplyPayment(ctx context.Context, ref PaymentRef, cb *AppliedCallback, fn ApplyFunc) (*Payment, error)
}

// PaymentRef names a payment: by ID, or, when ID is 0, by the gateway's id
// for it.
type PaymentRef struct {
	ID        int64
	Gateway   string
	GatewayID string
}

// ApplyFunc changes p inside an Applier's transaction, where tx reads and
// writes orders, and returns the notification to queue (nil: none).
type ApplyFunc func(ctx context.Context, tx OrderTx, p *Payment) (*Notification, error)

// OrderTx is what applying a report does to orders and reads of payments,
// inside the Applier's transaction. An ApplyOrder refused with ErrOrderStatus
// or ErrPaymentMethod has written nothing.
type OrderTx interface {
	Order(ctx context.Context, id int64) (*Order, error)
	ApplyOrder(ctx context.Context, u OrderUpdate) (*OrderResult, error)
	OrderPayments(ctx context.Context, orderID int64) ([]*Payment, error)
}

// AppliedCallback is the recorded callback whose report an ApplyPayment
// applies, marked applied in the same transaction. As with
// Callbacks.FinishCallback, the lease is checked: when another replica took
// the callback meanwhile, only the fact that it was applied is recorded and
// LeaseLost is set.
type AppliedCallback struct {
	ID     int64
	Lease  string
	Reason string // set by the ApplyFunc: what applying it did
	// LeaseLost is set by ApplyPayment when the lease was no longer held.
	LeaseLost bool

	recorded bool // the transaction that recorded it committed
}

// RecordGatewayState records what the gateway reported for the payment p
// (a recent read; it is re-read under lock) and, when its status moved,
// updates the order, marks the payment applied and queues the
// notification for WordPress, all in one transaction. Safe to call
// concurrently and repeatedly with the same report: statuses only move
// forward and the order update is idempotent by event id.
func (s *Service) RecordGatewayState(ctx context.Context, p *Payment, st *GatewayState) (*Payment, error) {
	return s.recordReport(ctx, PaymentRef{ID: p.ID}, p, st, true, nil)
}

// errNotKnownYet aborts applying a report that says the gateway does not
// know the payment yet while it may still be paid (notKnownYet).
var errNotKnownYet = errors.New("payment not known to the gateway's status API yet")

// recordReport is RecordGatewayState for the payment ref names (by id or
// by the gateway's id), with the callback that brought the report. p is a
// recent read of it, or nil when it was not read: then it is looked at only under lock, a
// report that changes nothing writes nothing (the payment is returned as
// read), and one that says the gateway does not know the payment yet is
// refused with errNotKnownYet. fresh is false when st is the payment's own
// status re-applied (catchUpOrder), which says nothing new about what the
// shop should look at or whether to keep polling. cb, when not nil, is the
// callback that brought st: it is recorded applied in the same transaction
// (cb.recorded says it was).
func (s *Service) recordReport(ctx context.Context, ref PaymentRef, p *Payment, st *GatewayState, fresh bool, cb *AppliedCallback) (*Payment, error) {
	policy := s.Policy()
	now := s.now()
	merge := func(q *Payment) {
		st := rescale(q, st)
		next, received := policy.Classify(q.Amount, st)
		if st.TxRef != "" {
			q.TxRef = st.TxRef
		}
		if q.GatewayID == "" && st.GatewayID != "" {
			q.GatewayID = st.GatewayID
		}
		if !st.Received.IsZero() {
			q.GatewayReceived = st.Received
		}
		if !st.Amount.IsZero() {
			q.GatewayAmount = st.Amount
		}
		if received.IsZero() && next == PaymentPaid {
			// The gateway vouches that the amount asked arrived without
			// saying how much: at least that much.
			received = q.Amount
		}
		if !received.IsZero() && (q.Received.IsZero() || received.Amount.GreaterThan(q.Received.Amount)) {
			q.Received = received
		}
		if next == PaymentPending && q.Status == PaymentPending && !q.ExpiresAt.IsZero() && now.After(q.ExpiresAt.Add(ExpiryGrace)) {
			next = PaymentExpired // the gateway still says pending long after expiry
		}
		if notKnownYet(q, st, now) {
			next = q.Status // the gateway does not know it yet: look again
		}
		if q.Status.CanMove(next) {
			q.Status = next
		}
		if fresh {
			q.LastError, q.Watch = st.NotCounted, st.KeepPolling && q.Status.Final()
			if q.LastError == "" {
				q.LastError = st.Attention
			}
		}
	}
	if p != nil {
		want := *p
		merge(&want)
		if !want.ApplyDue() && samePayment(&want, p) {
			return p, nil // nothing new: no write
		}
	}
	// errNothingNew rolls back a transaction that found nothing to write.
	errNothingNew := errors.New("nothing new")
	// What the transaction did, for the log lines once it committed (fn
	// may run more than once: each run starts afresh).
	var (
		before  Payment // as read under lock
		res     *OrderResult
		applied PaymentStatus // the status applied to the order, if any
	)
	updated, err := s.Applier.ApplyPayment(ctx, ref, cb, func(ctx context.Context, tx OrderTx, q *Payment) (*Notification, error) {
		res, applied = nil, ""
		old := *q
		before = old
		if p == nil && notKnownYet(q, st, now) {
			return nil, errNotKnownYet
		}
		merge(q)
		if p == nil && !q.ApplyDue() && samePayment(q, &old) {
			return nil, errNothingNew
		}
		if cb != nil {
			cb.Reason = fmt.Sprintf("applied: payment %s", q.Status)
		}
		var u OrderUpdate
		var err error
		switch {
		case q.ApplyDue():
			u, res, err = s.updateOrder(ctx, tx, q, old.Status, policy)
		case fresh && st.NotCounted != "" && old.LastError != st.NotCounted:
			u, res, err = s.noteNotCounted(ctx, tx, q)
		}
		if errors.Is(err, ErrSuperseded) {
			// A later status of the payment has reached the order, though
			// not its row (written before both went in one transaction):
			// this report is older than what the order knows and changes
			// nothing, neither the order nor the payment.
			s.Logger.Info("stale report not applied: a later status of the payment has reached the order",
				"order_id", q.OrderID, "payment_id", q.ID, "gateway", q.Gateway, "status", q.Status)
			return nil, errNothingNew
		}
		if err != nil || res == nil {
			return nil, err
		}
		if q.ApplyDue() {
			q.AppliedStatus, applied = q.Status, q.Status
		}
		if !res.Changed && res.NoteID == 0 && !res.Duplicate {
			return nil, nil
		}
		return s.notification(q, u, res), nil
	})
	switch {
	case errors.Is(err, errNothingNew):
		return &before, nil
	case err != nil && p != nil:
		return p, fmt.Errorf("apply state to payment %d: %w", p.ID, err)
	case err != nil:
		return nil, fmt.Errorf("apply state to payment %s %s: %w", ref.Gateway, ref.GatewayID, err)
	}
	if cb != nil {
		cb.recorded = true
	}
	if applied != "" && !res.Duplicate && (res.Changed || res.NoteID != 0) {
		// One line per outcome that reached an order: what a shop owner
		// looks for when a customer asks about an order.
		s.Logger.Info("outcome applied", "order_id", updated.OrderID, "gateway", updated.Gateway, "payment_id", updated.ID,
			"gateway_payment_id", updated.GatewayID, "status", updated.Status, "order_status", res.To,
			"amount", updated.Amount.String(), "received", updated.Received.String())
	}
	if before.UnitScale == 0 && st.UnitScale != 0 && updated.UnitScale != st.UnitScale {
		s.Logger.Warn("payment created at an earlier unit scale keeps it", "order_id", updated.OrderID, "payment_id", updated.ID, "gateway", updated.Gateway,
			"gateway_payment_id", updated.GatewayID, "unit_scale", updated.UnitScale, "configured_unit_scale", st.UnitScale,
			"asked", updated.GatewayAmount.String())
	}
	if before.Status == PaymentFailed && updated.Status.Money() {
		s.Logger.Warn("money arrived on a payment whose creation had failed; applied to its order",
			"order_id", updated.OrderID, "payment_id", updated.ID, "gateway", updated.Gateway, "gateway_payment_id", updated.GatewayID,
			"status", updated.Status, "received", updated.Received.String())
	}
	if applied != "" && s.OnOutcome != nil {
		s.OnOutcome(updated.Gateway, applied)
	}
	return updated, nil
}

// rescale returns st with its amounts read at the unit scale q was created
// with. A payment keeps its scale (no amount is reinterpreted silently when
// the configuration changes): a report read at scale S is shifted by S-P
// for a payment of scale P. A payment created before scales were recorded
// gets the scale its own recorded amount implies (the asked amount it
// stored, compared with the same integer units read at S) and keeps it.
func rescale(q *Payment, st *GatewayState) *GatewayState {
	if st.UnitScale == 0 {
		return st
	}
	if q.UnitScale == 0 {
		q.UnitScale = st.UnitScale
		if k, ok := powerOfTen(q.GatewayAmount, st.Amount); ok {
			q.UnitScale = st.UnitScale - k
		}
	}
	shift := int32(st.UnitScale - q.UnitScale)
	if shift == 0 {
		return st
	}
	c := *st
	c.UnitScale = q.UnitScale
	c.Amount.Amount = st.Amount.Amount.Shift(shift)
	c.Received.Amount = st.Received.Amount.Shift(shift)
	return &c
}

// powerOfTen returns k when a = b × 10^k exactly, both non-zero and in the
// same currency.
func powerOfTen(a, b Money) (int, bool) {
	if a.Currency == "" || a.Currency != b.Currency || !a.Amount.IsPositive() || !b.Amount.IsPositive() {
		return 0, false
	}
	for k := -36; k <= 36; k++ {
		if b.Amount.Shift(int32(k)).Equal(a.Amount) {
			return k, true
		}
	}
	return 0, false
}

// samePayment reports whether a and b agree on what a gateway report can change.
func samePayment(a, b *Payment) bool {
	same := func(x, y Money) bool { return x.Currency == y.Currency && x.Amount.Equal(y.Amount) }
	return a.Status == b.Status && a.TxRef == b.TxRef && a.GatewayID == b.GatewayID && a.LastError == b.LastError && a.UnitScale == b.UnitScale && a.Watch == b.Watch &&
		same(a.Received, b.Received) && same(a.GatewayReceived, b.GatewayReceived) && same(a.GatewayAmount, b.GatewayAmount)
}

// ExpiryGrace is how long after its expiry a payment the gateway still calls
// pending, or does not know (NotFound), is taken to have expired: clocks and
// the gateway's hosts need not agree to the second.
const ExpiryGrace = 2 * time.Minute

// notKnownYet reports whether st says the gateway does not know q while q
// may still be paid: before its expiry plus ExpiryGrace, a "not found" (an
// id the status host does not know yet) means "look again", not "expired".
// The expiry is the gateway's own where it states one, else the payment's.
func notKnownYet(q *Payment, st *GatewayState, now time.Time) bool {
	if !st.NotFound {
		return false
	}
	expiry := q.ExpiresAt
	if !st.ExpiresAt.IsZero() {
		expiry = st.ExpiresAt
	}
	return expiry.IsZero() || now.Before(expiry.Add(ExpiryGrace))
}

// catchUpOrder brings the order of a payment whose status has not reached
// it yet (a failure left it unapplied) up to that status, then marks the
// payment applied.
func (s *Service) catchUpOrder(ctx context.Context, p *Payment) (*Payment, error) {
	return s.recordReport(ctx, PaymentRef{ID: p.ID}, p, &GatewayState{Status: p.Status}, false, nil)
}
