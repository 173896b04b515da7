package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
)

// memOutbox is an in-memory outbox with the store's claim order (id) and
// its rule that an order's notification is never claimed without the
// order's earlier undelivered ones.
type memOutbox struct {
	mu     sync.Mutex
	now    func() time.Time
	rows   []*bridge.Notification
	lease  map[int64]bool
	claims int
}

func (o *memOutbox) Enqueue(_ context.Context, n *bridge.Notification) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	n.ID = int64(len(o.rows) + 1)
	if n.NextAttempt.IsZero() {
		n.NextAttempt = o.now()
	}
	o.rows = append(o.rows, n)
	return nil
}

func (o *memOutbox) ClaimNotifications(_ context.Context, _ string, limit int, _ time.Duration) ([]*bridge.Notification, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.claims++
	var out []*bridge.Notification
	blocked := map[int64]bool{} // orders with an earlier undelivered notification not claimed
	for _, n := range o.rows {
		if n.DeliveredAt != nil {
			continue
		}
		if len(out) < limit && !blocked[n.OrderID] && !n.NextAttempt.After(o.now()) && !o.lease[n.ID] {
			o.lease[n.ID] = true
			c := *n
			c.Lease = "mem"
			out = append(out, &c)
			continue
		}
		blocked[n.OrderID] = true
	}
	return out, nil
}

func (o *memOutbox) FinishDelivered(ctx context.Context, lease string, ids []int64) error {
	for _, id := range ids {
		if err := o.FinishNotification(ctx, id, lease, true, "", time.Time{}); err != nil {
			return err
		}
	}
	return nil
}

func (o *memOutbox) RenewNotifications(_ context.Context, _ string, ids []int64, _ time.Duration) ([]int64, error) {
	return ids, nil
}

func (o *memOutbox) FinishNotification(_ context.Context, id int64, _ string, delivered bool, lastError string, next time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := o.rows[id-1]
	delete(o.lease, id)
	n.Attempts++
	n.LastError = lastError
	if delivered {
		t := o.now()
		n.DeliveredAt = &t
	} else {
		n.NextAttempt = next
	}
	return nil
}

func (o *memOutbox) RetryNow(context.Context) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := 0
	for _, n := range o.rows {
		if n.DeliveredAt == nil && n.NextAttempt.After(o.now()) {
			n.NextAttempt = o.now()
			k++
		}
	}
	return k, nil
}

func (o *memOutbox) Backlog(context.Context) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := 0
	for _, n := range o.rows {
		if n.DeliveredAt == nil {
			k++
		}
	}
	return k, nil
}

func (o *memOutbox) next(id int64) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.rows[id-1].NextAttempt
}

// scriptedWordPress answers notifications with fail(n) and records every
// attempt; several requests may be in flight at once.
type scriptedWordPress struct {
	mu       sync.Mutex
	fail     func(n *bridge.Notification) error
	attempts []string
}

func (w *scriptedWordPress) Notify(_ context.Context, n *bridge.Notification) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.attempts = append(w.attempts, n.EventID)
	return w.fail(n)
}

// tried returns the attempts so far, sorted (requests run concurrently).
func (w *scriptedWordPress) tried() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := append([]string(nil), w.attempts...)
	sort.Strings(out)
	return out
}

func (w *scriptedWordPress) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.attempts)
}

type deliveryRig struct {
	clock  time.Time
	outbox *memOutbox
	wp     *scriptedWordPress
	svc    *bridge.Service
}

