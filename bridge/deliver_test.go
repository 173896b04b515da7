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

// memOutbox is an in-memory outbox with the store's claim order (id).
type memOutbox struct {
	mu    sync.Mutex
	now   func() time.Time
	rows  []*bridge.Notification
	lease map[int64]bool
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
	var out []*bridge.Notification
	for _, n := range o.rows {
		if len(out) < limit && n.DeliveredAt == nil && !n.NextAttempt.After(o.now()) && !o.lease[n.ID] {
			o.lease[n.ID] = true
			c := *n
			out = append(out, &c)
		}
	}
	return out, nil
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

// scriptedWordPress answers notifications with fail(n) and records every attempt.
type scriptedWordPress struct {
	fail     func(n *bridge.Notification) error
	attempts []string
}

func (w *scriptedWordPress) Notify(_ context.Context, n *bridge.Notification) error {
	w.attempts = append(w.attempts, n.EventID)
	return w.fail(n)
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
	r.pass(t)
	first := len(r.wp.attempts)
	if first != 1 {
		t.Fatalf("first pass against a down WordPress made %d requests, want 1", first)
	}
	for i := 0; i < 360; i++ {
		r.clock = r.clock.Add(5 * time.Second)
		before := len(r.wp.attempts)
		r.pass(t)
		if got := len(r.wp.attempts) - before; got != 1 {
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
	if got, want := fmt.Sprint(r.wp.attempts), "[ev-1 ev-2 ev-4]"; got != want {
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
	if got, want := fmt.Sprint(r.wp.attempts), "[ev-1 ev-3]"; got != want {
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
