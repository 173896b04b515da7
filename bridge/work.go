package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CallbackResult is what receiving a callback did.
type CallbackResult struct {
	Callback  *Callback
	Duplicate bool
}

// CallbackRequest is a gateway callback as it arrived.
type CallbackRequest struct {
	Gateway    string
	Header     http.Header // the request's: content type, a signature header
	Body       []byte
	RemoteAddr string // the client's address (through trusted proxies), for the status page
}

// ReceiveCallback authenticates a gateway callback from its raw bytes and
// header, records it durably and queues it for processing. A forged,
// expired or malformed callback writes nothing durable: it is kept in
// memory for the status page (Rejections) and counted, and the error says
// why (wrapping ErrSignature, ErrNotSigned, ErrTooOld or ErrMalformed). A
// database failure returns ErrUnavailable so the gateway retries.
func (s *Service) ReceiveCallback(ctx context.Context, r CallbackRequest) (*CallbackResult, error) {
	gw, err := s.Gateways.Gateway(r.Gateway)
	if err != nil {
		if ErrorCode(err) == ECONFLICT { // disabled or not configured
			s.reject(r, ErrorMessage(err))
		}
		return nil, err
	}
	ev, verr := gw.VerifyCallback(r.Header, r.Body)
	if verr != nil {
		s.reject(r, RejectReason(verr))
		if ErrorCode(verr) == EINTERNAL {
			return nil, &Error{Code: EUNAUTHORIZED, Message: "callback not authenticated", Err: verr}
		}
		return nil, verr
	}
	sum := sha256.Sum256(r.Body)
	cb := &Callback{Gateway: r.Gateway, ReceivedAt: s.now(), ContentType: r.Header.Get("Content-Type"), Body: r.Body, BodyHash: hex.EncodeToString(sum[:])}
	cb.Verified, cb.PaymentKey = true, ev.GatewayID
	if cb.PaymentKey == "" {
		cb.PaymentKey = "ref:" + ev.OrderRef
	}
	inMemory := len(s.queue) < cap(s.queue)
	if inMemory {
		cb.Lease, cb.LeaseFor = NewLease(s.Owner), inFlightGrace
	}
	existing, dup, err := s.Callbacks.RecordCallback(ctx, cb)
	if err != nil {
		return nil, &Error{Code: EUNAVAILABLE, Message: "could not record the callback; retry later", Err: err}
	}
	if dup {
		s.Logger.Debug("callback accepted again (duplicate)", "gateway", r.Gateway, "gateway_payment_id", cb.PaymentKey, "callback_id", existing.ID)
		return &CallbackResult{Callback: existing, Duplicate: true}, nil
	}
	s.Logger.Info("callback accepted", "gateway", r.Gateway, "gateway_payment_id", cb.PaymentKey, "callback_id", cb.ID)
	queued := false
	if inMemory {
		select {
		case s.queue <- cb:
			queued = true
		default: // full after all: a sweep takes it up when its lease ends
		}
	}
	if !queued {
		// Past what is kept in memory: the sweep takes it up from the
		// database now rather than at the next tick.
		s.kickSweep()
	}
	return &CallbackResult{Callback: cb}, nil
}

// reject keeps a refused callback in memory; nothing is written or logged
// per request (LogRejections logs a summary).
func (s *Service) reject(r CallbackRequest, reason string) {
	sum := sha256.Sum256(r.Body)
	s.Rejections.Add(r.Gateway, Rejection{At: s.now(), Reason: reason, RemoteAddr: r.RemoteAddr, BodyHash: hex.EncodeToString(sum[:])}, r.Body)
}

// RejectReason names why a callback was refused, in the words the status
// page uses.
func RejectReason(err error) string {
	switch {
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrTooOld):
		return ErrTooOld.Message
	case errors.Is(err, ErrNotSigned):
		return ErrNotSigned.Message
	case errors.Is(err, ErrSignature):
		return ErrSignature.Message
	case errors.Is(err, ErrRateLimited):
		return "rate limited"
	}
	if ErrorCode(err) == EINVALID {
		return "invalid"
	}
	return ErrSignature.Message
}

