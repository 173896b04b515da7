package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/woo/wootest"
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

// A claim reads the due notifications, not the delivered history: with
// 50,000 delivered rows in the table, the claim's plan is a range on the
// claim index and the session's Handler_read_* counters grow by what was
// due, not by the history.
func TestClaimNotificationsSkipsHistory(t *testing.T) {
	requireReal(t, "the history is made with MariaDB's sequence engine and read with its Handler_read_* counters")
	ctx := context.Background()
	s, clk, db := newStore(t)
	// One connection: the counters below are this session's.
	db.DB.SetMaxOpenConns(1)
	db.DB.SetMaxIdleConns(1)
	const history = 50_000
	if _, err := db.DB.ExecContext(ctx, "INSERT INTO wp_wcbridge_outbox (event_id, order_id, payload, attempts, next_attempt_at, delivered_at, created_at) "+
		"SELECT CONCAT('old-', seq), seq MOD 20000, '{}', 1, ?, ?, ? FROM seq_1_to_50000",
		clk.Now().Add(-time.Hour), clk.Now().Add(-time.Hour), clk.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DB.ExecContext(ctx, "ANALYZE TABLE wp_wcbridge_outbox"); err != nil {
		t.Fatal(err)
	}
	reads := func() int64 {
		rows, err := db.DB.QueryContext(ctx, "SHOW SESSION STATUS LIKE 'Handler_read%'")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var sum int64
		for rows.Next() {
			var name string
			var v int64
			if err := rows.Scan(&name, &v); err != nil {
				t.Fatal(err)
			}
			sum += v
		}
		return sum
	}
	r0 := reads()
	showCost := reads() - r0 // SHOW STATUS reads its own rows

	// Nothing due: a first claim (the session's first statements on the
	// table also read its definition), then the measured one.
	if got, err := s.ClaimNotifications(ctx, "a", 100, time.Minute); err != nil || len(got) != 0 {
		t.Fatalf("claim with nothing due = %v, %v", notificationIDs(got), err)
	}
	r0 = reads()
	if got, err := s.ClaimNotifications(ctx, "a", 100, time.Minute); err != nil || len(got) != 0 {
		t.Fatalf("claim with nothing due = %v, %v", notificationIDs(got), err)
	}
	idle := reads() - r0 - showCost
	t.Logf("claim with nothing due over %d delivered: %d rows read", history, idle)
	if idle > 5 {
		t.Errorf("a claim with nothing due read %d rows over a delivered history of %d, want at most 5", idle, history)
	}

	const due = 3
	for i := range due {
		if err := s.Enqueue(ctx, &bridge.Notification{EventID: fmt.Sprintf("new-%d", i), OrderID: int64(30000 + i), Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	r0 = reads()
	got, err := s.ClaimNotifications(ctx, "a", 100, time.Minute)
	if err != nil || len(got) != due {
		t.Fatalf("claim = %v, %v; want the %d due", notificationIDs(got), err, due)
	}
	// Per claimed row: its candidate entry, its row locked and changed, read
	// back, and its order's first undelivered entry (twice); a few more for
	// the statements' ends.
	n := reads() - r0 - showCost
	t.Logf("claim of %d due over %d delivered: %d rows read", due, history, n)
	if n > 20*due {
		t.Errorf("claiming %d notifications read %d rows over a delivered history of %d, want at most %d", due, n, history, 20*due)
	}

	rows, err := db.DB.QueryContext(ctx, "EXPLAIN "+s.ClaimNotificationsQuery(), clk.Now(), 100)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		plan := map[string]string{}
		for i, c := range cols {
			plan[c] = vals[i].String
		}
		t.Logf("EXPLAIN claim: type=%s key=%s rows=%s extra=%s", plan["type"], plan["key"], plan["rows"], plan["Extra"])
		if plan["type"] != "range" && plan["type"] != "ref" && plan["type"] != "ref_or_null" {
			t.Errorf("claim plan is %q on %q, want a range or lookup on an index: %v", plan["type"], plan["key"], plan)
		}
		if r, _ := strconv.Atoi(plan["rows"]); r > 100 {
			t.Errorf("claim plan expects to read %d rows, want at most the due ones: %v", r, plan)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// Leases and deliveries are written by primary key, the rows named, even
// where the server would rather scan a small table whole: such a scan
// would lock, and wait for, the rows other transactions are inserting (an
// apply queueing its notification), which are none of its business.
func TestOutboxWritesPassInsertsInFlight(t *testing.T) {
	wootest.RequireReal(t, "row locks of a transaction in flight")
	ctx := context.Background()
	s, _, db := newStore(t)
	for i := 1; i <= 12; i++ {
		if err := s.Enqueue(ctx, &bridge.Notification{EventID: fmt.Sprintf("e-%d", i), OrderID: int64(i), Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	ns, err := s.ClaimNotifications(ctx, "replica-a", 6, time.Minute)
	if err != nil || len(ns) != 6 {
		t.Fatalf("claimed %d, %v", len(ns), err)
	}
	// An apply in flight: its notification inserted, not committed.
	tx, err := db.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "INSERT INTO wp_wcbridge_outbox (event_id, order_id, payload, next_attempt_at, created_at) VALUES ('e-13', 13, '{}', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))"); err != nil {
		t.Fatal(err)
	}
	// Without the insert's commit, each of these ends (a wait for its lock
	// would last the server's lock wait timeout, past this deadline).
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ids := notificationIDs(ns)
	if held, err := s.RenewNotifications(wctx, ns[0].Lease, ids, time.Minute); err != nil || len(held) != len(ids) {
		t.Fatalf("renew: %v, %v", held, err)
	}
	if err := s.FinishDelivered(wctx, ns[0].Lease, ids); err != nil {
		t.Fatalf("finish delivered: %v", err)
	}
	more, err := s.ClaimNotifications(wctx, "replica-a", 10, time.Minute)
	if err != nil || len(more) != 6 || more[0].EventID != "e-7" {
		t.Fatalf("claimed %d from %+v, %v; want e-7 to e-12", len(more), more, err)
	}
	if err := s.FinishNotification(wctx, more[0].ID, more[0].Lease, false, "boom", time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("finish: %v", err)
	}
}
