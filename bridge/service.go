package bridge

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"
)

// Gateways gives the currently configured gateways; the set can change at
// run time when the shop owner edits settings in WordPress.
type Gateways interface {
	// Gateway returns the named gateway: ErrUnknownGateway for a name that is
	// not one of ours, ErrGatewayDisabled when it is not enabled.
	Gateway(name string) (Gateway, error)
	// Names lists every gateway name wcbridge knows, enabled or not.
	Names() []string
}

// Notifier delivers a notification to WordPress; an error means "retry".
type Notifier interface {
	Notify(ctx context.Context, n *Notification) error
}

// BatchNotifier is a Notifier that can also deliver many notifications in
// one request (the plugin's notify endpoint takes a batch).
type BatchNotifier interface {
	// NotifyBatch sends ns in one request and returns one error per
	// notification: nil for each WordPress finished (or had finished). A
	// failure of the request as a whole is every notification's error; a
	// plugin that takes no batches gives ErrBatchUnsupported.
	NotifyBatch(ctx context.Context, ns []*Notification) []error
}

// PaymentMethodPrefix is prepended to a gateway's name to form the
// WooCommerce payment method id the plugin registers.
const PaymentMethodPrefix = "wcbridge_"

// Service is the bridge's use cases: start a checkout, apply what a gateway
// reports to the payment and the order exactly once, reconcile payments the
// callbacks missed, and deliver notifications to WordPress.
type Service struct {
	Orders   Orders
	Payments Payments
	// Applier applies gateway reports, each in one transaction with its
	// order change, notification and callback.
	Applier   Applier
	Callbacks Callbacks
	Outbox    Outbox
	Gateways  Gateways
	Notifier  Notifier
	Policy    func() Policy
	Now       func() time.Time
	Logger    *slog.Logger
	// Owner names this replica in leases (hostname + random suffix).
	Owner string
	// CheckDelay spaces the reconciler's looks at a payment by its age
	// (default: every 15s while young, up to hourly once a day old).
	CheckDelay func(age time.Duration) time.Duration
	// CreateTimeout bounds a checkout's call to the gateway (default
	// DefaultCreateTimeout). It must end before the plugin stops waiting for
	// the sidecar (10 seconds), so the customer always gets an answer.
	CreateTimeout time.Duration
	// OnOutcome, when set, is told each payment status applied to an order
	// (metrics).
	OnOutcome func(gateway string, status PaymentStatus)
	// Titles names a gateway in order notes by its display title; default
	// (or "") its short name.
	Titles func(gateway string) string
	// Rejections keeps refused callbacks in memory (default: one log line
	// per gateway per minute).
	Rejections *Rejections
	// CallbackWorkers, Notifiers and NotificationBatch bound the work done
	// at once: callbacks confirmed and applied (DefaultCallbackWorkers),
	// requests to WordPress in flight (DefaultNotifiers) and events per
	// request (DefaultNotificationBatch). WorkerConfig may override them.
	CallbackWorkers   int
	Notifiers         int
	NotificationBatch int
	// LeaseFor is how long a replica holds what it claims (default 30s);
	// NotifyBudget the longest a request to WordPress may take
	// (DefaultNotifyBudget), which a lease must still cover when it starts.
	LeaseFor     time.Duration
	NotifyBudget time.Duration

	// Callback work handed from the HTTP handler to the workers; when it is
	// full, the periodic sweep picks the callback up from the database.
	queue chan *Callback
	kick  chan struct{}
	sweep chan struct{}
	// callbackWorkers is WorkerConfig.CallbackWorkers once Run started.
	callbackWorkers *atomic.Int64
	notifyWorkers   *atomic.Int64
	notifyBatch     *atomic.Int64
	noBatchesUntil  *atomic.Int64 // unix ns: notifications go one by one until then
	confirming      *confirmers
	lag             *atomic.Int64 // nanoseconds the last reconcile pass ran behind schedule
	backlog         *atomic.Int64
	backlogAt       time.Time    // when backlog was last counted (delivery loop only)
	wpDown          *atomic.Bool // WordPress failed to answer the last notification tried
}

// OutboxBacklog is the number of undelivered notifications at the last pass.
func (s *Service) OutboxBacklog() int64 { return s.backlog.Load() }

// ReconcileLag is how far behind schedule the last reconcile pass found the
// most overdue payment.
func (s *Service) ReconcileLag() time.Duration { return time.Duration(s.lag.Load()) }