// LogRejections writes, for each gateway with refused callbacks not yet
// logged, one line with how many and why; a gateway gets at most one line
// per Rejections.Interval, so a flood of forgeries costs a line a minute.
func (s *Service) LogRejections() {
	for _, sum := range s.Rejections.Due(s.now()) {
		args := []any{"gateway", sum.Gateway, "count", sum.Count}
		for reason, n := range sum.ByReason {
			args = append(args, strings.ReplaceAll(reason, " ", "_"), n)
		}
		if sum.Last != nil {
			args = append(args, "last_reason", sum.Last.Reason, "last_remote_addr", sum.Last.RemoteAddr)
		}
		s.Logger.Warn("callbacks rejected", args...)
	}
}

// inFlightGrace is the lease on a callback being processed from memory by
// the replica that received it: sweeps leave it alone meanwhile; if that
// replica dies, any replica takes it up afterwards. Processing takes well
// under a second unless the gateway is slow, and doing it twice is harmless.
const inFlightGrace = 15 * time.Second

// leaseFor is how long a replica holds what it claimed (payments to poll,
// callbacks to retry, notifications to deliver) before another replica may
// take it: longer than one item's work (a gateway or WordPress call with its
// timeouts), short enough that a replica that died or lost the database
// holds nothing up for long.
const leaseFor = 30 * time.Second

func (s *Service) lease() time.Duration {
	if s.LeaseFor > 0 {
		return s.LeaseFor
	}
	return leaseFor
}

func (s *Service) notifyBudget() time.Duration {
	if s.NotifyBudget > 0 {
		return s.NotifyBudget
	}
	return DefaultNotifyBudget
}

// unknownPaymentWait is how long a callback naming a payment we do not know
// yet is retried: it may have overtaken our own record of the checkout.
const unknownPaymentWait = 15 * time.Minute

// ProcessCallback confirms a recorded callback with the gateway and applies
// it. It returns whether it is done; a false result with an error means
// "retry later".
func (s *Service) ProcessCallback(ctx context.Context, cb *Callback) (done bool, reason string, err error) {
	done, reason, _, err = s.processCallback(ctx, cb)
	return done, reason, err
}

// processCallback is ProcessCallback; rec, when its transaction recorded
// the callback applied, says so (rec.recorded) and whether the lease was
// still held.
func (s *Service) processCallback(ctx context.Context, cb *Callback) (done bool, reason string, rec *AppliedCallback, err error) {
	gw, err := s.Gateways.Gateway(cb.Gateway)
	if err != nil {
		return false, "gateway not available", nil, err
	}
	ev, verr := gw.VerifyCallback(http.Header{"Content-Type": {cb.ContentType}}, cb.Body)
	if verr != nil {
		// Verified on receipt; a token that has since expired (some last
		// five minutes) or a signature header that was not kept no longer
		// verifies. The gateway's status API is the
		// source of truth, so the payment id is all that is needed.
		ev = &CallbackEvent{Gateway: cb.Gateway, GatewayID: cb.PaymentKey}
	}
	if cb.ID != 0 {
		// Recorded applied in the transaction that applies it.
		rec = &AppliedCallback{ID: cb.ID, Lease: cb.Lease}
	}
	var (
		st        *GatewayState
		confirmed bool // st and cerr hold the gateway's answer
		cerr      error
	)
	if ev.GatewayID != "" {
		// The usual case: the gateway's answer first, then the payment it
		// names, read under lock in the transaction that applies it.
		st, cerr = s.confirm(ctx, gw, ev)
		confirmed = true
		switch {
		case cerr == nil:
			p, err := s.applyState(ctx, PaymentRef{Gateway: cb.Gateway, GatewayID: ev.GatewayID}, nil, st, true, rec)
			switch {
			case err == nil:
				return true, fmt.Sprintf("applied: payment %s", p.Status), rec, nil
			case errors.Is(err, errNotKnownYet):
				// The callback came before the gateway's status host knows
				// the payment (a gateway may read on another host than it
				// creates): try again, so what the callback says is
				// confirmed, not dropped.
				return false, "payment not known to the gateway's status API yet", nil, ErrUnavailable
			case !errors.Is(err, ErrPaymentNotFound):
				return false, "apply failed", nil, err
			}
			// Not known by the gateway's id: found another way below.
		case !errors.Is(cerr, ErrPaymentNotFound):
			return false, "confirmation failed", nil, cerr
		}
	}
	p, err := s.findCallbackPayment(ctx, cb, ev)
	if errors.Is(err, ErrPaymentNotFound) && ev.GatewayID != "" && ev.GatewayID == cb.PaymentKey {
		// Not known by the gateway's id: a payment whose creation failed at
		// our end never learnt it. The gateway's own record, read back from
		// its API, names our reference.
		if !confirmed {
			st, cerr = s.confirm(ctx, gw, ev)
			confirmed = true
		}
		err = cerr
		switch {
		case errors.Is(err, ErrPaymentNotFound):
		case err != nil:
			return false, "confirmation failed", nil, err
		case st.OrderRef == "":
			err = ErrPaymentNotFound
		default:
			p, err = s.findCallbackPayment(ctx, cb, &CallbackEvent{GatewayID: st.GatewayID, OrderRef: st.OrderRef})
		}
	}
	if errors.Is(err, ErrPaymentNotFound) {
		if s.now().Sub(cb.ReceivedAt) < unknownPaymentWait {
			return false, "payment not known yet", nil, err
		}
		s.Logger.Warn("callback for an unknown payment ignored", "gateway", cb.Gateway, "gateway_payment_id", cb.PaymentKey)
		return true, "unknown payment", nil, nil
	} else if err != nil {
		return false, "database error", nil, err
	}
	if ev.GatewayID == "" {
		ev.GatewayID = p.GatewayID
	}
	if confirmed && cerr != nil {
		return false, "confirmation failed", nil, cerr
	} else if !confirmed {
		if st, err = s.confirm(ctx, gw, ev); err != nil {
			return false, "confirmation failed", nil, err
		}
	}
	if notKnownYet(p, st, s.now()) {
		// As above: the gateway's status host does not know it yet.
		return false, "payment not known to the gateway's status API yet", nil, ErrUnavailable
	}
	p, err = s.applyState(ctx, PaymentRef{ID: p.ID}, p, st, true, rec)
	if err != nil {
		return false, "apply failed", nil, err
	}
	return true, fmt.Sprintf("applied: payment %s", p.Status), rec, nil
}

