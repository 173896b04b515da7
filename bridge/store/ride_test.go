package store_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/store"
)

// applyWaiting starts an apply of one report (p paid, a notification
// queued) and returns once its transaction waits at its commit point for
// riders; done receives the update when UpdatePayments returned. runs
// counts the runs of its fn.
func applyWaiting(t *testing.T, s *store.Store, p *bridge.Payment, event string, runs *int) <-chan *store.PaymentUpdate {
	t.Helper()
	u := &store.PaymentUpdate{Ref: bridge.PaymentRef{ID: p.ID}, Wrote: func() bool { return false },
		Fn: func(_ *sql.Tx, q *bridge.Payment) (*bridge.Notification, error) {
			*runs++
			q.Status = bridge.PaymentPaid
			return &bridge.Notification{EventID: event, Payload: []byte(`{}`)}, nil
		}}
	done := make(chan *store.PaymentUpdate, 1)
	go func() {
		s.UpdatePayments(context.Background(), []*store.PaymentUpdate{u})
		done <- u
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if waiting, _ := s.Carriers(); waiting == 1 {
			return done
		}
		select {
		case <-done:
			t.Fatal("the apply committed without waiting for riders")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no apply transaction waits for riders")
		}
		time.Sleep(time.Millisecond)
	}
}

// A callback recorded while an apply waits at its commit point goes into
// that transaction: it is recorded once both commit, and the apply's
// payment and notification with it. Delivered notifications ride the same
// way. Without a waiting apply, each commits alone.
func TestRideApplyCommit(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	s.RideFor(t, time.Minute)
	p := mustCreate(t, s, newPayment(t, 900, bridge.PaymentPending))

	// Alone: no apply waits, nothing is carried.
	first, err := s.RecordCallbacks(ctx, []*bridge.Callback{{Gateway: "streampay", Body: []byte(`{"n":1}`), Verified: true, PaymentKey: "sp-1"}})
	if err != nil || first[0].Duplicate || first[0].Callback.ID == 0 {
		t.Fatalf("recorded alone: %+v, %v", first, err)
	}
	if _, carried := s.Carriers(); carried != 0 {
		t.Fatalf("carried %d writes with no apply waiting", carried)
	}

	runs := 0
	done := applyWaiting(t, s, p, "e-900", &runs)
	got, err := s.RecordCallbacks(ctx, []*bridge.Callback{
		{Gateway: "streampay", Body: []byte(`{"n":2}`), Verified: true, PaymentKey: "sp-2"},
		{Gateway: "streampay", Body: []byte(`{"n":1}`), Verified: true, PaymentKey: "sp-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	u := <-done
	if u.Err != nil || u.Payment.Status != bridge.PaymentPaid || runs != 1 {
		t.Fatalf("apply: %+v err %v runs %d", u.Payment, u.Err, runs)
	}
	if got[0].Duplicate || got[0].Callback.ID == 0 || !got[1].Duplicate || got[1].Callback.ID != first[0].Callback.ID {
		t.Fatalf("recorded riding: %+v %+v", got[0], got[1])
	}
	if _, carried := s.Carriers(); carried != 1 {
		t.Fatalf("carried %d writes, want the callbacks' one", carried)
	}
	if c, err := s.Callback(ctx, got[0].Callback.ID); err != nil || c.PaymentKey != "sp-2" {
		t.Fatalf("callback read back: %+v, %v", c, err)
	}
	if n, _ := s.Backlog(ctx); n != 1 {
		t.Fatalf("outbox backlog %d, want the apply's notification", n)
	}

	// Notifications recorded delivered ride the next waiting apply.
	ns, err := s.ClaimNotifications(ctx, "replica-a", 10, time.Minute)
	if err != nil || len(ns) != 1 {
		t.Fatalf("claimed %d, %v", len(ns), err)
	}
	p2 := mustCreate(t, s, newPayment(t, 901, bridge.PaymentPending))
	done = applyWaiting(t, s, p2, "e-901", &runs)
	if err := s.FinishDelivered(ctx, ns[0].Lease, []int64{ns[0].ID}); err != nil {
		t.Fatal(err)
	}
	if u := <-done; u.Err != nil {
		t.Fatal(u.Err)
	}
	if _, carried := s.Carriers(); carried != 2 {
		t.Fatalf("carried %d writes, want 2", carried)
	}
	if n, err := s.Notification(ctx, ns[0].ID); err != nil || n.DeliveredAt == nil {
		t.Fatalf("notification %+v, %v: want delivered", n, err)
	}
	// A second record of the same delivery finds the lease released: it
	// says so, and the delivery stays recorded.
	if err := s.FinishDelivered(ctx, ns[0].Lease, []int64{ns[0].ID}); !errors.Is(err, bridge.ErrLeaseLost) {
		t.Fatalf("second record: %v, want ErrLeaseLost", err)
	}
}

// A rider whose write fails fails the apply's transaction: the apply runs
// again alone and commits, the rider's write runs alone and fails on its
// own, and nothing of the first transaction remains.
func TestRideFailingRider(t *testing.T) {
	ctx := context.Background()
	s, _, db := newStore(t)
	s.RideFor(t, time.Minute)
	p := mustCreate(t, s, newPayment(t, 910, bridge.PaymentPending))
	runs := 0
	done := applyWaiting(t, s, p, "e-910", &runs)
	_, err := s.RecordCallbacks(ctx, []*bridge.Callback{
		{Gateway: "streampay", Body: []byte(`{"n":1}`), Verified: true},
		{Gateway: "", Body: []byte(`{"n":2}`), Verified: true}, // no gateway: refused
	})
	if bridge.ErrorCode(err) != bridge.EINVALID {
		t.Fatalf("record: %v, want invalid", err)
	}
	u := <-done
	if u.Err != nil || u.Payment.Status != bridge.PaymentPaid || runs != 2 {
		t.Fatalf("apply: %+v err %v runs %d, want paid on its second run", u.Payment, u.Err, runs)
	}
	if _, carried := s.Carriers(); carried != 0 {
		t.Fatalf("carried %d writes, want none", carried)
	}
	if n, _ := s.Backlog(ctx); n != 1 {
		t.Fatalf("outbox backlog %d, want 1", n)
	}
	var rows int
	if err := db.DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM wp_wcbridge_callbacks").Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("%d callback rows (%v), want none", rows, err)
	}
}