// NewService returns a Service with its defaults filled in.
func NewService(s Service) *Service {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Policy == nil {
		s.Policy = DefaultPolicy
	}
	if s.CheckDelay == nil {
		s.CheckDelay = checkDelay
	}
	if s.CreateTimeout <= 0 {
		s.CreateTimeout = DefaultCreateTimeout
	}
	if s.Owner == "" {
		s.Owner = "wcbridge-" + randomHex(4)
	}
	if s.Rejections == nil {
		s.Rejections = NewRejections(time.Minute)
	}
	s.queue = make(chan *Callback, 1024)
	s.kick = make(chan struct{}, 1)
	s.sweep = make(chan struct{}, 1)
	s.callbackWorkers = new(atomic.Int64)
	s.confirming = &confirmers{by: map[string]*confirmBatches{}}
	s.notifyWorkers = new(atomic.Int64)
	s.notifyBatch = new(atomic.Int64)
	s.callbackWorkers.Store(int64(s.CallbackWorkers))
	s.notifyWorkers.Store(int64(s.Notifiers))
	s.notifyBatch.Store(int64(s.NotificationBatch))
	s.noBatchesUntil = new(atomic.Int64)
	s.lag = new(atomic.Int64)
	s.backlog = new(atomic.Int64)
	s.wpDown = new(atomic.Bool)
	return &s
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func (s *Service) now() time.Time { return s.Now().UTC() }

// CheckoutRequest is the plugin's request to pay an order with a gateway.
type CheckoutRequest struct {
	OrderID   int64
	Gateway   string
	OrderKey  string
	ReturnURL string
	CancelURL string
	// PaidStatus is what the shop's woocommerce_payment_complete_order_status
	// filter gives this order (StatusProcessing or StatusCompleted); "" when
	// the plugin did not say.
	PaidStatus string
}

// CheckoutResult is where to send the customer.
type CheckoutResult struct {
	Payment     *Payment
	RedirectURL string
	Reused      bool
	HoldUntil   time.Time
}

// creatingTimeout is how long a payment may sit in "creating" before it is
// taken to have failed (the process died during the gateway call).
const creatingTimeout = 2 * time.Minute

// DefaultCreateTimeout is how long a checkout waits for the gateway to
// create a payment: 2 seconds less than the plugin waits for the sidecar
// (10 seconds, plugin-php/includes/class-gateway.php), which leaves time to
// record the outcome and answer.
const DefaultCreateTimeout = 8 * time.Second

// recordTimeout bounds the database write that records a creation's
// outcome, which runs even when the caller has gone.
const recordTimeout = 10 * time.Second

// StartCheckout returns the order's live payment for the gateway or creates
// one. It never creates a second live payment for an order.
func (s *Service) StartCheckout(ctx context.Context, r CheckoutRequest) (*CheckoutResult, error) {
	gw, err := s.Gateways.Gateway(r.Gateway)
	if err != nil {
		return nil, err
	}
	order, err := s.Orders.Order(ctx, r.OrderID)
	if err != nil {
		return nil, err
	}
	if err := checkOrderPayable(order, r); err != nil {
		return nil, err
	}
	if caps := gw.Capabilities(); len(caps.Currencies) > 0 && !contains(caps.Currencies, order.Currency) {
		return nil, &Error{Code: EUNSUPPORTED, Message: fmt.Sprintf("%s does not accept %s", r.Gateway, order.Currency), Err: ErrCurrency}
	}
	policy := s.Policy()

	for attempt := 0; attempt < 3; attempt++ {
		live, err := s.livePayment(ctx, order.ID)
		if err != nil {
			return nil, err
		}
		if live != nil {
			res, retry, err := s.reuseOrRetire(ctx, live, r.Gateway, policy)
			if err != nil || res != nil {
				return res, err
			}
			if retry {
				continue
			}
		}
		now := s.now()
		p := &Payment{
			OrderID:     order.ID,
			Gateway:     r.Gateway,
			Reference:   fmt.Sprintf("wc%d-%s", order.ID, randomHex(6)),
			Status:      PaymentCreating,
			Amount:      Money{Amount: order.Total, Currency: order.Currency},
			ExpiresAt:   now.Add(policy.Lifetime),
			NextCheckAt: now.Add(creatingTimeout),
			PaidStatus:  r.PaidStatus,
		}
		created, err := s.Payments.CreatePayment(ctx, p)
		if errors.Is(err, ErrLivePayment) {
			continue // another request won the slot: reuse its payment
		} else if err != nil {
			return nil, fmt.Errorf("create payment: %w", err)
		}
		return s.createAtGateway(ctx, gw, order, created, r, policy)
	}
	return nil, ErrBeingCreated
}

func checkOrderPayable(o *Order, r CheckoutRequest) error {
	if o.Type != "shop_order" {
		return ErrOrderType
	}
	if r.OrderKey == "" || subtle.ConstantTimeCompare([]byte(o.OrderKey), []byte(r.OrderKey)) != 1 {
		return &Error{Code: ENOTFOUND, Message: "order not found", Err: errors.New("order key mismatch")}
	}
	if o.PaymentMethod != PaymentMethodPrefix+r.Gateway {
		return &Error{Code: ECONFLICT, Message: fmt.Sprintf("order %d is to be paid with %q, not %s", o.ID, o.PaymentMethod, r.Gateway), Err: ErrPaymentMethod}
	}
	switch r.PaidStatus {
	case "", StatusProcessing, StatusCompleted:
	default:
		return &Error{Code: EINVALID, Message: "invalid checkout request", Fields: map[string]string{"paid_status": "must be processing or completed"}}
	}
	switch o.Status {
	case StatusPending, StatusFailed, StatusCheckoutDraft, StatusOnHold:
	default:
		return &Error{Code: ECONFLICT, Message: fmt.Sprintf("order %d is %s and needs no payment", o.ID, o.Status), Err: ErrOrderStatus}
	}
	if !o.Total.IsPositive() {
		return &Error{Code: EINVALID, Message: fmt.Sprintf("order %d has nothing to pay", o.ID)}
	}
	return nil
}

// livePayment returns the order's payment that holds the live slot, if any.
func (s *Service) livePayment(ctx context.Context, orderID int64) (*Payment, error) {
	ps, err := s.Payments.OrderPayments(ctx, orderID)
	if err != nil {
		return nil, err
	}
	return livePaymentOf(ps), nil
}

// livePaymentOf returns the payment of ps that holds the live slot, if any.
func livePaymentOf(ps []*Payment) *Payment {
	for _, p := range ps {
		if p.Status.Live() {
			return p
		}
	}
	return nil
}

// reuseOrRetire decides what to do with the order's live payment at a new
// checkout: reuse it, or retire it (expired, superseded, stale creation) so
// a new one can be made (retry=true).
func (s *Service) reuseOrRetire(ctx context.Context, live *Payment, gateway string, policy Policy) (*CheckoutResult, bool, error) {
	now := s.now()
	switch {
	case live.Status == PaymentCreating && now.Sub(live.CreatedAt) < creatingTimeout:
		return nil, false, ErrBeingCreated
	case live.Status == PaymentCreating:
		_, err := s.Payments.UpdatePayment(ctx, live.ID, func(p *Payment) (*Notification, error) {
			p.Status, p.LastError = PaymentFailed, "creation did not finish"
			return nil, nil
		})
		return nil, true, ignoreStatusConflict(err)
	case live.Status == PaymentUnderpaid:
		// Money has arrived on this payment: the customer tops it up there,
		// whatever gateway they picked now.
		return s.checkoutResult(live, true, policy), false, nil
	case live.Gateway == gateway && live.PayURL != "" && live.ExpiresAt.After(now.Add(time.Minute)):
		return s.checkoutResult(live, true, policy), false, nil
	}
	// Expired, or the customer switched gateway: retire the old payment. It
	// stays watched, so a late payment on it still counts; where the gateway
	// can, it is cancelled there so it cannot be paid any more.
	if !live.ExpiresAt.After(now) {
		_, err := s.retire(ctx, live, PaymentExpired)
		return nil, true, err
	}
	s.cancelAtGateway(ctx, live, "the customer chose another payment")
	_, err := s.retire(ctx, live, PaymentCancelled)
	return nil, true, err
}

// retire takes a live payment out of its order's live slot as next (expired
// or cancelled) without telling the order; the reconciler keeps watching it,
// so money that still arrives counts as a late payment.
func (s *Service) retire(ctx context.Context, p *Payment, next PaymentStatus) (*Payment, error) {
	now := s.now()
	q, err := s.Payments.UpdatePayment(ctx, p.ID, func(q *Payment) (*Notification, error) {
		if !q.Status.Live() {
			return nil, nil
		}
		q.Status = next
		q.AppliedStatus = next // the order is not told
		q.NextCheckAt = now
		return nil, nil
	})
	return q, ignoreStatusConflict(err)
}

// cancelAtGateway makes a payment that nobody should pay any more unpayable
// where the gateway allows it (a Canceler). Best effort: a failure (the
// payment received money meanwhile, the gateway is down) leaves the payment
// watched, and whatever arrives on it is applied as a late payment.
func (s *Service) cancelAtGateway(ctx context.Context, p *Payment, why string) {
	if p.GatewayID == "" || p.Status != PaymentPending {
		return
	}
	gw, err := s.Gateways.Gateway(p.Gateway)
	if err != nil {
		return
	}
	c, ok := gw.(Canceler)
	if !ok {
		return
	}
	if err := c.CancelPayment(ctx, p.GatewayID); err != nil {
		s.Logger.Warn("cancelling the payment at the gateway failed; it stays watched", "order_id", p.OrderID, "payment_id", p.ID, "gateway", p.Gateway, "reason", why, "err", err)
		return
	}
	s.Logger.Info("payment cancelled at the gateway", "order_id", p.OrderID, "payment_id", p.ID, "gateway", p.Gateway, "reason", why)
}

// CancelOrderPayments is WordPress saying the order will not be paid through
// wcbridge any more (the shop or WooCommerce cancelled it, or it was
// switched to another payment method): its pending payments are cancelled
// at the gateway where the gateway allows it and retired without touching
// the order. A payment that has received money (underpaid) stays live: the
// rest may still arrive and must be accounted for.
func (s *Service) CancelOrderPayments(ctx context.Context, orderID int64) (*OrderPaymentView, error) {
	ps, err := s.Payments.OrderPayments(ctx, orderID)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if p.Status != PaymentPending {
			continue
		}
		s.cancelAtGateway(ctx, p, "wordpress no longer expects it")
		if _, err := s.retire(ctx, p, PaymentCancelled); err != nil {
			return nil, err
		}
	}
	return s.OrderPayment(ctx, orderID)
}