func (s *Service) findCallbackPayment(ctx context.Context, cb *Callback, ev *CallbackEvent) (*Payment, error) {
	if ev.GatewayID != "" {
		p, err := s.Payments.PaymentByGatewayID(ctx, cb.Gateway, ev.GatewayID)
		if !errors.Is(err, ErrPaymentNotFound) {
			return p, err
		}
	}
	if ev.OrderRef != "" {
		p, err := s.Payments.PaymentByReference(ctx, ev.OrderRef)
		if err == nil && p.Gateway != cb.Gateway {
			return nil, ErrPaymentNotFound
		}
		return p, err
	}
	return nil, ErrPaymentNotFound
}

// retryDelay grows with the number of attempts: 5s, 10s, 20s ... up to 30m.
func retryDelay(attempts int) time.Duration {
	d := 5 * time.Second
	for i := 0; i < attempts && d < 30*time.Minute; i++ {
		d *= 2
	}
	if d > 30*time.Minute {
		d = 30 * time.Minute
	}
	return d
}

func (s *Service) finishCallback(ctx context.Context, cb *Callback) {
	done, reason, rec, err := s.processCallback(ctx, cb)
	if rec != nil && rec.recorded {
		if rec.LeaseLost {
			s.Logger.Info("callback taken over by another replica before its result was recorded", "callback_id", cb.ID, "applied", true)
		}
		return
	}
	if err != nil {
		s.Logger.Warn("callback processing failed; will retry", "gateway", cb.Gateway, "callback_id", cb.ID, "reason", reason, "err", err)
	}
	retryAt := s.now().Add(retryDelay(cb.Attempts))
	if ferr := s.Callbacks.FinishCallback(ctx, cb.ID, cb.Lease, reason, done, retryAt); errors.Is(ferr, ErrLeaseLost) {
		s.Logger.Info("callback taken over by another replica before its result was recorded", "callback_id", cb.ID, "applied", done)
	} else if ferr != nil {
		s.Logger.Warn("recording callback result failed", "callback_id", cb.ID, "err", ferr)
	}
}

// SweepCallbacks processes recorded callbacks that are due (those past what
// the in-memory queue holds, those whose replica died, and retries), as many
// at once as the callback workers (WorkerConfig.CallbackWorkers), and wakes
// the outbox for what they applied. It returns how many it handled.
func (s *Service) SweepCallbacks(ctx context.Context, limit int) (int, error) {
	cbs, err := s.Callbacks.ClaimCallbacks(ctx, s.Owner, limit, s.lease())
	if err != nil || len(cbs) == 0 {
		return 0, err
	}
	work := make(chan *Callback)
	var wg sync.WaitGroup
	for range min(len(cbs), s.workers()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for cb := range work {
				s.finishCallback(ctx, cb)
			}
		}()
	}
	for _, cb := range cbs {
		work <- cb
	}
	close(work)
	wg.Wait()
	s.kickOutbox()
	return len(cbs), nil
}

