package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"
)

// Notifying WordPress: the notification a change queues and the delivery
// of the outbox to the plugin.

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
	forEach(reqs, s.notifiers(), func(req []*Notification) { d.send(ctx, req) })
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
