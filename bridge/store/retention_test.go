package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/store"
)

// TestPurge: old processed callbacks and old delivered notifications go, in
// batches; whatever still has work to do, or is recent, stays; refused
// callbacks an older version stored go whatever their age; expired leases
// on finished payments are released; payments are never deleted.
func TestPurge(t *testing.T) {
	ctx := context.Background()
	s, clk, db := newStore(t)
	day := 24 * time.Hour

	// 5 callbacks processed 100 days ago, 1 processed yesterday, 1 never
	// processed, 3 refused ones an older version stored.
	var old, fresh, pending int64
	for i := range 5 {
		c, _ := record(t, s, &bridge.Callback{Gateway: "streampay", Body: []byte(fmt.Sprintf(`{"old":%d}`, i)), Verified: true, PaymentKey: "p"})
		if err := s.FinishCallback(ctx, c.ID, "", "applied", true, time.Time{}); err != nil {
			t.Fatal(err)
		}
		old = c.ID
	}
	clk.Add(99 * day)
	c, _ := record(t, s, &bridge.Callback{Gateway: "streampay", Body: []byte(`{"fresh":1}`), Verified: true, PaymentKey: "p"})
	s.FinishCallback(ctx, c.ID, "", "applied", true, time.Time{})
	fresh = c.ID
	c, _ = record(t, s, &bridge.Callback{Gateway: "streampay", Body: []byte(`{"pending":1}`), Verified: true, PaymentKey: "p"})
	pending = c.ID
	for i := range 3 {
		record(t, s, &bridge.Callback{Gateway: "cryptocloud", Body: []byte(fmt.Sprintf(`{"forged":%d}`, i)), Reason: "signature invalid"})
	}
	clk.Add(-99 * day)

	// 4 notifications delivered 100 days ago, 1 delivered yesterday, 1 not delivered.
	var undelivered int64
	for i := range 6 {
		n := &bridge.Notification{EventID: fmt.Sprintf("e%d", i), OrderID: 1, Payload: []byte(`{}`)}
		if i == 4 {
			clk.Add(99 * day)
		}
		if err := s.Enqueue(ctx, n); err != nil {
			t.Fatal(err)
		}
		if i == 5 {
			undelivered = n.ID
			continue
		}
		if err := s.FinishNotification(ctx, n.ID, "", true, "", time.Time{}); err != nil {
			t.Fatal(err)
		}
	}

	// A paid, applied payment whose lease a dead replica left behind.
	p := newPayment(t, 7, bridge.PaymentPending)
	if _, err := s.CreatePayment(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdatePayment(ctx, p.ID, func(q *bridge.Payment) (*bridge.Notification, error) {
		q.Status, q.AppliedStatus = bridge.PaymentPaid, bridge.PaymentPaid
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DB.Exec("UPDATE wp_wcbridge_payments SET lease_owner = 'dead', lease_until = ? WHERE id = ?", clk.Now().Add(-time.Hour).UTC().Format("2006-01-02 15:04:05"), p.ID); err != nil {
		t.Fatal(err)
	}

	now := clk.Now()
	cut := now.Add(-90 * day)
	got, err := s.Purge(ctx, cut, cut, 2, 2) // at most 2 statements of 2 rows per kind
	if err != nil {
		t.Fatal(err)
	}
	if got.Callbacks != 4+3 || got.Notifications != 4 || got.Leases != 1 {
		t.Fatalf("first pass = %+v, want 4 old callbacks (2 batches of 2), 3 refused, 4 notifications, 1 lease", got)
	}
	got, err = s.Purge(ctx, cut, cut, 2, 2)
	if err != nil || got.Callbacks != 1 || got.Notifications != 0 || got.Leases != 0 {
		t.Fatalf("second pass = %+v, %v; want the last old callback", got, err)
	}
	if got, _ := s.Purge(ctx, cut, cut, 2, 2); got.Total() != 0 {
		t.Fatalf("third pass = %+v, want nothing left", got)
	}
	count := func(q string, args ...any) int {
		var n int
		if err := db.DB.QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count("SELECT COUNT(*) FROM wp_wcbridge_callbacks WHERE id <= ?", old); n != 0 {
		t.Errorf("%d old processed callbacks left", n)
	}
	if n := count("SELECT COUNT(*) FROM wp_wcbridge_callbacks WHERE id IN (?, ?)", fresh, pending); n != 2 {
		t.Errorf("recent and unprocessed callbacks: %d left, want 2", n)
	}
	if n := count("SELECT COUNT(*) FROM wp_wcbridge_callbacks WHERE verified = 0"); n != 0 {
		t.Errorf("%d refused callbacks left", n)
	}
	if n := count("SELECT COUNT(*) FROM wp_wcbridge_outbox"); n != 2 {
		t.Errorf("%d notifications left, want the recent and the undelivered", n)
	}
	if n := count("SELECT COUNT(*) FROM wp_wcbridge_outbox WHERE id = ?", undelivered); n != 1 {
		t.Error("the undelivered notification was deleted")
	}
	if n := count("SELECT COUNT(*) FROM wp_wcbridge_payments WHERE id = ? AND lease_owner IS NULL", p.ID); n != 1 {
		t.Error("the payment is gone or still leased")
	}
}

// TestSeenRequest: an id is recorded once, whichever store (replica) sees
// it first; it is deleted once its signature has expired.
func TestSeenRequest(t *testing.T) {
	ctx := context.Background()
	s, clk, db := newStore(t)
	other, err := store.Open(db.DB, "wp_", store.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	exp := clk.Now().Add(5 * time.Minute)
	if seen, err := s.SeenRequest(ctx, "7f8c1e2a9b3d4c5e6f708192a3b4c5d6", exp); err != nil || seen {
		t.Fatalf("first time: seen=%v err=%v", seen, err)
	}
	for _, st := range []*store.Store{s, other} {
		if seen, err := st.SeenRequest(ctx, "7f8c1e2a9b3d4c5e6f708192a3b4c5d6", exp); err != nil || !seen {
			t.Fatalf("again: seen=%v err=%v, want seen", seen, err)
		}
	}
	s.SeenRequest(ctx, "later-id-0000000000000000000000", clk.Now().Add(time.Hour))
	clk.Add(6 * time.Minute)
	got, err := s.Purge(ctx, clk.Now().Add(-24*time.Hour), clk.Now().Add(-24*time.Hour), 100, 2)
	if err != nil || got.RequestIDs != 1 {
		t.Fatalf("purge = %+v, %v; want the expired id deleted", got, err)
	}
	if seen, _ := s.SeenRequest(ctx, "later-id-0000000000000000000000", clk.Now().Add(time.Hour)); !seen {
		t.Error("an id still within its window was deleted")
	}
}