// DefaultCallbackWorkers is how many callbacks are confirmed and applied at
// once by default: each waits for a gateway's status API, 100-300 ms over
// the internet, so many wait together while the database works.
const DefaultCallbackWorkers = 64

func (s *Service) workers() int {
	if n := int(s.callbackWorkers.Load()); n > 0 {
		return n
	}
	return DefaultCallbackWorkers
}

// checkDelay spaces the reconciler's looks at a payment by its age: often
// while a customer is likely paying, rarely once it is old.
func checkDelay(age time.Duration) time.Duration {
	switch {
	case age < 10*time.Minute:
		return 15 * time.Second
	case age < time.Hour:
		return time.Minute
	case age < 6*time.Hour:
		return 5 * time.Minute
	case age < 24*time.Hour:
		return 15 * time.Minute
	}
	return time.Hour
}

// never is the next check of a payment the reconciler gave up on.
var never = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// Reconcile polls the gateways for up to limit due payments (batched where
// the gateway can), applies what changed, and re-applies outcomes a failure
// left unapplied. Safe with several replicas: payments are leased.
func (s *Service) Reconcile(ctx context.Context, limit int) (int, error) {
	ps, err := s.Payments.ClaimDue(ctx, s.Owner, PaymentFilter{DueAt: s.now(), Limit: limit}, s.lease())
	if err != nil {
		return 0, err
	}
	byGateway := map[string][]*Payment{}
	var lag time.Duration
	for _, p := range ps {
		if d := s.now().Sub(p.NextCheckAt); d > lag {
			lag = d
		}
		byGateway[p.Gateway] = append(byGateway[p.Gateway], p)
	}
	var wg sync.WaitGroup
	for name, list := range byGateway {
		wg.Add(1)
		go func(name string, list []*Payment) {
			defer wg.Done()
			s.reconcileGateway(ctx, name, list)
		}(name, list)
	}
	wg.Wait()
	s.lag.Store(int64(lag))
	return len(ps), nil
}

func (s *Service) reconcileGateway(ctx context.Context, name string, ps []*Payment) {
	gw, gwErr := s.Gateways.Gateway(name)
	states := map[string]*GatewayState{}
	var batchErr error
	if bg, ok := gw.(BatchGateway); ok && gwErr == nil && gw.Capabilities().BatchSize > 0 {
		var ids []string
		for _, p := range ps {
			if p.GatewayID != "" && (!p.Status.Final() || p.Watch) {
				ids = append(ids, p.GatewayID)
			}
		}
		size := gw.Capabilities().BatchSize
		for i := 0; i < len(ids); i += size {
			j := min(i+size, len(ids))
			got, err := bg.PaymentStates(ctx, ids[i:j])
			if err != nil {
				batchErr = err
				continue
			}
			for k, v := range got {
				states[k] = v
			}
		}
	}
	plans := make([]Reschedule, 0, len(ps))
	now := s.now() // one instant per pass, so the plans group into few writes
	for _, p := range ps {
		plans = append(plans, s.reconcileOne(ctx, now, gw, gwErr, p, states, batchErr))
	}
	if err := s.Payments.Reschedule(ctx, plans); err != nil {
		s.Logger.Warn("scheduling next checks failed", "gateway", name, "err", err)
	}
}