func newDeliveryRig(t *testing.T, orders ...int64) *deliveryRig {
	t.Helper()
	r := &deliveryRig{clock: time.Date(2026, 11, 21, 17, 0, 0, 0, time.UTC)}
	now := func() time.Time { return r.clock }
	r.outbox = &memOutbox{now: now, lease: map[int64]bool{}}
	r.wp = &scriptedWordPress{fail: func(*bridge.Notification) error { return nil }}
	r.svc = bridge.NewService(bridge.Service{Outbox: r.outbox, Notifier: r.wp, Now: now})
	for i, o := range orders {
		if err := r.outbox.Enqueue(context.Background(), &bridge.Notification{EventID: fmt.Sprintf("ev-%d", i+1), OrderID: o}); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// pass runs one delivery pass the way the worker does: batches while full.
func (r *deliveryRig) pass(t *testing.T) {
	t.Helper()
	for i := 0; i < 10; i++ {
		n, err := r.svc.DeliverNotifications(context.Background(), 100)
		if err != nil {
			t.Fatal(err)
		}
		if n < 100 {
			return
		}
	}
}

func (r *deliveryRig) backlog(t *testing.T) int {
	t.Helper()
	n, _ := r.outbox.Backlog(context.Background())
	return n
}

var errDown = fmt.Errorf("notify wordpress: connection refused: %w", bridge.ErrWordPressDown)

// TestDeliveryFollowsWordPressBack: while WordPress is down a backlog costs
// it one request per pass, every waiting notification is retried within a
// second whatever its attempts, and the first answer releases the whole
// backlog in the same pass.
func TestDeliveryFollowsWordPressBack(t *testing.T) {
	orders := make([]int64, 50)
	for i := range orders {
		orders[i] = int64(100 + i)
	}
	r := newDeliveryRig(t, orders...)
	r.wp.fail = func(*bridge.Notification) error { return errDown }

	// The outage lasts 30 minutes of passes every 5 seconds: without a cap,
	// exponential back-off would have reached 30 minutes by then.
	// The pass that finds it down has at most its requests in flight.
	r.pass(t)
	first := r.wp.count()
	if first < 1 || first > bridge.DefaultNotifiers {
		t.Fatalf("first pass against a down WordPress made %d requests, want 1 to %d", first, bridge.DefaultNotifiers)
	}
	for i := 0; i < 360; i++ {
		r.clock = r.clock.Add(5 * time.Second)
		before := r.wp.count()
		r.pass(t)
		if got := r.wp.count() - before; got != 1 {
			t.Fatalf("pass %d while WordPress is down made %d requests, want 1", i, got)
		}
	}
	for id := int64(1); id <= 50; id++ {
		if wait := r.outbox.next(id).Sub(r.clock); wait > 30*time.Second {
			t.Fatalf("notification %d waits %v after 30 minutes of outage; the back-off must stay capped", id, wait)
		}
	}

	// WordPress answers again: the next pass finds it and delivers everything.
	r.wp.fail = func(*bridge.Notification) error { return nil }
	r.clock = r.clock.Add(5 * time.Second)
	r.pass(t)
	if n := r.backlog(t); n != 0 {
		t.Fatalf("backlog after the first pass with WordPress back: %d, want 0", n)
	}
}

// TestDeliveryOneOrderFailing: WordPress answers, but one order's finishing
// fails: that notification backs off exponentially, the order's later
// notification waits for it, and every other order is delivered.
func TestDeliveryOneOrderFailing(t *testing.T) {
	r := newDeliveryRig(t, 7, 8, 7, 9)
	refused := errors.New("notify wordpress: http 503: {\"code\":\"unavailable\"}")
	r.wp.fail = func(n *bridge.Notification) error {
		if n.OrderID == 7 {
			return refused
		}
		return nil
	}
	r.pass(t)
	if got, want := fmt.Sprint(r.wp.tried()), "[ev-1 ev-2 ev-4]"; got != want {
		t.Fatalf("attempts %s, want %s (ev-3 is order 7's second notification and waits)", got, want)
	}
	if n := r.backlog(t); n != 2 {
		t.Fatalf("backlog %d, want 2 (order 7's)", n)
	}
	var waits []time.Duration
	for _, id := range []int64{1, 3} {
		waits = append(waits, r.outbox.next(id).Sub(r.clock))
	}
	if waits[0] != 5*time.Second || waits[1] != waits[0] {
		t.Fatalf("order 7 waits %v, want 5s for both notifications", waits)
	}
	// Repeated failures back off further; the other orders are untouched.
	for i := 0; i < 20; i++ {
		r.clock = r.outbox.next(1)
		r.pass(t)
	}
	if wait := r.outbox.next(1).Sub(r.clock); wait != 30*time.Minute {
		t.Fatalf("after 21 failures order 7 waits %v, want 30m", wait)
	}
	// Once it is finished, the order's later notification follows in order.
	r.wp.fail = func(*bridge.Notification) error { return nil }
	r.clock = r.outbox.next(1)
	r.wp.attempts = nil
	r.pass(t)
	if got, want := fmt.Sprint(r.wp.tried()), "[ev-1 ev-3]"; got != want {
		t.Fatalf("attempts %s, want %s", got, want)
	}
}

// TestDeliveryOrderOfEvents: with WordPress flapping, each order's events
// still reach it in the order they were queued.
func TestDeliveryOrderOfEvents(t *testing.T) {
	r := newDeliveryRig(t, 1, 2, 1, 2, 1, 3)
	calls := 0
	r.wp.fail = func(*bridge.Notification) error {
		calls++
		if calls%3 == 0 {
			return errDown
		}
		return nil
	}
	for i := 0; i < 50 && r.backlog(t) > 0; i++ {
		r.pass(t)
		r.clock = r.clock.Add(5 * time.Second)
	}
	if n := r.backlog(t); n != 0 {
		t.Fatalf("backlog %d after 50 passes", n)
	}
	seen := map[string]int{}
	order := map[int64][]int{}
	for i, ev := range r.wp.attempts {
		if _, ok := seen[ev]; !ok {
			seen[ev] = i
		}
	}
	for id, n := range r.outbox.rows {
		order[n.OrderID] = append(order[n.OrderID], seen[n.EventID])
		_ = id
	}
	for o, idx := range order {
		if !sort.IntsAreSorted(idx) {
			t.Errorf("order %d: events first tried at positions %v, want increasing", o, idx)
		}
	}
}

// batchWordPress takes notifications in batches and records each request.
type batchWordPress struct {
	scriptedWordPress
	requests    [][]string
	inFlight    int
	most        int
	unsupported bool
	onRequest   func() // called for each request, outside the lock
}

func (w *batchWordPress) NotifyBatch(_ context.Context, ns []*bridge.Notification) []error {
	w.mu.Lock()
	w.inFlight++
	w.most = max(w.most, w.inFlight)
	w.mu.Unlock()
	if w.onRequest != nil {
		w.onRequest()
	}
	time.Sleep(2 * time.Millisecond)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inFlight--
	errs := make([]error, len(ns))
	if w.unsupported {
		for i := range errs {
			errs[i] = bridge.ErrBatchUnsupported
		}
		return errs
	}
	var ids []string
	for i, n := range ns {
		ids = append(ids, n.EventID)
		w.attempts = append(w.attempts, n.EventID)
		errs[i] = w.fail(n)
	}
	w.requests = append(w.requests, ids)
	return errs
}

func newBatchRig(t *testing.T, svc bridge.Service, orders ...int64) (*deliveryRig, *batchWordPress) {
	t.Helper()
	r := &deliveryRig{clock: time.Date(2026, 11, 21, 17, 0, 0, 0, time.UTC)}
	now := func() time.Time { return r.clock }
	r.outbox = &memOutbox{now: now, lease: map[int64]bool{}}
	wp := &batchWordPress{scriptedWordPress: scriptedWordPress{fail: func(*bridge.Notification) error { return nil }}}
	r.wp = &wp.scriptedWordPress
	svc.Outbox, svc.Notifier, svc.Now = r.outbox, wp, now
	r.svc = bridge.NewService(svc)
	for i, o := range orders {
		if err := r.outbox.Enqueue(context.Background(), &bridge.Notification{EventID: fmt.Sprintf("ev-%02d", i+1), OrderID: o}); err != nil {
			t.Fatal(err)
		}
	}
	return r, wp
}

// TestDeliveryBatches: one pass sends the backlog in requests of up to
// NotificationBatch events, at most Notifiers at once; an order's events
// go in one request, in the order they were queued.
func TestDeliveryBatches(t *testing.T) {
	var orders []int64
	for i := range 40 {
		orders = append(orders, int64(500+i))
	}
	orders = append(orders, orders[:20]...) // 20 orders with a second event
	r, wp := newBatchRig(t, bridge.Service{Notifiers: 3, NotificationBatch: 7}, orders...)
	if _, err := r.svc.DeliverNotifications(context.Background(), 200); err != nil {
		t.Fatal(err)
	}
	if n := r.backlog(t); n != 0 {
		t.Fatalf("backlog %d after one pass, want 0", n)
	}
	if wp.most > 3 {
		t.Errorf("%d requests in flight at once, want at most 3", wp.most)
	}
	if len(wp.requests) < 60/7 || len(wp.requests) > 60/6+1 {
		t.Errorf("%d requests for 60 events in batches of 7", len(wp.requests))
	}
	where := map[int64]int{} // order -> its request
	for i, req := range wp.requests {
		if len(req) > 7 {
			t.Errorf("request %d carries %d events, want at most 7", i, len(req))
		}
		last := map[int64]int{} // order -> its last event in this request
		for _, ev := range req {
			var k int
			fmt.Sscanf(ev, "ev-%d", &k)
			o := orders[k-1]
			if j, ok := where[o]; ok && j != i {
				t.Errorf("order %d's events went in requests %d and %d", o, j, i)
			}
			where[o] = i
			if last[o] > k {
				t.Errorf("request %d: order %d's events %v out of queue order", i, o, req)
			}
			last[o] = k
		}
	}
}

// TestDeliveryOlderPlugin: a plugin that refuses batches gets the events one
// by one, and is not sent a batch again for a while.
func TestDeliveryOlderPlugin(t *testing.T) {
	r, wp := newBatchRig(t, bridge.Service{}, 1, 2, 3, 1)
	wp.unsupported = true
	r.pass(t)
	if n := r.backlog(t); n != 0 {
		t.Fatalf("backlog %d, want 0", n)
	}
	if got, want := fmt.Sprint(r.wp.tried()), "[ev-01 ev-02 ev-03 ev-04]"; got != want {
		t.Fatalf("delivered one by one: %s, want %s", got, want)
	}
	if err := r.outbox.Enqueue(context.Background(), &bridge.Notification{EventID: "ev-05", OrderID: 7}); err != nil {
		t.Fatal(err)
	}
	if err := r.outbox.Enqueue(context.Background(), &bridge.Notification{EventID: "ev-06", OrderID: 8}); err != nil {
		t.Fatal(err)
	}
	wp.unsupported = false
	r.pass(t)
	if len(wp.requests) != 0 {
		t.Errorf("a batch was tried again right after the plugin refused one: %v", wp.requests)
	}
}

// renewingOutbox loses some notifications to another replica when their
// lease is renewed.
type renewingOutbox struct {
	*memOutbox
	renewals int
	lost     map[int64]bool
}

func (o *renewingOutbox) RenewNotifications(_ context.Context, _ string, ids []int64, _ time.Duration) ([]int64, error) {
	o.renewals++
	var held []int64
	for _, id := range ids {
		if !o.lost[id] {
			held = append(held, id)
		}
	}
	return held, nil
}

// TestDeliveryRenewsLeases: a request that could outlast the lease on its
// notifications renews it first; a notification another replica took
// meanwhile is not sent (it would reach WordPress twice), nor recorded.
func TestDeliveryRenewsLeases(t *testing.T) {
	r, wp := newBatchRig(t, bridge.Service{Notifiers: 1, NotificationBatch: 2}, 1, 2, 3, 4, 5, 6)
	out := &renewingOutbox{memOutbox: r.outbox, lost: map[int64]bool{5: true}}
	r.svc = bridge.NewService(bridge.Service{Outbox: out, Notifier: wp, Now: func() time.Time { return r.clock }, Notifiers: 1, NotificationBatch: 2})
	// WordPress takes 10 seconds a request: the third starts 20 seconds
	// into a 30-second lease.
	wp.onRequest = func() { r.clock = r.clock.Add(10 * time.Second) }
	if _, err := r.svc.DeliverNotifications(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	if out.renewals == 0 {
		t.Fatal("no lease renewed before a request that could outlast it")
	}
	if got, want := fmt.Sprint(wp.tried()), "[ev-01 ev-02 ev-03 ev-04 ev-06]"; got != want {
		t.Fatalf("sent %s, want %s (ev-05 was taken over)", got, want)
	}
	if n := r.outbox.rows[4]; n.DeliveredAt != nil || n.Attempts != 0 {
		t.Fatalf("the notification taken over was recorded: %+v", n)
	}
}

// TestDeliveryLingers: notifications queued one after another, each waking
// the outbox loop, go out in one claim and one request when they come
// within workers.notify_linger of the first.
func TestDeliveryLingers(t *testing.T) {
	r, wp := newBatchRig(t, bridge.Service{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.svc.OutboxLoop(ctx, bridge.WorkerConfig{Interval: time.Hour, BatchSize: 100, NotifyLinger: 300 * time.Millisecond})
	}()
	defer func() { cancel(); <-done }()
	claims := func() int {
		r.outbox.mu.Lock()
		defer r.outbox.mu.Unlock()
		return r.outbox.claims
	}
	for claims() == 0 { // the loop's first pass, with nothing queued yet
		time.Sleep(time.Millisecond)
	}
	for i := range 4 {
		if err := r.outbox.Enqueue(ctx, &bridge.Notification{EventID: fmt.Sprintf("ev-%02d", i+1), OrderID: int64(700 + i)}); err != nil {
			t.Fatal(err)
		}
		r.svc.KickOutbox()
		time.Sleep(10 * time.Millisecond)
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.backlog(t) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := r.backlog(t); n != 0 {
		t.Fatalf("backlog %d, want 0", n)
	}
	wp.mu.Lock()
	defer wp.mu.Unlock()
	if len(wp.requests) != 1 || len(wp.requests[0]) != 4 {
		t.Errorf("requests %v, want the four events in one", wp.requests)
	}
	if n := claims(); n != 2 {
		t.Errorf("%d claims, want 2 (the first pass, then one for the four)", n)
	}
}
