package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/store"
)

func record(t *testing.T, s *store.Store, c *bridge.Callback) (*bridge.Callback, bool) {
	t.Helper()
	got, dup, err := s.RecordCallback(context.Background(), c)
	if err != nil {
		t.Fatalf("record callback: %v", err)
	}
	return got, dup
}

func TestRecordCallbackDedupe(t *testing.T) {
	ctx := context.Background()
	s, clk, _ := newStore(t)
	body := []byte(`{"invoice_id":"INV-1","status":"paid"}`)
	first, dup := record(t, s, &bridge.Callback{Gateway: "cryptocloud", ContentType: "application/json", Body: body, Verified: true, PaymentKey: "INV-1"})
	if dup || first.ID == 0 {
		t.Fatalf("first record: id %d dup %v, want a new record", first.ID, dup)
	}
	if first.BodyHash != store.BodyHash(body) || len(first.BodyHash) != 64 {
		t.Fatalf("body hash = %q, want sha256 of the body", first.BodyHash)
	}
	clk.Add(time.Second)
	again, dup := record(t, s, &bridge.Callback{Gateway: "cryptocloud", Body: bytes.Clone(body), Verified: true})
	if !dup || again.ID != first.ID || again.PaymentKey != "INV-1" || !bytes.Equal(again.Body, body) {
		t.Fatalf("redelivery = id %d dup %v key %q, want the first record (%d) as duplicate", again.ID, dup, again.PaymentKey, first.ID)
	}
	if !again.ReceivedAt.Equal(first.ReceivedAt) {
		t.Fatalf("duplicate received at %v, want the first's %v", again.ReceivedAt, first.ReceivedAt)
	}
	// The same body at another gateway is another callback.
	if other, dup := record(t, s, &bridge.Callback{Gateway: "streampay", Body: body, Verified: true}); dup || other.ID == first.ID {
		t.Fatalf("same body, other gateway: id %d dup %v, want a new record", other.ID, dup)
	}
	read, err := s.Callback(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if read.Gateway != "cryptocloud" || read.ContentType != "application/json" || !read.Verified || read.AppliedAt != nil || read.Attempts != 0 {
		t.Fatalf("stored callback = %+v", read)
	}
}

func TestUnverifiedCallbacks(t *testing.T) {
	ctx := context.Background()
	s, clk, _ := newStore(t)
	big := bytes.Repeat([]byte("A"), 64<<10)
	forged, dup := record(t, s, &bridge.Callback{Gateway: "streampay", Body: big, Reason: "signature invalid"})
	if dup {
		t.Fatal("first forged callback reported as duplicate")
	}
	read, err := s.Callback(ctx, forged.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(read.Body) != store.MaxUnverifiedBody || read.Verified {
		t.Fatalf("unverified body stored with %d bytes (verified %v), want %d", len(read.Body), read.Verified, store.MaxUnverifiedBody)
	}
	if read.BodyHash != store.BodyHash(big) {
		t.Fatal("hash of a truncated body must still be the hash of the whole body")
	}
	// A verified body is kept whole.
	ok, _ := record(t, s, &bridge.Callback{Gateway: "streampay", Body: bytes.Repeat([]byte("B"), 64<<10), Verified: true})
	if read, _ := s.Callback(ctx, ok.ID); len(read.Body) != 64<<10 {
		t.Fatalf("verified body stored with %d bytes, want all", len(read.Body))
	}
	// Unverified callbacks are never claimed.
	clk.Add(time.Second)
	cs, err := s.ClaimCallbacks(ctx, "w", 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].ID != ok.ID {
		t.Fatalf("claimed %v, want only the verified callback %d", callbackIDs(cs), ok.ID)
	}

	// A body first rejected (say, for clock skew) and then redelivered with a
	// valid signature is upgraded and counts once.
	body := []byte(`{"id":"sp_1","status":"paid"}`)
	rejected, _ := record(t, s, &bridge.Callback{Gateway: "streampay", Body: body, Reason: "signature expired"})
	clk.Add(time.Second)
	upgraded, dup := record(t, s, &bridge.Callback{Gateway: "streampay", Body: body, Verified: true, PaymentKey: "sp_1"})
	if dup || upgraded.ID != rejected.ID {
		t.Fatalf("verified redelivery: id %d dup %v, want record %d upgraded, not a duplicate", upgraded.ID, dup, rejected.ID)
	}
	if again, dup := record(t, s, &bridge.Callback{Gateway: "streampay", Body: body, Verified: true}); !dup || !again.Verified || again.PaymentKey != "sp_1" {
		t.Fatalf("second verified redelivery: dup %v verified %v key %q, want a verified duplicate", dup, again.Verified, again.PaymentKey)
	}
	if again, dup := record(t, s, &bridge.Callback{Gateway: "streampay", Body: body, Reason: "forged"}); !dup || !again.Verified {
		t.Fatalf("forged redelivery of a verified body: dup %v verified %v, want the verified record", dup, again.Verified)
	}
}

func callbackIDs(cs []*bridge.Callback) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func TestClaimAndFinishCallbacks(t *testing.T) {
	ctx := context.Background()
	s, clk, _ := newStore(t)
	var ids []int64
	for i := range 3 {
		c, _ := record(t, s, &bridge.Callback{Gateway: "bitstream", Body: fmt.Appendf(nil, `{"n":%d}`, i), Verified: true})
		ids = append(ids, c.ID)
		clk.Add(time.Second)
	}
	got0, err := s.ClaimCallbacks(ctx, "a", 2, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(callbackIDs(got0)) != fmt.Sprint(ids[:2]) {
		t.Fatalf("claim a = %v, want the two oldest %v", callbackIDs(got0), ids[:2])
	}
	gotB, _ := s.ClaimCallbacks(ctx, "b", 10, time.Minute)
	if fmt.Sprint(callbackIDs(gotB)) != fmt.Sprint(ids[2:]) {
		t.Fatalf("claim b = %v, want %v", callbackIDs(gotB), ids[2:])
	}
	var got []*bridge.Callback
	if got, _ := s.ClaimCallbacks(ctx, "a", 10, time.Minute); len(got) != 0 {
		t.Fatalf("claim while all leased = %v, want none", callbackIDs(got))
	}

	// Applied: stamped, never claimed again.
	if err := s.FinishCallback(ctx, ids[0], got0[0].Lease, "order 12 paid", true, time.Time{}); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Callback(ctx, ids[0])
	if c.AppliedAt == nil || !c.AppliedAt.Equal(clk.Now().Truncate(time.Microsecond)) || c.Reason != "order 12 paid" {
		t.Fatalf("applied callback = applied %v reason %q", c.AppliedAt, c.Reason)
	}
	// Failed: counted, retried at retryAt, not before.
	retry := clk.Now().Add(5 * time.Minute)
	if err := s.FinishCallback(ctx, ids[1], got0[1].Lease, "gateway down", false, retry); err != nil {
		t.Fatal(err)
	}
	c, _ = s.Callback(ctx, ids[1])
	if c.AppliedAt != nil || c.Attempts != 1 || c.Reason != "gateway down" {
		t.Fatalf("retried callback = applied %v attempts %d reason %q", c.AppliedAt, c.Attempts, c.Reason)
	}
	if got, _ := s.ClaimCallbacks(ctx, "a", 10, time.Minute); len(got) != 0 {
		t.Fatalf("claim before retry time = %v, want none", callbackIDs(got))
	}
	clk.Add(5 * time.Minute)
	// b releases ids[2] with a retry at once; it has waited longer than
	// ids[1], so it comes first.
	if err := s.FinishCallback(ctx, ids[2], gotB[0].Lease, "payment not known yet", false, clk.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.ClaimCallbacks(ctx, "a", 10, time.Minute)
	if want := []int64{ids[2], ids[1]}; fmt.Sprint(callbackIDs(got)) != fmt.Sprint(want) {
		t.Fatalf("claim after retry time = %v, want %v", callbackIDs(got), want)
	}
	if err := s.FinishCallback(ctx, 9999, "", "x", true, time.Time{}); bridge.ErrorCode(err) != bridge.ENOTFOUND {
		t.Fatalf("finish unknown callback: err = %v, want not found", err)
	}
	// A lease that ran out records no retry over the new holder's claim.
	if err := s.FinishCallback(ctx, ids[1], got0[1].Lease, "late", false, retry); !errors.Is(err, bridge.ErrLeaseLost) {
		t.Fatalf("finish under a lost lease: err = %v, want ErrLeaseLost", err)
	}
}

func TestClaimCallbacksConcurrent(t *testing.T) {
	requireReal(t, "concurrent leasing UPDATEs")
	ctx := context.Background()
	s, _, _ := newStore(t)
	const n = 40
	for i := range n {
		record(t, s, &bridge.Callback{Gateway: "streampay", Body: fmt.Appendf(nil, "%d", i), Verified: true})
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
				cs, err := s.ClaimCallbacks(ctx, owner, 3, time.Minute)
				if err != nil || len(cs) == 0 {
					if err != nil {
						t.Error(err)
					}
					return
				}
				mu.Lock()
				for _, c := range cs {
					seen[c.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("claimed %d callbacks, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("callback %d claimed %d times", id, k)
		}
	}
}

func TestLastCallbacks(t *testing.T) {
	ctx := context.Background()
	s, clk, _ := newStore(t)
	got, err := s.LastCallbacks(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("no callbacks: %v, %v", got, err)
	}
	t0 := clk.Now().Truncate(time.Microsecond)
	record(t, s, &bridge.Callback{Gateway: "streampay", Body: []byte("1"), Verified: true})
	clk.Add(time.Minute)
	record(t, s, &bridge.Callback{Gateway: "streampay", Body: []byte("2"), Reason: "signature invalid"})
	clk.Add(time.Minute)
	record(t, s, &bridge.Callback{Gateway: "streampay", Body: []byte("3"), Verified: true})
	clk.Add(time.Minute)
	record(t, s, &bridge.Callback{Gateway: "streampay", Body: []byte("4"), Reason: "signature expired"})
	record(t, s, &bridge.Callback{Gateway: "cryptocloud", Body: []byte("5"), Reason: strings.Repeat("x", 300)})

	got, err = s.LastCallbacks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sp := got["streampay"]
	if sp.LastAccepted == nil || !sp.LastAccepted.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("streampay last accepted = %v, want %v", sp.LastAccepted, t0.Add(2*time.Minute))
	}
	// Unverified rows (older versions stored them) are not accepted callbacks.
	if cc, ok := got["cryptocloud"]; ok {
		t.Errorf("cryptocloud = %v, want nothing: it has only an unverified row", cc)
	}
}

// TestCallbackInFlightIsLeftAlone: a callback its receiving replica is
// processing from memory is recorded leased to it and not swept until the
// lease ends, by the database's clock whatever the replicas' clocks say.
func TestCallbackInFlightIsLeftAlone(t *testing.T) {
	ctx := context.Background()
	s, clk, db := newStore(t)
	const grace = time.Minute
	c, _ := record(t, s, &bridge.Callback{Gateway: "streampay", Body: []byte(`{"x":1}`), Verified: true, Lease: "me/1", LeaseFor: grace})
	if !leaseHeld(t, db, "wcbridge_callbacks", c.ID, grace) {
		t.Fatal("the in-flight callback is not leased for its grace by the database's clock")
	}
	clk.Add(time.Hour)
	if got, _ := s.ClaimCallbacks(ctx, "other", 10, time.Minute); len(got) != 0 {
		t.Fatalf("claimed an in-flight callback: %v", callbackIDs(got))
	}
	// The grace passes on the database's clock: its end is moved to now.
	if _, err := db.Exec("UPDATE wp_wcbridge_callbacks SET lease_until = UTC_TIMESTAMP(6) WHERE id = ?", c.ID); err != nil {
		t.Fatal(err)
	}
	waitLeaseEnded(t, db, "wcbridge_callbacks", c.ID)
	got, _ := s.ClaimCallbacks(ctx, "other", 10, time.Minute)
	if len(got) != 1 || got[0].ID != c.ID {
		t.Fatalf("after the grace: claimed %v, want [%d]", callbackIDs(got), c.ID)
	}
	// The receiving replica, late, still records that it applied it.
	if err := s.FinishCallback(ctx, c.ID, "me/1", "applied", true, time.Time{}); !errors.Is(err, bridge.ErrLeaseLost) {
		t.Fatalf("finish by the replica that lost it: err = %v, want ErrLeaseLost", err)
	}
	if c, _ := s.Callback(ctx, c.ID); c.AppliedAt == nil {
		t.Fatal("the late replica's result was not recorded")
	}
}

// TestUpdatePaymentTxRecordsCallback: the callback that brought a report is
// recorded applied in the payment's transaction, its lease checked as
// FinishCallback checks it; a failed round writes nothing.
func TestUpdatePaymentTxRecordsCallback(t *testing.T) {
	ctx := context.Background()
	s, clk, _ := newStore(t)
	np := newPayment(t, 7, bridge.PaymentPending)
	np.GatewayID = "SP-7"
	p, err := s.CreatePayment(ctx, np)
	if err != nil {
		t.Fatal(err)
	}
	leased := func(body, lease string) *bridge.Callback {
		c, _ := record(t, s, &bridge.Callback{Gateway: "streampay", Body: []byte(body), Verified: true, PaymentKey: "SP-7", Lease: lease, LeaseFor: time.Minute})
		return c
	}
	paid := func(_ *sql.Tx, q *bridge.Payment) (*bridge.Notification, error) {
		q.Status = bridge.PaymentPaid
		return &bridge.Notification{EventID: fmt.Sprintf("wcbridge:%d:paid", q.ID), Payload: []byte(`{}`)}, nil
	}

	// A failed round: nothing written, the callback still unapplied.
	c1 := leased(`{"n":1}`, "a/1")
	clk.Add(time.Second)
	boom := errors.New("boom")
	if _, err := s.UpdatePaymentTx(ctx, bridge.PaymentRef{ID: p.ID}, &bridge.AppliedCallback{ID: c1.ID, Lease: c1.Lease, Reason: "applied"}, func(*sql.Tx, *bridge.Payment) (*bridge.Notification, error) {
		return nil, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("failing fn: err = %v, want it back", err)
	}
	if c, _ := s.Callback(ctx, c1.ID); c.AppliedAt != nil || c.Attempts != 0 {
		t.Fatalf("callback after a failed round = applied %v attempts %d, want untouched", c.AppliedAt, c.Attempts)
	}

	// Held lease: applied, counted, released, with the payment and the
	// notification.
	cb := &bridge.AppliedCallback{ID: c1.ID, Lease: c1.Lease, Reason: "applied: payment paid"}
	got, err := s.UpdatePaymentTx(ctx, bridge.PaymentRef{ID: p.ID}, cb, paid)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := s.Callback(ctx, c1.ID)
	if got.Status != bridge.PaymentPaid || cb.LeaseLost || c.AppliedAt == nil || c.Attempts != 1 || c.Reason != "applied: payment paid" {
		t.Fatalf("held lease: payment %s, lease lost %v, callback applied %v attempts %d reason %q", got.Status, cb.LeaseLost, c.AppliedAt, c.Attempts, c.Reason)
	}
	if n, _ := s.Backlog(ctx); n != 1 {
		t.Fatalf("notifications queued = %d, want 1", n)
	}

	// Lost lease (another replica claimed the callback): applied all the
	// same, the other's claim untouched, and said so.
	c2 := leased(`{"n":2}`, "b/2")
	clk.Add(time.Second)
	cb = &bridge.AppliedCallback{ID: c2.ID, Lease: "a/3", Reason: "applied: payment paid"}
	// By the gateway's id this time.
	if _, err := s.UpdatePaymentTx(ctx, bridge.PaymentRef{Gateway: "streampay", GatewayID: "SP-7"}, cb, func(_ *sql.Tx, q *bridge.Payment) (*bridge.Notification, error) {
		q.LastError = "seen again"
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	c, _ = s.Callback(ctx, c2.ID)
	if !cb.LeaseLost || c.AppliedAt == nil || c.Attempts != 0 {
		t.Fatalf("lost lease: lease lost %v, callback applied %v attempts %d; want applied, not counted, lease lost", cb.LeaseLost, c.AppliedAt, c.Attempts)
	}
	if err := s.FinishCallback(ctx, c2.ID, "b/2", "other", false, clk.Now()); err != nil {
		t.Fatalf("the other replica's lease was touched: %v", err)
	}
}

func recordAll(t *testing.T, s *store.Store, cs ...*bridge.Callback) []bridge.CallbackResult {
	t.Helper()
	res, err := s.RecordCallbacks(context.Background(), cs)
	if err != nil {
		t.Fatalf("record callbacks: %v", err)
	}
	if len(res) != len(cs) {
		t.Fatalf("%d results for %d callbacks", len(res), len(cs))
	}
	return res
}

// sameAsStored fails unless got is callback id as it reads back, as
// RecordCallback returns a duplicate's record.
func sameAsStored(t *testing.T, s *store.Store, what string, got *bridge.Callback, id int64) {
	t.Helper()
	want, err := s.Callback(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != want.ID || got.Gateway != want.Gateway || !got.ReceivedAt.Equal(want.ReceivedAt) || got.ContentType != want.ContentType ||
		!bytes.Equal(got.Body, want.Body) || got.BodyHash != want.BodyHash || got.Verified != want.Verified || got.Reason != want.Reason ||
		got.PaymentKey != want.PaymentKey || (got.AppliedAt == nil) != (want.AppliedAt == nil) || got.Attempts != want.Attempts {
		t.Fatalf("%s = %+v, want the stored record %+v", what, got, want)
	}
}

// statements counts the statements of each kind a store's one connection
// ran (the session's counters).
func statements(t *testing.T, db *sql.DB) map[string]int {
	t.Helper()
	rows, err := db.Query("SHOW SESSION STATUS WHERE Variable_name IN ('Com_insert', 'Com_select', 'Com_update', 'Com_commit')")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			name string
			n    int
		)
		if err := rows.Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(name, "Com_")] = n
	}
	return out
}

// New callbacks of two gateways are written by one INSERT and read back by
// one SELECT per gateway: each gets its own row, those to be processed from
// memory leased to their own lease, the others free for a sweep.
func TestRecordCallbacksNew(t *testing.T) {
	requireReal(t, "the session's statement counters")
	ctx := context.Background()
	s, clk, db := newStore(t)
	db.DB.SetMaxOpenConns(1) // one session: its counters are the store's
	before := statements(t, db.DB)
	const grace = time.Minute
	cs := []*bridge.Callback{
		{Gateway: "streampay", ContentType: "application/json", Body: []byte(`{"id":"sp_1"}`), Verified: true, PaymentKey: "sp_1", Lease: "me/1", LeaseFor: grace},
		{Gateway: "cryptocloud", Body: []byte(`{"invoice_id":"INV-1"}`), Verified: true, PaymentKey: "INV-1", Lease: "me/2", LeaseFor: grace},
		{Gateway: "streampay", Body: []byte(`{"id":"sp_2"}`), Verified: true, PaymentKey: "sp_2"},
		{Gateway: "streampay", Body: []byte(`{"id":"sp_3"}`), Verified: true, PaymentKey: "sp_3", Lease: "me/3", LeaseFor: grace},
		// The same body at another gateway is another callback.
		{Gateway: "cryptocloud", Body: []byte(`{"id":"sp_1"}`), Verified: true, PaymentKey: "sp_1"},
	}
	res := recordAll(t, s, cs...)
	after := statements(t, db.DB)
	if got := fmt.Sprint(after["insert"]-before["insert"], after["select"]-before["select"], after["update"]-before["update"]); got != "1 2 1" {
		t.Fatalf("inserts, selects, updates = %s; want 1 2 1 (one INSERT, one read-back per gateway, one release of the rows not leased)", got)
	}
	seen := map[int64]bool{}
	for i, r := range res {
		if r.Duplicate || r.Callback != cs[i] || r.Callback.ID == 0 || seen[r.Callback.ID] {
			t.Fatalf("callback %d: id %d duplicate %v, want a new record of its own", i, r.Callback.ID, r.Duplicate)
		}
		seen[r.Callback.ID] = true
		sameAsStored(t, s, fmt.Sprintf("callback %d", i), r.Callback, r.Callback.ID)
		leased := cs[i].LeaseFor > 0
		if got := leaseHeld(t, db, "wcbridge_callbacks", r.Callback.ID, grace); got != leased {
			t.Fatalf("callback %d leased %v, want %v", i, got, leased)
		}
		if !leased && r.Callback.Lease != "" {
			t.Fatalf("callback %d recorded free has lease %q", i, r.Callback.Lease)
		}
	}
	var owner sql.NullString
	if err := db.QueryRow("SELECT lease_owner FROM wp_wcbridge_callbacks WHERE id = ?", res[0].Callback.ID).Scan(&owner); err != nil || owner.String != "me/1" {
		t.Fatalf("lease owner %v, %v; want me/1", owner, err)
	}
	// The rows recorded free are the sweep's; the leased ones are not.
	clk.Add(time.Second)
	got, err := s.ClaimCallbacks(ctx, "sweep", 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ids := callbackIDs(got)
	sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
	want := []int64{res[2].Callback.ID, res[4].Callback.ID}
	sort.Slice(want, func(a, b int) bool { return want[a] < want[b] })
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("claimed %v, want the free ones %v", ids, want)
	}
	// Finishing under the lease it was recorded with works as for a
	// callback recorded alone.
	if err := s.FinishCallback(ctx, res[0].Callback.ID, "me/1", "applied", true, time.Time{}); err != nil {
		t.Fatal(err)
	}
}

// A body already stored, or twice in the same call, is a duplicate: the
// same result RecordCallback gives, the record as stored.
func TestRecordCallbacksDuplicates(t *testing.T) {
	s, clk, _ := newStore(t)
	old, _ := record(t, s, &bridge.Callback{Gateway: "streampay", ContentType: "application/json", Body: []byte(`{"id":"sp_1"}`), Verified: true, PaymentKey: "sp_1"})
	clk.Add(time.Second)
	a := &bridge.Callback{Gateway: "streampay", Body: []byte(`{"id":"sp_2"}`), Verified: true, PaymentKey: "sp_2", Lease: "me/a", LeaseFor: time.Minute}
	res := recordAll(t, s,
		&bridge.Callback{Gateway: "streampay", Body: []byte(`{"id":"sp_1"}`), Verified: true, PaymentKey: "other", Lease: "me/x", LeaseFor: time.Minute},
		a,
		&bridge.Callback{Gateway: "streampay", Body: []byte(`{"id":"sp_2"}`), Verified: true, Lease: "me/b", LeaseFor: time.Minute},
		&bridge.Callback{Gateway: "bitstream", Body: []byte(`{"id":"sp_1"}`), Verified: true},
		&bridge.Callback{Gateway: "streampay", Body: []byte(`{"id":"sp_1"}`), Verified: true},
	)
	if !res[0].Duplicate || res[0].Callback.PaymentKey != "sp_1" {
		t.Fatalf("stored before: %+v dup %v, want the first record", res[0].Callback, res[0].Duplicate)
	}
	sameAsStored(t, s, "duplicate of a stored body", res[0].Callback, old.ID)
	if res[1].Duplicate || res[1].Callback != a || a.ID == 0 {
		t.Fatalf("first copy in the call: %+v dup %v, want new", res[1].Callback, res[1].Duplicate)
	}
	if !res[2].Duplicate || res[2].Callback == a {
		t.Fatalf("second copy in the call: dup %v, want a duplicate record of its own", res[2].Duplicate)
	}
	sameAsStored(t, s, "second copy in the call", res[2].Callback, a.ID)
	if res[3].Duplicate || res[3].Callback.ID == old.ID {
		t.Fatalf("same body, other gateway: %+v dup %v, want new", res[3].Callback, res[3].Duplicate)
	}
	if !res[4].Duplicate {
		t.Fatal("a stored body twice in the call: not a duplicate")
	}
	sameAsStored(t, s, "stored body, second time in the call", res[4].Callback, old.ID)
	// The row written under the first copy's lease holds it; the second
	// copy's lease went nowhere.
	if err := s.FinishCallback(context.Background(), a.ID, "me/a", "retry", false, clk.Now()); err != nil {
		t.Fatalf("finish under the first copy's lease: %v", err)
	}
	// Two copies and nothing else: still one row.
	b := &bridge.Callback{Gateway: "cryptocloud", Body: []byte(`{"n":1}`), Verified: true}
	res = recordAll(t, s, b, &bridge.Callback{Gateway: "cryptocloud", Body: []byte(`{"n":1}`), Verified: true})
	if res[0].Duplicate || b.ID == 0 || !res[1].Duplicate {
		t.Fatalf("two copies: %v %v", res[0].Duplicate, res[1].Duplicate)
	}
	sameAsStored(t, s, "two copies", res[1].Callback, b.ID)
}

// A verified body first recorded unverified upgrades that record and
// counts once, as with RecordCallback.
func TestRecordCallbacksUpgrade(t *testing.T) {
	ctx := context.Background()
	s, clk, db := newStore(t)
	body := []byte(`{"id":"sp_9","status":"paid"}`)
	rejected, _ := record(t, s, &bridge.Callback{Gateway: "streampay", Body: body, Reason: "signature expired"})
	clk.Add(time.Second)
	v := &bridge.Callback{Gateway: "streampay", Body: body, Verified: true, PaymentKey: "sp_9", Lease: "me/v", LeaseFor: time.Minute}
	other := &bridge.Callback{Gateway: "streampay", Body: []byte(`{"id":"sp_10"}`), Verified: true}
	res := recordAll(t, s, v, other, &bridge.Callback{Gateway: "streampay", Body: body, Verified: true})
	if res[0].Duplicate || v.ID != rejected.ID {
		t.Fatalf("verified redelivery: id %d dup %v, want record %d upgraded", v.ID, res[0].Duplicate, rejected.ID)
	}
	sameAsStored(t, s, "upgraded", v, v.ID)
	if !leaseHeld(t, db, "wcbridge_callbacks", v.ID, time.Minute) {
		t.Fatal("the upgraded record is not leased to the callback")
	}
	if res[1].Duplicate || other.ID == 0 || other.ID == v.ID {
		t.Fatalf("other: %+v", res[1])
	}
	if !res[2].Duplicate || res[2].Callback.ID != v.ID || !res[2].Callback.Verified {
		t.Fatalf("copy of the upgraded body: %+v dup %v", res[2].Callback, res[2].Duplicate)
	}
	res = recordAll(t, s, &bridge.Callback{Gateway: "streampay", Body: body, Verified: true}, &bridge.Callback{Gateway: "streampay", Body: []byte("x"), Verified: true})
	if !res[0].Duplicate || res[0].Callback.ID != v.ID {
		t.Fatalf("again: %+v dup %v", res[0].Callback, res[0].Duplicate)
	}
	// An unverified callback in a call: recorded one by one, as before.
	res = recordAll(t, s, &bridge.Callback{Gateway: "streampay", Body: []byte("y"), Verified: true}, &bridge.Callback{Gateway: "streampay", Body: []byte("z"), Reason: "forged"})
	if res[0].Duplicate || res[1].Duplicate || res[1].Callback.Verified {
		t.Fatalf("with an unverified one: %+v %+v", res[0], res[1])
	}
	if c, err := s.Callback(ctx, res[1].Callback.ID); err != nil || c.Verified {
		t.Fatalf("unverified stored as %+v, %v", c, err)
	}
}

// An invalid callback fails the call and nothing is written.
func TestRecordCallbacksInvalid(t *testing.T) {
	s, _, db := newStore(t)
	_, err := s.RecordCallbacks(context.Background(), []*bridge.Callback{
		{Gateway: "streampay", Body: []byte("1"), Verified: true},
		{Gateway: strings.Repeat("g", 33), Body: []byte("2"), Verified: true},
	})
	if bridge.ErrorCode(err) != bridge.EINVALID {
		t.Fatalf("err = %v, want invalid", err)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM wp_wcbridge_callbacks").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows written (%v), want 0", n, err)
	}
}

// Calls at once sharing bodies, in different orders: each body is recorded
// once, every other copy is its duplicate, and no call fails.
func TestRecordCallbacksConcurrent(t *testing.T) {
	requireReal(t, "concurrent INSERTs sharing unique keys")
	s, _, _ := newStore(t)
	const bodies, calls, per = 30, 6, 20
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ids = map[string]map[int64]int{} // body → id → new records
	)
	for k := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var cs []*bridge.Callback
			for j := range per {
				n := (k*7 + j*(k+1)) % bodies
				cs = append(cs, &bridge.Callback{Gateway: "streampay", Body: fmt.Appendf(nil, `{"n":%d}`, n), Verified: true,
					Lease: fmt.Sprintf("r%d/%d", k, j), LeaseFor: time.Minute})
			}
			res, err := s.RecordCallbacks(context.Background(), cs)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for i, r := range res {
				b := string(cs[i].Body)
				if ids[b] == nil {
					ids[b] = map[int64]int{}
				}
				if r.Duplicate {
					ids[b][r.Callback.ID] += 0
				} else {
					ids[b][r.Callback.ID]++
				}
			}
		}()
	}
	wg.Wait()
	for b, m := range ids {
		if len(m) != 1 {
			t.Errorf("body %s recorded as %v, want one id", b, m)
		}
		for id, n := range m {
			if n != 1 {
				t.Errorf("body %s: %d new records of %d, want 1", b, n, id)
			}
		}
	}
}