func ignoreStatusConflict(err error) error {
	if errors.Is(err, ErrPaymentStatus) {
		return nil
	}
	return err
}

func (s *Service) checkoutResult(p *Payment, reused bool, policy Policy) *CheckoutResult {
	return &CheckoutResult{Payment: p, RedirectURL: p.PayURL, Reused: reused, HoldUntil: p.ExpiresAt.Add(policy.LatePaymentGrace)}
}

// createAtGateway asks the gateway for the payment reserved in p.
func (s *Service) createAtGateway(ctx context.Context, gw Gateway, o *Order, p *Payment, r CheckoutRequest, policy Policy) (*CheckoutResult, error) {
	gctx, cancel := context.WithTimeout(ctx, s.CreateTimeout)
	defer cancel()
	gp, gerr := gw.CreatePayment(gctx, CreatePaymentRequest{
		OrderID:     o.ID,
		Reference:   p.Reference,
		Amount:      p.Amount,
		Email:       o.BillingEmail,
		Description: fmt.Sprintf("Order #%d", o.ID),
		ReturnURL:   r.ReturnURL,
		CancelURL:   r.CancelURL,
		Lifetime:    policy.Lifetime,
	})
	now := s.now()
	// The outcome is recorded even when the caller has gone (the plugin gave
	// up, the customer left): a payment left creating would answer every new
	// checkout of the order with "being created" until creatingTimeout.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer wcancel()
	updated, err := s.Payments.UpdatePayment(wctx, p.ID, func(q *Payment) (*Notification, error) {
		if gerr != nil {
			q.Status, q.LastError = PaymentFailed, truncate(gerr.Error(), 250)
			return nil, nil
		}
		if q.Status != PaymentCreating {
			// A callback got here first (it can arrive before the answer).
			q.GatewayID, q.PayURL = gp.GatewayID, gp.URL
			if q.UnitScale == 0 {
				q.UnitScale = gp.UnitScale
			}
			return nil, nil
		}
		q.Status = PaymentPending
		q.GatewayID, q.PayURL = gp.GatewayID, gp.URL
		if !gp.ExpiresAt.IsZero() {
			q.ExpiresAt = gp.ExpiresAt.UTC()
		}
		q.GatewayAmount, q.UnitScale = gp.Amount, gp.UnitScale
		q.NextCheckAt = now.Add(s.CheckDelay(0))
		return nil, nil
	})
	if gerr != nil {
		s.Logger.Warn("gateway refused payment creation", "order_id", o.ID, "payment_id", p.ID, "gateway", gw.Name(), "err", gerr)
		return nil, gerr
	}
	if err != nil {
		// The payment exists at the gateway but we could not record its id:
		// the reconciler cannot find it; the customer may retry.
		return nil, fmt.Errorf("record created payment: %w", err)
	}
	s.Logger.Info("payment created", "order_id", o.ID, "payment_id", updated.ID, "gateway", gw.Name(), "gateway_payment_id", updated.GatewayID)
	return s.checkoutResult(updated, false, policy), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// ApplyState records what the gateway reported for the payment p (a recent
// read; it is re-read under lock) and, when its status moved, applies the
// outcome to the order, marks the payment applied and queues the
// notification for WordPress, all in one transaction. Safe to call
// concurrently and repeatedly with the same report: statuses only move
// forward and the order update is idempotent by event id.
func (s *Service) ApplyState(ctx context.Context, p *Payment, st *GatewayState) (*Payment, error) {
	return s.applyState(ctx, PaymentRef{ID: p.ID}, p, st, true, nil)
}

// errNotKnownYet aborts applying a report that says the gateway does not
// know the payment yet while it may still be paid (notKnownYet).
var errNotKnownYet = errors.New("payment not known to the gateway's status API yet")

// applyState is ApplyState for the payment ref names. p is a recent read of
// it, or nil when it was not read: then it is looked at only under lock, a
// report that changes nothing writes nothing (the payment is returned as
// read), and one that says the gateway does not know the payment yet is
// refused with errNotKnownYet. fresh is false when st is the payment's own
// status re-applied (applyToOrder), which says nothing new about what the
// shop should look at or whether to keep polling. cb, when not nil, is the
// callback that brought st: it is recorded applied in the same transaction
// (cb.recorded says it was).
func (s *Service) applyState(ctx context.Context, ref PaymentRef, p *Payment, st *GatewayState, fresh bool, cb *AppliedCallback) (*Payment, error) {
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
			u, res, err = s.applyOrder(ctx, tx, q, old.Status, policy)
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

// applyToOrder applies a payment whose status has not reached its order
// yet (a failure left it unapplied), then marks it applied.
func (s *Service) applyToOrder(ctx context.Context, p *Payment) (*Payment, error) {
	return s.applyState(ctx, PaymentRef{ID: p.ID}, p, &GatewayState{Status: p.Status}, false, nil)
}

// noteNotCounted tells the shop, once per payment, that the gateway reported
// money that does not count (st.NotCounted, kept in p.LastError).
func (s *Service) noteNotCounted(ctx context.Context, tx OrderTx, p *Payment) (OrderUpdate, *OrderResult, error) {
	u := OrderUpdate{
		OrderID:       p.OrderID,
		Outcome:       OutcomeNote,
		EventID:       fmt.Sprintf("wcbridge:%d:not-counted", p.ID),
		PaymentMethod: PaymentMethodPrefix + p.Gateway,
		Note:          fmt.Sprintf("%s payment %s: %s.", s.gatewayTitle(p.Gateway), p.GatewayID, p.LastError),
	}
	s.Logger.Warn("gateway reported a payment that does not count", "order_id", p.OrderID, "payment_id", p.ID, "gateway", p.Gateway, "reason", p.LastError)
	res, err := tx.ApplyOrder(ctx, u)
	switch {
	case errors.Is(err, ErrPaymentMethod), errors.Is(err, ErrOrderStatus):
		return u, nil, nil // the order moved on; the payment's last error still says it
	case err != nil:
		return u, nil, fmt.Errorf("note on order %d: %w", p.OrderID, err)
	}
	return u, res, nil
}

// applyOrder writes p's status to its WooCommerce order; prev is p's status
// before the report being applied. A nil result means the order was not to
// be touched (or its status does not allow it); the payment is then marked
// applied all the same.
func (s *Service) applyOrder(ctx context.Context, tx OrderTx, p *Payment, prev PaymentStatus, policy Policy) (OrderUpdate, *OrderResult, error) {
	u, skip, err := s.orderUpdate(ctx, tx, p, prev, policy)
	if err != nil || skip {
		return u, &OrderResult{}, err
	}
	res, err := tx.ApplyOrder(ctx, u)
	if errors.Is(err, ErrPaymentMethod) {
		// The customer switched the order to another payment method (the
		// order-pay page) after this payment was made, and paid it anyway.
		// The money still counts for the order.
		if u, err = s.switchedMethod(ctx, tx, p, u); err != nil {
			return u, nil, err
		}
		res, err = tx.ApplyOrder(ctx, u)
	}
	switch {
	case errors.Is(err, ErrSuperseded):
		return u, nil, err
	case errors.Is(err, ErrOrderStatus):
		// The order moved on (refunded, completed by hand, ...). Money that
		// arrived is still worth a note: nothing is dropped silently.
		if p.Status.Money() {
			return s.noteOnly(ctx, tx, p, u, "The order's status did not allow it to change, so only this note was added: please check the order and refund if needed.")
		}
		s.Logger.Info("order status does not allow payment outcome; recorded only", "order_id", p.OrderID, "payment_id", p.ID, "status", p.Status, "err", err)
		return u, &OrderResult{}, nil
	case err != nil:
		return u, nil, fmt.Errorf("apply payment %d to order %d: %w", p.ID, p.OrderID, err)
	case !res.Changed && !res.Duplicate && u.Outcome == OutcomePaid:
		// Already paid: by this payment (a crash after the order update, or
		// a larger amount reported since), or by another one, which makes
		// this a second payment.
		o, err := tx.Order(ctx, p.OrderID)
		if err != nil {
			return u, nil, fmt.Errorf("load order %d: %w", p.OrderID, err)
		}
		pid := o.Meta["_wcbridge_payment_id"]
		switch {
		case pid == p.GatewayID && p.Status == PaymentOverpaid:
			// This payment paid the order; a verified larger amount came
			// since: the excess is noted, with the payment's figures.
			u2 := u
			u2.Outcome, u2.LateOutcome, u2.LateNote, u2.TransactionID = OutcomeNote, "", "", ""
			return s.applyNote(ctx, tx, p, u, u2)
		case pid == "" || pid == p.GatewayID:
			return u, res, nil
		}
		s.Logger.Warn("second payment for an order that was already paid", "order_id", p.OrderID, "payment_id", p.ID, "gateway", p.Gateway, "received", moneyText(p.Received, p.Amount))
		u2 := u
		// One note per second payment, whatever its classification: a later
		// report with other figures replaces the note's text.
		u2.Outcome, u2.EventID, u2.Meta, u2.LateOutcome, u2.LateNote, u2.TransactionID = OutcomeNote, fmt.Sprintf("wcbridge:%d:second", p.ID), nil, "", "", ""
		u2.ReplaceNote = true
		u2.Note = fmt.Sprintf("A second payment was received via %s (payment %s, %s) for an order that was already paid. Please check and refund it if needed.", s.gatewayTitle(p.Gateway), p.GatewayID, moneyText(p.Received, p.Amount))
		return s.applyNote(ctx, tx, p, u, u2)
	}
	return u, res, nil
}

// noteOnly writes u's note (with extra appended) without changing the
// order's status.
func (s *Service) noteOnly(ctx context.Context, tx OrderTx, p *Payment, u OrderUpdate, extra string) (OrderUpdate, *OrderResult, error) {
	u2 := u
	u2.Outcome, u2.LateOutcome, u2.LateNote, u2.TransactionID = OutcomeNote, "", "", ""
	u2.Note = strings.TrimSpace(u.Note + " " + extra)
	s.Logger.Warn("money arrived for an order whose status does not allow the outcome; noted", "order_id", p.OrderID, "payment_id", p.ID, "gateway", p.Gateway, "status", p.Status)
	return s.applyNote(ctx, tx, p, u, u2)
}

// applyNote applies the note-only update u2 made in place of u.
func (s *Service) applyNote(ctx context.Context, tx OrderTx, p *Payment, u, u2 OrderUpdate) (OrderUpdate, *OrderResult, error) {
	res, err := tx.ApplyOrder(ctx, u2)
	switch {
	case errors.Is(err, ErrSuperseded):
		return u, nil, err
	case errors.Is(err, ErrOrderStatus):
		return u, &OrderResult{}, nil
	case err != nil:
		return u, nil, fmt.Errorf("note payment %d on order %d: %w", p.ID, p.OrderID, err)
	}
	return u2, res, nil
}

// switchedMethod adapts u to an order whose payment method changed since p
// was made: the outcome is applied all the same, with a note saying which
// gateway the money came through; an order now to be paid outside
// wcbridge only gets the note, for the shop to decide.
func (s *Service) switchedMethod(ctx context.Context, tx OrderTx, p *Payment, u OrderUpdate) (OrderUpdate, error) {
	o, err := tx.Order(ctx, p.OrderID)
	if err != nil {
		return u, fmt.Errorf("load order %d: %w", p.OrderID, err)
	}
	u.PaymentMethod = o.PaymentMethod
	if strings.HasPrefix(o.PaymentMethod, PaymentMethodPrefix) {
		u.Note += fmt.Sprintf(" The order had since been switched to %s; this payment was made with %s.", s.gatewayTitle(strings.TrimPrefix(o.PaymentMethod, PaymentMethodPrefix)), s.gatewayTitle(p.Gateway))
		return u, nil
	}
	u.Note = fmt.Sprintf("%s The order had since been switched to the payment method %q, so its status was not changed: please complete the order or refund this payment.", u.Note, o.PaymentMethod)
	u.Outcome, u.LateOutcome, u.TransactionID = OutcomeNote, "", ""
	return u, nil
}

// orderUpdate builds the order outcome for p's status, or skip=true when the
// order is not to be touched; prev is p's status before this report.
func (s *Service) orderUpdate(ctx context.Context, tx OrderTx, p *Payment, prev PaymentStatus, policy Policy) (OrderUpdate, bool, error) {
	u := OrderUpdate{
		OrderID:       p.OrderID,
		EventID:       outcomeEvent(p.ID, p.Status),
		SupersededBy:  supersededBy(p),
		PaymentMethod: PaymentMethodPrefix + p.Gateway,
		PaidStatus:    policy.PaidStatus,
		Meta: map[string]string{
			"_wcbridge_gateway":        p.Gateway,
			"_wcbridge_payment_id":     p.GatewayID,
			"_wcbridge_payment_status": string(p.Status),
			"_wcbridge_amount":         p.Amount.Amount.String(),
			"_wcbridge_currency":       p.Amount.Currency,
		},
	}
	if u.PaidStatus == "" {
		// "auto": what the shop's WooCommerce filters said at checkout.
		u.PaidStatus = p.PaidStatus
	}
	if !p.Received.IsZero() {
		u.Meta["_wcbridge_received"] = p.Received.Amount.String()
	}
	if p.TxRef != "" {
		u.Meta["_wcbridge_tx_ref"] = p.TxRef
	}
	title := s.gatewayTitle(p.Gateway)
	ref := p.GatewayID
	if p.TxRef != "" {
		ref += ", transaction " + p.TxRef
	}
	if g := gatewayFigures(p); g != "" {
		ref += ", " + g
	}
	const lateNote = "The payment arrived after the payment window closed or the order was cancelled: please check that the items are still in stock."
	failedNote := ""
	if prev == PaymentFailed {
		failedNote = " Creating this payment had been reported as failed at checkout, but the gateway had created it and it was paid."
	}
	switch p.Status {
	case PaymentPaid, PaymentOverpaid:
		u.Outcome = OutcomePaid
		u.TransactionID = p.TxRef
		if u.TransactionID == "" {
			u.TransactionID = p.GatewayID
		}
		u.Note = fmt.Sprintf("Payment of %s received via %s (payment %s).", moneyText(p.Received, p.Amount), title, ref)
		if p.Status == PaymentOverpaid {
			if p.Received.IsZero() {
				u.Note = fmt.Sprintf("Overpayment received via %s (payment %s): the gateway reports more than the order total of %s.", title, ref, p.Amount)
			} else {
				u.Note = fmt.Sprintf("Overpayment received via %s (payment %s): %s received for an order total of %s, an excess of %s %s.",
					title, ref, p.Received, p.Amount, p.Excess().String(), p.Amount.Currency)
			}
		}
		u.Note += failedNote
		late := OutcomePaid
		if policy.LateOnHold {
			late = OutcomeOnHold
		}
		if p.AppliedStatus == PaymentExpired || p.AppliedStatus == PaymentCancelled {
			u.Outcome, u.Note = late, u.Note+" "+lateNote
		} else {
			// Decided by the store under its lock: the order may have been
			// cancelled by WooCommerce's timer while the customer paid.
			u.LateOutcome, u.LateNote = late, lateNote
		}
	case PaymentUnderpaid:
		u.Outcome = OutcomeOnHold
		u.CustomerNote = true
		u.Note = fmt.Sprintf("Underpayment via %s (payment %s): %s received of %s, %s %s short. The order is on hold until the rest arrives or the shop decides.%s",
			title, ref, p.Received, p.Amount, p.Shortfall().String(), p.Amount.Currency, failedNote)
		if p.Received.IsZero() {
			u.Note = fmt.Sprintf("Underpayment via %s (payment %s): less than the order total of %s arrived; the gateway did not say how much. The order is on hold until the rest arrives or the shop decides.%s",
				title, ref, p.Amount, failedNote)
		}
	case PaymentExpired, PaymentCancelled:
		// Never cancel an order another payment is now paying.
		ps, err := tx.OrderPayments(ctx, p.OrderID)
		if err != nil {
			return u, false, err
		}
		if live := livePaymentOf(ps); live != nil && live.ID != p.ID {
			return u, true, nil
		}
		o, err := tx.Order(ctx, p.OrderID)
		if err != nil {
			return u, false, fmt.Errorf("load order %d: %w", p.OrderID, err)
		}
		what := "expired"
		if p.Status == PaymentCancelled {
			what = "was cancelled"
		}
		u.Outcome = OutcomeNote
		u.Note = fmt.Sprintf("The %s payment %s %s without payment.", title, p.GatewayID, what)
		if policy.CancelOnExpiry && (o.Status == StatusPending || o.Status == StatusFailed || o.Status == StatusCheckoutDraft) {
			u.Outcome = OutcomeCancelled
			u.CustomerNote = true
			u.Note += " The order was cancelled."
		}
	default:
		return u, true, nil
	}
	return u, false, nil
}

// outcomeEvent is the event id of the order outcome of payment id's status.
func outcomeEvent(id int64, st PaymentStatus) string { return fmt.Sprintf("wcbridge:%d:%s", id, st) }

// supersededBy lists the outcomes of p's own statuses that make the outcome
// of its current status stale once they have reached the order: those of
// the statuses p cannot move from to the current one. An expiry never
// follows a payment (paid, then a report read before it said "expired"),
// while a late payment may follow an expiry.
func supersededBy(p *Payment) []string {
	var out []string
	for _, st := range []PaymentStatus{PaymentUnderpaid, PaymentPaid, PaymentOverpaid, PaymentExpired, PaymentCancelled} {
		if st != p.Status && !st.CanMove(p.Status) {
			out = append(out, outcomeEvent(p.ID, st))
		}
	}
	return out
}

// gatewayFigures shows the gateway's own figures where they are in another
// unit than the order (a token, or USD for a EUR order): "19.99 USDC
// received of 19.99 USDC asked".
func gatewayFigures(p *Payment) string {
	a, r := p.GatewayAmount, p.GatewayReceived
	if a.IsZero() || a.Currency == p.Amount.Currency {
		return ""
	}
	if r.IsZero() || r.Currency != a.Currency {
		return a.String() + " asked"
	}
	return r.String() + " received of " + a.String() + " asked"
}

// notificationPayload is the body of a notification (docs/plugin-api.md),
// built with encoding/json so that any text a gateway reported (a
// transaction reference with a control character, say) stays valid JSON.
type notificationPayload struct {
	EventID       string       `json:"event_id"`
	OrderID       int64        `json:"order_id"`
	Outcome       OrderOutcome `json:"outcome"`
	FromStatus    string       `json:"from_status"`
	ToStatus      string       `json:"to_status"`
	TransactionID string       `json:"transaction_id"`
	OccurredAt    string       `json:"occurred_at"`
	// NoteID is the order note the change wrote (0: none); the plugin
	// fires woocommerce_order_note_added for it, as WooCommerce does for
	// the note of its own status change.
	NoteID  int64        `json:"note_id,omitempty"`
	Payment *PaymentView `json:"payment"`
}

func (s *Service) notification(p *Payment, u OrderUpdate, res *OrderResult) *Notification {
	outcome := u.Outcome
	if res.From == StatusCancelled && u.LateOutcome != "" {
		outcome = u.LateOutcome
	}
	at := res.At
	if at.IsZero() {
		at = s.now()
	}
	payload, err := json.Marshal(notificationPayload{
		EventID: u.EventID, OrderID: p.OrderID, Outcome: outcome, FromStatus: res.From, ToStatus: res.To,
		TransactionID: u.TransactionID, OccurredAt: at.UTC().Format(time.RFC3339), NoteID: res.NoteID, Payment: NewPaymentView(p),
	})
	if err != nil {
		// Strings, numbers and times only: Marshal cannot fail on them.
		panic(fmt.Sprintf("encode notification: %v", err))
	}
	return &Notification{EventID: u.EventID, OrderID: p.OrderID, Payload: payload, NextAttempt: s.now()}
}

// gatewayTitle is the gateway's title for order notes.
func (s *Service) gatewayTitle(name string) string {
	if s.Titles != nil {
		if t := s.Titles(name); t != "" {
			return t
		}
	}
	return name
}

// moneyText shows what arrived, or what was asked when the gateway gave no
// amount.
func moneyText(received, asked Money) string {
	if received.IsZero() {
		return asked.String()
	}
	return received.String()
}

// Shortfall is what is still missing on an underpaid payment.
func (p *Payment) Shortfall() decimal.Decimal {
	if p.Status != PaymentUnderpaid || p.Received.IsZero() {
		return decimal.Zero
	}
	d := p.Amount.Amount.Sub(p.Received.Amount)
	if d.IsNegative() {
		return decimal.Zero
	}
	return d
}

// Excess is what was paid beyond the order total.
func (p *Payment) Excess() decimal.Decimal {
	if p.Received.IsZero() {
		return decimal.Zero
	}
	d := p.Received.Amount.Sub(p.Amount.Amount)
	if d.IsNegative() {
		return decimal.Zero
	}
	return d
}
