package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
)

func notificationIDs(ns []*bridge.Notification) []int64 {
	out := make([]int64, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

func TestOutbox(t *testing.T) {
	ctx := context.Background()
	s, clk, _ := newStore(t)
	var ids []int64
	for i := range 3 {
		n := &bridge.Notification{EventID: fmt.Sprintf("evt-%d", i), OrderID: int64(40 + i), Payload: fmt.Appendf(nil, `{"order_id":%d,"note":"ünïcode"}`, 40+i)}
		if err := s.Enqueue(ctx, n); err != nil {
			t.Fatal(err)
		}
		if n.ID == 0 {
			t.Fatal("enqueued notification has no id")
		}
		ids = append(ids, n.ID)
		clk.Add(time.Second)
	}
	// A duplicate event id queues nothing and points at the queued row.
	dup := &bridge.Notification{EventID: "evt-1", OrderID: 99, Payload: []byte(`{}`)}
	if err := s.Enqueue(ctx, dup); err != nil {
		t.Fatal(err)
	}
	if dup.ID != ids[1] {
		t.Fatalf("duplicate event id got id %d, want the queued %d", dup.ID, ids[1])
	}
	if n, err := s.Backlog(ctx); err != nil || n != 3 {
		t.Fatalf("backlog = %d, %v; want 3", n, err)
	}

	got, err := s.ClaimNotifications(ctx, "a", 2, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(notificationIDs(got)) != fmt.Sprint(ids[:2]) {
		t.Fatalf("claim a = %v, want oldest first %v", notificationIDs(got), ids[:2])
	}
	if got[1].OrderID != 41 || string(got[1].Payload) != `{"order_id":41,"note":"ünïcode"}` || got[1].DeliveredAt != nil {
		t.Fatalf("claimed notification = %+v", got[1])
	}
	if got, _ := s.ClaimNotifications(ctx, "b", 10, time.Minute); fmt.Sprint(notificationIDs(got)) != fmt.Sprint(ids[2:]) {
		t.Fatalf("claim b = %v, want %v", notificationIDs(got), ids[2:])
	}
	if got[0].Lease == "" {
		t.Fatalf("claimed notification has no lease")
	}

	if err := s.FinishNotification(ctx, ids[0], got[0].Lease, true, "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	retry := clk.Now().Add(time.Hour)
	if err := s.FinishNotification(ctx, ids[1], got[1].Lease, false, "wordpress answered 500", retry); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Backlog(ctx); n != 2 {
		t.Fatalf("backlog after one delivery = %d, want 2", n)
	}
	n, err := s.Notification(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if n.Attempts != 1 || n.LastError != "wordpress answered 500" || !n.NextAttempt.Equal(retry.Truncate(time.Microsecond)) {
		t.Fatalf("failed delivery = attempts %d error %q next %v", n.Attempts, n.LastError, n.NextAttempt)
	}
	if n, _ := s.Notification(ctx, ids[0]); n.DeliveredAt == nil || !n.DeliveredAt.Equal(clk.Now().Truncate(time.Microsecond)) {
		t.Fatalf("delivered at = %v, want now", n.DeliveredAt)
	}
	if err := s.FinishNotification(ctx, 9999, "", true, "", time.Time{}); bridge.ErrorCode(err) != bridge.ENOTFOUND {
		t.Fatalf("finish unknown notification: err = %v, want not found", err)
	}
	if err := s.Enqueue(ctx, &bridge.Notification{OrderID: 1}); bridge.ErrorCode(err) != bridge.EINVALID {
		t.Fatalf("enqueue without event id: err = %v, want invalid", err)
	}
}

// TestOutboxRetryNow: after an outage every undelivered notification becomes
// due at once, whatever its back-off; delivered ones stay delivered.
func TestOutboxRetryNow(t *testing.T) {
	ctx := context.Background()
	s, clk, _ := newStore(t)
	var ids []int64
	for i := range 3 {
		n := &bridge.Notification{EventID: fmt.Sprintf("later-%d", i), OrderID: int64(i + 1), Payload: []byte(`{}`)}
		if err := s.Enqueue(ctx, n); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, n.ID)
	}
	claimed, err := s.ClaimNotifications(ctx, "a", 10, time.Minute)
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claim = %v, %v; want 3", notificationIDs(claimed), err)
	}
	if err := s.FinishNotification(ctx, ids[0], claimed[0].Lease, true, "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range claimed[1:] {
		if err := s.FinishNotification(ctx, n.ID, n.Lease, false, "down", clk.Now().Add(30*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.ClaimNotifications(ctx, "b", 10, time.Minute); len(got) != 0 {
		t.Fatalf("claimed %v before their retry time", notificationIDs(got))
	}
	n, err := s.RetryNow(ctx)
	if err != nil || n != 2 {
		t.Fatalf("RetryNow = %d, %v; want 2", n, err)
	}
	if got, _ := s.ClaimNotifications(ctx, "b", 10, time.Minute); fmt.Sprint(notificationIDs(got)) != fmt.Sprint(ids[1:]) {
		t.Fatalf("claim after RetryNow = %v, want %v", notificationIDs(got), ids[1:])
	}
	if n, _ := s.RetryNow(ctx); n != 0 {
		t.Fatalf("second RetryNow = %d, want 0 (nothing waits)", n)
	}
}

// TestNotificationLeases: leases end by the database's clock; a replica
// whose lease ran out cannot record a failure over the claim of the one
// that took the notification over, and a delivery is recorded whoever
// holds it.
func TestNotificationLeases(t *testing.T) {
	ctx := context.Background()
	s, clk, db := newStore(t)
	var ids []int64
	for i := range 2 {
		n := &bridge.Notification{EventID: fmt.Sprintf("lease-%d", i), OrderID: int64(70 + i), Payload: []byte(`{}`)}
		if err := s.Enqueue(ctx, n); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, n.ID)
	}
	a, err := s.ClaimNotifications(ctx, "a", 10, time.Minute)
	if err != nil || len(a) != 2 {
		t.Fatalf("claim a = %v, %v", notificationIDs(a), err)
	}
	for _, id := range ids {
		if !leaseHeld(t, db, "wcbridge_outbox", id, time.Minute) {
			t.Fatalf("notification %d: not leased for a minute by the database's clock", id)
		}
	}
	// The replicas' clocks do not matter: moving this one's changes nothing.
	clk.Add(time.Hour)
	if got, _ := s.ClaimNotifications(ctx, "b", 10, time.Minute); len(got) != 0 {
		t.Fatalf("claim b while a holds them = %v, want none", notificationIDs(got))
	}
	// a's last renewal is short, and ends by the database's clock.
	if held, err := s.RenewNotifications(ctx, a[0].Lease, ids, 50*time.Millisecond); err != nil || len(held) != 2 {
		t.Fatalf("renew a = %v, %v", held, err)
	}
	for _, id := range ids {
		waitLeaseEnded(t, db, "wcbridge_outbox", id)
	}
	b, err := s.ClaimNotifications(ctx, "b", 10, time.Minute)
	if err != nil || len(b) != 2 {
		t.Fatalf("claim b after a's lease ended = %v, %v", notificationIDs(b), err)
	}
	if b[0].Lease == a[0].Lease {
		t.Fatal("two claims share a lease")
	}
	if err := s.FinishNotification(ctx, ids[0], a[0].Lease, false, "timeout", clk.Now()); !errors.Is(err, bridge.ErrLeaseLost) {
		t.Fatalf("a records a failure after losing the lease: err = %v, want ErrLeaseLost", err)
	}
	if n, _ := s.Notification(ctx, ids[0]); n.Attempts != 0 || n.LastError != "" {
		t.Fatalf("a's late failure was recorded: attempts %d error %q", n.Attempts, n.LastError)
	}
	if err := s.FinishNotification(ctx, ids[1], a[1].Lease, true, "", time.Time{}); !errors.Is(err, bridge.ErrLeaseLost) {
		t.Fatalf("a records a delivery after losing the lease: err = %v, want ErrLeaseLost", err)
	}
	if n, _ := s.Notification(ctx, ids[1]); n.DeliveredAt == nil {
		t.Fatal("a's delivery after losing the lease is not recorded")
	}
	// b still holds ids[0] and records its own outcome.
	if err := s.FinishNotification(ctx, ids[0], b[0].Lease, true, "", time.Time{}); err != nil {
		t.Fatal(err)
	}
}

// TestFinishDeliveredAndRenew: many deliveries are recorded in one call; a
// renewal keeps what the lease still holds and says what it does not.
func TestFinishDeliveredAndRenew(t *testing.T) {
	ctx := context.Background()
	s, _, db := newStore(t)
	var ids []int64
	for i := range 4 {
		n := &bridge.Notification{EventID: fmt.Sprintf("many-%d", i), OrderID: int64(80 + i), Payload: []byte(`{}`)}
		if err := s.Enqueue(ctx, n); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, n.ID)
	}
	const short = 300 * time.Millisecond
	a, err := s.ClaimNotifications(ctx, "a", 10, short)
	if err != nil || len(a) != 4 {
		t.Fatalf("claim = %v, %v", notificationIDs(a), err)
	}
	lease := a[0].Lease
	// Renewed in time: a's lease outlives the first one.
	if held, err := s.RenewNotifications(ctx, lease, ids, time.Minute); err != nil || len(held) != 4 {
		t.Fatalf("renew = %v, %v; want all 4", held, err)
	}
	time.Sleep(short + 100*time.Millisecond) // past the first lease's end
	if got, _ := s.ClaimNotifications(ctx, "b", 10, time.Minute); len(got) != 0 {
		t.Fatalf("b claimed %v while a's renewed lease holds", notificationIDs(got))
	}
	if err := s.FinishDelivered(ctx, lease, ids[:2]); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[:2] {
		if n, _ := s.Notification(ctx, id); n.DeliveredAt == nil || n.Attempts != 1 {
			t.Fatalf("notification %d: delivered %v attempts %d", id, n.DeliveredAt, n.Attempts)
		}
	}
	if n, _ := s.Backlog(ctx); n != 2 {
		t.Fatalf("backlog = %d, want 2", n)
	}
	// ids[3] is taken over by b once a's lease on it ends; ids[2]'s holds.
	if held, _ := s.RenewNotifications(ctx, lease, ids[2:3], time.Minute); len(held) != 1 {
		t.Fatalf("renew ids[2] = %v", held)
	}
	if _, err := s.RenewNotifications(ctx, lease, ids[3:], 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitLeaseEnded(t, db, "wcbridge_outbox", ids[3])
	b, _ := s.ClaimNotifications(ctx, "b", 10, time.Minute)
	if fmt.Sprint(notificationIDs(b)) != fmt.Sprint(ids[3:]) {
		t.Fatalf("b claimed %v, want %v", notificationIDs(b), ids[3:])
	}
	if held, err := s.RenewNotifications(ctx, lease, ids[2:], time.Minute); err != nil || fmt.Sprint(held) != fmt.Sprint(ids[2:3]) {
		t.Fatalf("renew after the takeover = %v, %v; want only %d", held, err, ids[2])
	}
	if err := s.FinishDelivered(ctx, lease, ids[2:]); !errors.Is(err, bridge.ErrLeaseLost) {
		t.Fatalf("finish delivered with one taken over: err = %v, want ErrLeaseLost", err)
	}
	if n, _ := s.Backlog(ctx); n != 0 {
		t.Fatalf("backlog = %d, want 0 (a delivery is recorded whoever holds it)", n)
	}
}

// TestClaimNotificationsInOrder: an order's notifications go out in the
// order they were queued; one waiting for its retry holds back the later
// ones of its order, and a claim never gets a later one without the earlier.
func TestClaimNotificationsInOrder(t *testing.T) {
	ctx := context.Background()
	s, clk, _ := newStore(t)
	enqueue := func(event string, order int64) int64 {
		n := &bridge.Notification{EventID: event, OrderID: order, Payload: []byte(`{}`)}
		if err := s.Enqueue(ctx, n); err != nil {
			t.Fatal(err)
		}
		return n.ID
	}
	first := enqueue("o1-a", 1)
	got, _ := s.ClaimNotifications(ctx, "a", 10, time.Minute)
	if len(got) != 1 {
		t.Fatalf("claim = %v", notificationIDs(got))
	}
	if err := s.FinishNotification(ctx, first, got[0].Lease, false, "refused", clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	later := enqueue("o1-b", 1)
	other := enqueue("o2-a", 2)
	got, _ = s.ClaimNotifications(ctx, "a", 10, time.Minute)
	if fmt.Sprint(notificationIDs(got)) != fmt.Sprint([]int64{other}) {
		t.Fatalf("claim while order 1's first waits = %v, want only %d", notificationIDs(got), other)
	}
	if n, _ := s.Notification(ctx, later); !n.NextAttempt.After(clk.Now().Add(59 * time.Minute)) {
		t.Fatalf("the held-back notification is due at %v, want with the earlier one an hour on", n.NextAttempt)
	}
	clk.Add(2 * time.Hour)
	got, _ = s.ClaimNotifications(ctx, "a", 10, time.Minute)
	if fmt.Sprint(notificationIDs(got)) != fmt.Sprint([]int64{first, later}) {
		t.Fatalf("claim once the first is due = %v, want %v", notificationIDs(got), []int64{first, later})
	}
}

func TestClaimNotificationsConcurrent(t *testing.T) {
	requireReal(t, "concurrent leasing UPDATEs")
	ctx := context.Background()
	s, _, _ := newStore(t)
	const n = 40
	for i := range n {
		if err := s.Enqueue(ctx, &bridge.Notification{EventID: fmt.Sprint("e", i), OrderID: int64(i), Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[int64]int{}
	)
	for _, owner := range []string{"a", "b", "c", "d"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ns, err := s.ClaimNotifications(ctx, owner, 3, time.Minute)
				if err != nil || len(ns) == 0 {
					if err != nil {
						t.Error(err)
					}
					return
				}
				mu.Lock()
				for _, x := range ns {
					seen[x.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("claimed %d notifications, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("notification %d claimed %d times", id, k)
		}
	}
}
