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
// riders (one more carrier waits than before); done receives the update
// when UpdatePayments returned. runs counts the runs of its fn.
func applyWaiting(t *testing.T, s *store.Store, p *bridge.Payment, event string, runs *int) <-chan *store.PaymentUpdate {
	t.Helper()
	before, _ := s.Carriers()
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
	waitFor(t, "an apply transaction waiting for riders", func() bool {
		select {
		case <-done:
			t.Fatal("the apply committed without waiting for riders")
		default:
		}
		waiting, _ := s.Carriers()
		return waiting == before+1
	})
	return done
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 5s", what)
		}
	}
}

// recordNew records one new callback with body, which rides a waiting apply
// if there is one.
func recordNew(t *testing.T, s *store.Store, body string) {
	t.Helper()
	if got, err := s.RecordCallbacks(context.Background(), []*bridge.Callback{{Gateway: "streampay", Body: []byte(body), Verified: true}}); err != nil || got[0].Duplicate {
		t.Fatalf("record %s: %+v, %v", body, got, err)
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

	// A notification's lease taken while callbacks are arriving waits for
	// an apply and joins it without ending its wait: it is committed with
	// the callback's record that ends the wait. The same for notifications
	// recorded delivered.
	claimed := make(chan []*bridge.Notification, 1)
	go func() {
		ns, err := s.ClaimNotifications(ctx, "replica-a", 10, time.Minute)
		if err != nil {
			t.Error(err)
		}
		claimed <- ns
	}()
	done = applyWaiting(t, s, mustCreate(t, s, newPayment(t, 901, bridge.PaymentPending)), "e-901", &runs)
	waitFor(t, "claim riding the apply", func() bool { return s.Riders() == 1 })
	select {
	case ns := <-claimed:
		t.Fatalf("claimed %d before the apply committed", len(ns))
	default:
	}
	recordNew(t, s, `{"n":3}`)
	if u := <-done; u.Err != nil {
		t.Fatal(u.Err)
	}
	ns := <-claimed
	if len(ns) != 1 || ns[0].EventID != "e-900" {
		t.Fatalf("claimed %+v, want e-900's notification", ns)
	}
	if _, carried := s.Carriers(); carried != 3 {
		t.Fatalf("carried %d writes, want 3", carried)
	}

	finished := make(chan error, 1)
	go func() { finished <- s.FinishDelivered(ctx, ns[0].Lease, []int64{ns[0].ID}) }()
	done = applyWaiting(t, s, mustCreate(t, s, newPayment(t, 902, bridge.PaymentPending)), "e-902", &runs)
	waitFor(t, "delivery record riding the apply", func() bool { return s.Riders() == 1 })
	recordNew(t, s, `{"n":4}`)
	if u := <-done; u.Err != nil {
		t.Fatal(u.Err)
	}
	if err := <-finished; err != nil {
		t.Fatal(err)
	}
	if _, carried := s.Carriers(); carried != 5 {
		t.Fatalf("carried %d writes, want 5", carried)
	}
	if n, err := s.Notification(ctx, ns[0].ID); err != nil || n.DeliveredAt == nil {
		t.Fatalf("notification %+v, %v: want delivered", n, err)
	}
	// A second record of the same delivery, with no callbacks arriving,
	// commits alone and finds the lease released: it says so, and the
	// delivery stays recorded.
	s.Quiet()
	if err := s.FinishDelivered(ctx, ns[0].Lease, []int64{ns[0].ID}); !errors.Is(err, bridge.ErrLeaseLost) {
		t.Fatalf("second record: %v, want ErrLeaseLost", err)
	}
	if _, carried := s.Carriers(); carried != 5 {
		t.Fatalf("carried %d writes, want 5", carried)
	}
}

// Apply transactions waiting at their commit points are each carried a
// callback's record in the order they came: a record wakes the oldest, and
// the next one waits on for the next record rather than commit without one.
func TestRideOldestCarrierFirst(t *testing.T) {
	s, _, _ := newStore(t)
	s.RideFor(t, time.Minute)
	runs := 0
	first := applyWaiting(t, s, mustCreate(t, s, newPayment(t, 920, bridge.PaymentPending)), "e-920", &runs)
	second := applyWaiting(t, s, mustCreate(t, s, newPayment(t, 921, bridge.PaymentPending)), "e-921", &runs)
	recordNew(t, s, `{"n":1}`)
	if u := <-first; u.Err != nil || u.Payment.OrderID != 920 {
		t.Fatalf("first apply: %+v, %v", u.Payment, u.Err)
	}
	select {
	case u := <-second:
		t.Fatalf("second apply committed with no record to carry: %+v", u.Payment)
	default:
	}
	if waiting, carried := s.Carriers(); waiting != 1 || carried != 1 {
		t.Fatalf("%d waiting, %d carried; want 1, 1", waiting, carried)
	}
	recordNew(t, s, `{"n":2}`)
	if u := <-second; u.Err != nil || u.Payment.OrderID != 921 {
		t.Fatalf("second apply: %+v, %v", u.Payment, u.Err)
	}
	if waiting, carried := s.Carriers(); waiting != 0 || carried != 2 {
		t.Fatalf("%d waiting, %d carried; want 0, 2", waiting, carried)
	}
}

// A write that waits for an apply while callbacks are arriving, and sees
// none come, commits alone after the linger, with the same result.
func TestRidePatientWriteAlone(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	if err := s.Enqueue(ctx, &bridge.Notification{EventID: "e-930", OrderID: 930, Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	s.RideFor(t, 50*time.Millisecond)
	ns, err := s.ClaimNotifications(ctx, "replica-a", 10, time.Minute)
	if err != nil || len(ns) != 1 || ns[0].EventID != "e-930" {
		t.Fatalf("claimed %+v, %v", ns, err)
	}
	if err := s.FinishDelivered(ctx, ns[0].Lease, []int64{ns[0].ID}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Notification(ctx, ns[0].ID); err != nil || n.DeliveredAt == nil {
		t.Fatalf("notification %+v, %v: want delivered", n, err)
	}
	if _, carried := s.Carriers(); carried != 0 {
		t.Fatalf("carried %d writes, want none", carried)
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