// reconcileOne looks at one payment and plans its next look.
func (s *Service) reconcileOne(ctx context.Context, now time.Time, gw Gateway, gwErr error, p *Payment, states map[string]*GatewayState, batchErr error) Reschedule {
	policy := s.Policy()
	cur := p
	var err error
	switch {
	case p.Status == PaymentCreating:
		// The process died during the gateway call; the customer never saw it.
		cur, err = s.Payments.UpdatePayment(ctx, p.ID, func(q *Payment) (*Notification, error) {
			if q.Status == PaymentCreating {
				q.Status, q.LastError = PaymentFailed, "creation did not finish"
			}
			return nil, nil
		})
	case p.Status.Final() && !p.Watch || p.GatewayID == "":
		if p.ApplyDue() {
			cur, err = s.applyToOrder(ctx, p)
		}
	case gwErr != nil:
		err = gwErr
	default:
		st, ok := states[p.GatewayID]
		if !ok {
			if _, batched := gw.(BatchGateway); batched && gw.Capabilities().BatchSize > 0 && batchErr == nil {
				// The gateway does not know it (any more): nothing arrived.
				st = &GatewayState{GatewayID: p.GatewayID, Status: PaymentPending}
			} else if st, err = gw.PaymentState(ctx, p.GatewayID); err != nil {
				break
			}
		}
		cur, err = s.ApplyState(ctx, p, st)
	}
	if cur == nil {
		cur = p
	}
	regular := s.CheckDelay(now.Sub(p.CreatedAt))
	plan := Reschedule{ID: p.ID, Lease: p.Lease, NextCheckAt: now.Add(regular)}
	switch {
	case err != nil:
		// Backed off on consecutive failures, never beyond the regular
		// pace: one failed look at an old payment must not park it.
		plan.NextCheckAt = now.Add(min(retryDelay(p.Failures), regular))
		plan.LastError, plan.Failed = truncate(err.Error(), 250), true
		s.Logger.Warn("reconcile failed; will retry", "payment_id", p.ID, "order_id", p.OrderID, "gateway", p.Gateway, "err", err)
	case cur.Status.Final() && !cur.ApplyDue() && !cur.Watch:
		plan.NextCheckAt = never
	case cur.Watch && now.Sub(cur.CreatedAt) > policy.GiveUpAfter && !cur.ApplyDue():
		plan.NextCheckAt = never // the gateway has long stopped retrying its callback
	case !cur.Status.Live() && !cur.ExpiresAt.IsZero() && now.Sub(cur.ExpiresAt) > policy.GiveUpAfter && !cur.ApplyDue():
		plan.NextCheckAt = never // long past expiry: only a callback can wake it now
	}
	return plan
}

// Recheck asks the gateway about the order's payments now (the customer's
// return, the shop's "re-check payment" button) and applies what changed.
func (s *Service) Recheck(ctx context.Context, orderID int64) (*OrderPaymentView, error) {
	ps, err := s.Payments.OrderPayments(ctx, orderID)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if p.GatewayID == "" || (p.Status.Final() && !p.ApplyDue() && !p.Watch) {
			continue
		}
		if p.Status.Final() && !p.Watch {
			if _, err := s.applyToOrder(ctx, p); err != nil {
				return nil, err
			}
			continue
		}
		gw, err := s.Gateways.Gateway(p.Gateway)
		if err != nil {
			return nil, err
		}
		st, err := gw.PaymentState(ctx, p.GatewayID)
		if err != nil {
			return nil, err
		}
		if _, err := s.ApplyState(ctx, p, st); err != nil {
			return nil, err
		}
	}
	return s.OrderPayment(ctx, orderID)
}

// wordpressDownRetry is when a notification is tried again after WordPress
// itself failed to answer (down, timing out, a proxy's 5xx): by the next
// pass, so WordPress is noticed back within one reconcile interval. Only
// wordpressDownProbes notifications are tried per pass while it is down, so
// a backlog of any size costs a down WordPress a few requests per interval.
const (
	wordpressDownRetry  = time.Second
	wordpressDownProbes = 1
)

// DeliverNotifications sends due outbox notifications to WordPress: up to
// Notifiers requests at once, each carrying up to NotificationBatch events
// where the plugin takes batches (BatchNotifier), so that one WordPress
// start-up finishes many orders. An order's events go in one request, in
// the order they were queued; after one fails, the order's later ones wait
// for it.
//
// While WordPress is failing it sends only a few (probes, retried every
// pass); when WordPress answers again, every waiting notification is made
// due and the backlog goes out at once. A notification WordPress refuses
// while it answers others (that order's finishing fails) backs off from 5
// seconds to 30 minutes.
//
// A request is sent only while this replica's lease on its notifications
// will outlast it (NotifyBudget): it is renewed first when needed, and a
// notification another replica took meanwhile is left to that one.
func (s *Service) DeliverNotifications(ctx context.Context, limit int) (int, error) {
	if s.Notifier == nil {
		return 0, nil
	}
	batch, down := limit, s.wpDown.Load()
	if down {
		limit = min(limit, wordpressDownProbes)
	}
	claimed := s.Now() // the lease ends no sooner than this plus s.lease()
	ns, err := s.Outbox.ClaimNotifications(ctx, s.Owner, limit, s.lease())
	if err != nil || len(ns) == 0 {
		return 0, err
	}
	size := s.notificationBatch()
	bn, batching := s.Notifier.(BatchNotifier)
	if !batching || !s.batchesTaken() {
		size = 1
	}
	d := &delivery{s: s, bn: bn, claimed: claimed}
	reqs := packNotifications(ns, size)
	work := make(chan []*Notification)
	var wg sync.WaitGroup
	for range min(len(reqs), s.notifiers()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for req := range work {
				d.send(ctx, req)
			}
		}()
	}
	for _, req := range reqs {
		work <- req
	}
	close(work)
	wg.Wait()
	if down && d.delivered.Load() > 0 {
		// The probes got through: report a full batch so the loop goes on
		// with the backlog now instead of at the next tick.
		return batch, nil
	}
	return len(ns), nil
}

// DefaultNotifyBudget is the longest a request to WordPress may take, retry
// included (wordpress.NewNotifier: two attempts of 10 seconds and a wait): a
// request is sent only while the lease on its notifications has at least
// this much left.
const DefaultNotifyBudget = 22 * time.Second

// errWaiting marks a notification not sent because an earlier one of its
// order was not delivered.
var errWaiting = errors.New("waiting for an earlier notification of the order")

// packNotifications groups ns (in claim order) by order and packs the
// groups into requests of up to size events; an order's group is never
// split, so its events go in one request, in order.
func packNotifications(ns []*Notification, size int) [][]*Notification {
	var orders []int64
	by := map[int64][]*Notification{}
	for _, n := range ns {
		if _, ok := by[n.OrderID]; !ok {
			orders = append(orders, n.OrderID)
		}
		by[n.OrderID] = append(by[n.OrderID], n)
	}
	sort.SliceStable(orders, func(i, j int) bool { return by[orders[i]][0].ID < by[orders[j]][0].ID })
	var reqs [][]*Notification
	var cur []*Notification
	for _, o := range orders {
		g := by[o]
		if len(cur) > 0 && len(cur)+len(g) > size {
			reqs = append(reqs, cur)
			cur = nil
		}
		cur = append(cur, g...)
	}
	if len(cur) > 0 {
		reqs = append(reqs, cur)
	}
	return reqs
}

// delivery is one pass of DeliverNotifications.
type delivery struct {
	s         *Service
	bn        BatchNotifier
	claimed   time.Time
	delivered atomic.Int64
	tried     atomic.Int64
}

// send delivers one request's notifications and records the results.
func (d *delivery) send(ctx context.Context, req []*Notification) {
	s := d.s
	if s.wpDown.Load() && d.delivered.Load() == 0 && d.tried.Load() >= wordpressDownProbes {
		// WordPress went down during this pass: leave the rest for the pass
		// that finds it back.
		next := s.now().Add(wordpressDownRetry)
		for _, n := range req {
			d.finish(ctx, n, false, "not tried: "+ErrWordPressDown.Message, next)
		}
		return
	}
	if d.s.Now().Sub(d.claimed) > d.s.lease()-d.s.notifyBudget() {
		req = d.renew(ctx, req)
		if len(req) == 0 {
			return
		}
	}
	d.tried.Add(1)
	var errs []error
	if d.bn != nil && len(req) > 1 {
		errs = d.bn.NotifyBatch(ctx, req)
		if len(errs) > 0 && errors.Is(errs[0], ErrBatchUnsupported) {
			s.noBatchesUntil.Store(s.now().Add(batchRetry).UnixNano())
			s.Logger.Warn("the plugin does not take notifications in batches; sending them one by one (update the plugin)")
			errs = nil
		}
	}
	if errs == nil {
		errs = d.oneByOne(ctx, req)
	}
	d.record(ctx, req, errs)
}

// batchRetry is how long notifications go one by one after the plugin
// refused a batch (an older plugin), before a batch is tried again.
const batchRetry = 10 * time.Minute

// oneByOne sends req's notifications one per request, in order; after one
// of an order fails, its later ones are not sent.
func (d *delivery) oneByOne(ctx context.Context, req []*Notification) []error {
	errs := make([]error, len(req))
	failed := map[int64]bool{}
	for i, n := range req {
		if failed[n.OrderID] {
			errs[i] = errWaiting
			continue
		}
		errs[i] = d.s.Notifier.Notify(ctx, n)
		if errs[i] != nil && !errors.Is(errs[i], ErrOrderGone) {
			failed[n.OrderID] = true
		}
	}
	return errs
}

// renew extends the lease on req before it is sent and returns what this
// replica still holds.
func (d *delivery) renew(ctx context.Context, req []*Notification) []*Notification {
	ids := make([]int64, len(req))
	for i, n := range req {
		ids[i] = n.ID
	}
	held, err := d.s.Outbox.RenewNotifications(ctx, req[0].Lease, ids, d.s.lease())
	if err != nil {
		d.s.Logger.Warn("renewing the lease on notifications failed; leaving them to the next pass", "err", err)
		return nil
	}
	if len(held) < len(req) {
		d.s.Logger.Info("notifications taken over by another replica before they were sent", "count", len(req)-len(held))
	}
	keep := map[int64]bool{}
	for _, id := range held {
		keep[id] = true
	}
	var out []*Notification
	lost := map[int64]bool{}
	for _, n := range req {
		// An order whose earlier event was taken over waits for it.
		if keep[n.ID] && !lost[n.OrderID] {
			out = append(out, n)
		} else {
			lost[n.OrderID] = true
		}
	}
	return out
}

// record writes the results of one request: the delivered ones in one
// statement, each failure with its next attempt (an order's later events
// with its first failure's).
func (d *delivery) record(ctx context.Context, req []*Notification, errs []error) {
	s := d.s
	var done []int64
	waiting := map[int64]time.Time{} // order -> next attempt of its failed notification
	for i, n := range req {
		err := errs[i]
		if next, wait := waiting[n.OrderID]; wait {
			d.finish(ctx, n, false, errWaiting.Error(), next)
			continue
		}
		if errors.Is(err, ErrOrderGone) {
			// Deleted in WordPress: nothing left to finish.
			s.Logger.Warn("notification given up: order deleted in wordpress", "order_id", n.OrderID, "event_id", n.EventID, "attempts", n.Attempts+1)
			d.finish(ctx, n, true, "closed: "+ErrOrderGone.Message, time.Time{})
			continue
		}
		next := s.now()
		switch {
		case err == nil:
			d.delivered.Add(1)
			done = append(done, n.ID)
			if s.wpDown.Swap(false) {
				s.Logger.Info("wordpress answers again; delivering the backlog")
				if _, rerr := s.Outbox.RetryNow(ctx); rerr != nil {
					s.Logger.Warn("making the backlog due failed", "err", rerr)
				}
			}
			continue
		case errors.Is(err, ErrWordPressDown) && d.delivered.Load() == 0:
			s.wpDown.Store(true)
			next = next.Add(wordpressDownRetry)
		case errors.Is(err, errWaiting):
			next = next.Add(wordpressDownRetry)
		default:
			next = next.Add(retryDelay(n.Attempts))
		}
		waiting[n.OrderID] = next
		s.Logger.Warn("notifying wordpress failed; will retry", "order_id", n.OrderID, "event_id", n.EventID, "attempts", n.Attempts+1, "retry_at", next, "err", err)
		d.finish(ctx, n, false, truncate(err.Error(), 250), next)
	}
	if len(done) == 0 {
		return
	}
	if err := s.Outbox.FinishDelivered(ctx, req[0].Lease, done); errors.Is(err, ErrLeaseLost) {
		s.Logger.Info("notifications delivered after another replica took them over", "err", err)
	} else if err != nil {
		s.Logger.Warn("recording notification results failed", "err", err)
		return
	}
	for i, n := range req {
		if errs[i] == nil {
			s.Logger.Info("notification delivered", "order_id", n.OrderID, "event_id", n.EventID, "attempts", n.Attempts+1)
		}
	}
}

func (d *delivery) finish(ctx context.Context, n *Notification, delivered bool, msg string, next time.Time) {
	if err := d.s.Outbox.FinishNotification(ctx, n.ID, n.Lease, delivered, msg, next); errors.Is(err, ErrLeaseLost) {
		d.s.Logger.Info("notification taken over by another replica before its result was recorded", "event_id", n.EventID)
	} else if err != nil {
		d.s.Logger.Warn("recording notification result failed", "event_id", n.EventID, "err", err)
	}
}

// DefaultNotifiers and DefaultNotificationBatch are the requests to
// WordPress in flight at once (a typical php-fpm pool) and the events each
// may carry.
const (
	DefaultNotifiers         = 8
	DefaultNotificationBatch = 20
)

func (s *Service) notifiers() int {
	if n := int(s.notifyWorkers.Load()); n > 0 {
		return n
	}
	return DefaultNotifiers
}

func (s *Service) notificationBatch() int {
	if n := int(s.notifyBatch.Load()); n > 0 {
		return n
	}
	return DefaultNotificationBatch
}

// batchesTaken reports whether notifications may go in batches: not for a
// while after the plugin refused one.
func (s *Service) batchesTaken() bool {
	return s.now().UnixNano() >= s.noBatchesUntil.Load()
}

// WorkerConfig paces the background work.
type WorkerConfig struct {
	// CallbackWorkers is how many callbacks are confirmed and applied at
	// once (default DefaultCallbackWorkers).
	CallbackWorkers int
	// Notifiers is how many requests to WordPress are in flight at once,
	// and NotificationBatch how many events one may carry (defaults 8, 20).
	Notifiers         int
	NotificationBatch int
	Interval          time.Duration // reconcile, sweep and outbox period
	BatchSize         int
}

// Run does the background work until ctx ends: callback workers fed by
// ReceiveCallback, and a periodic sweep of callbacks, reconciliation and
// outbox delivery.
func (s *Service) Run(ctx context.Context, c WorkerConfig) {
	if c.CallbackWorkers > 0 {
		s.callbackWorkers.Store(int64(c.CallbackWorkers))
	}
	if c.Notifiers > 0 {
		s.notifyWorkers.Store(int64(c.Notifiers))
	}
	if c.NotificationBatch > 0 {
		s.notifyBatch.Store(int64(c.NotificationBatch))
	}
	c.CallbackWorkers = s.workers()
	if c.Interval <= 0 {
		c.Interval = 5 * time.Second
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	var wg sync.WaitGroup
	for i := 0; i < c.CallbackWorkers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case cb := <-s.queue:
					s.finishCallback(ctx, cb)
					s.kickOutbox()
				}
			}
		}()
	}
	wg.Add(2)
	go func() { // callbacks the queue dropped, retries, and reconciliation
		defer wg.Done()
		t := time.NewTicker(c.Interval)
		defer t.Stop()
		for {
			s.tick(ctx, c.BatchSize)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-s.sweep:
			}
		}
	}()
	go func() { // notifications: at once when a worker queued one, else periodically
		defer wg.Done()
		t := time.NewTicker(c.Interval)
		defer t.Stop()
		for {
			s.deliver(ctx, c.BatchSize)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-s.kick:
			}
		}
	}()
	wg.Wait()
}

// Tick does one round of the background work at once, as Run does on its
// timer: the callback sweep, the reconciler and the outbox.
func (s *Service) Tick(ctx context.Context, batch int) {
	s.tick(ctx, batch)
	s.deliver(ctx, batch)
}

func (s *Service) tick(ctx context.Context, batch int) {
	if ctx.Err() != nil {
		return
	}
	s.LogRejections()
	for i := 0; i < 10; i++ {
		n, err := s.SweepCallbacks(ctx, batch)
		if err != nil {
			s.Logger.Warn("callback sweep failed", "err", err)
		}
		if n < batch {
			break
		}
	}
	// A backlog (many payments due at once) is worked off in several
	// batches per tick, bounded so one tick cannot run away.
	for i := 0; i < 10; i++ {
		n, err := s.Reconcile(ctx, batch)
		if err != nil {
			s.Logger.Warn("reconcile failed", "err", err)
		}
		if n < batch {
			break
		}
	}
}

func (s *Service) deliver(ctx context.Context, batch int) {
	if ctx.Err() != nil {
		return
	}
	// A pass claims what its requests can carry, no more: what it claims
	// must be sent within the lease (or the lease renewed).
	claim := s.notifiers() * s.notificationBatch()
	if !s.batchesTaken() || s.notificationBatch() == 1 {
		claim = s.notifiers() * 4
	}
	for i := 0; i < 10; i++ {
		n, err := s.DeliverNotifications(ctx, claim)
		if err != nil {
			s.Logger.Warn("outbox delivery failed", "err", err)
		}
		if n < claim {
			break
		}
	}
	// The backlog gauge is counted at most once a second, not at every
	// wake-up (one per processed callback under load).
	if now := s.now(); now.Sub(s.backlogAt) >= time.Second {
		s.backlogAt = now
		if n, err := s.Outbox.Backlog(ctx); err == nil {
			s.backlog.Store(int64(n))
		}
	}
}

// kickSweep wakes the periodic loop so recorded callbacks that the
// in-memory queue could not take are processed now.
func (s *Service) kickSweep() {
	select {
	case s.sweep <- struct{}{}:
	default:
	}
}

// kickOutbox wakes the periodic loop so a fresh notification goes out now.
func (s *Service) kickOutbox() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}
