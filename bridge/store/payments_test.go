package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/store"
)

func dec(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var refN int

func newPayment(t *testing.T, orderID int64, status bridge.PaymentStatus) *bridge.Payment {
	t.Helper()
	refN++
	return &bridge.Payment{
		OrderID:  orderID,
		Gateway:  "streampay",
		OrderRef: fmt.Sprintf("wcb-%d-%d", orderID, refN),
		Status:   status,
		Amount:   bridge.Money{Amount: dec(t, "49.90"), Currency: "EUR"},
		PayURL:   "https://pay.example/i/1",
	}
}

func mustCreate(t *testing.T, s *store.Store, p *bridge.Payment) *bridge.Payment {
	t.Helper()
	got, err := s.CreatePayment(context.Background(), p)
	if err != nil {
		t.Fatalf("create payment for order %d: %v", p.OrderID, err)
	}
	return got
}

// samePayment compares every field a caller can see.
func samePayment(t *testing.T, got, want *bridge.Payment) {
	t.Helper()
	money := func(name string, g, w bridge.Money) {
		if !g.Amount.Equal(w.Amount) || g.Currency != w.Currency {
			t.Errorf("%s = %s, want %s", name, g, w)
		}
	}
	money("Amount", got.Amount, want.Amount)
	money("Received", got.Received, want.Received)
	money("GatewayAmount", got.GatewayAmount, want.GatewayAmount)
	money("GatewayReceived", got.GatewayReceived, want.GatewayReceived)
	type plain struct {
		ID, OrderID                          int64
		Gateway, GatewayID, OrderRef         string
		Status, AppliedStatus                bridge.PaymentStatus
		TxRef, PayURL, LastError             string
		ExpiresAt, CreatedAt, UpdatedAt, Nxt time.Time
		Checks                               int
	}
	pl := func(p *bridge.Payment) plain {
		return plain{p.ID, p.OrderID, p.Gateway, p.GatewayID, p.OrderRef, p.Status, p.AppliedStatus,
			p.TxRef, p.PayURL, p.LastError, p.ExpiresAt, p.CreatedAt, p.UpdatedAt, p.NextCheckAt, p.Checks}
	}
	if g, w := pl(got), pl(want); g != w {
		t.Errorf("payment =\n%+v\nwant\n%+v", g, w)
	}
}

func TestPaymentRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, clk, _ := newStore(t)
	p := newPayment(t, 101, bridge.PaymentPending)
	p.GatewayID = "sp_9f8e7d"
	p.Amount = bridge.Money{Amount: dec(t, "123456789012345678.123456789012345678"), Currency: "USD"}
	p.GatewayAmount = bridge.Money{Amount: dec(t, "0.00012345"), Currency: "BTC"}
	p.GatewayReceived = bridge.Money{Amount: dec(t, "0.000000000000000001"), Currency: "ETH"}
	p.Received = bridge.Money{Amount: dec(t, "-0.5"), Currency: "USD"}
	p.TxRef = "0xabc"
	p.ExpiresAt = clk.Now().Add(30 * time.Minute)
	p.NextCheckAt = clk.Now().Add(time.Minute)
	p.LastError = "gateway slow"
	p.Checks = 2
	created := mustCreate(t, s, p)
	if created.ID == 0 {
		t.Fatal("created payment has no id")
	}
	want := *created
	if !want.CreatedAt.Equal(clk.Now().Truncate(time.Microsecond)) || want.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreatedAt = %v, want the clock's now in UTC", want.CreatedAt)
	}

	byID, err := s.Payment(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	samePayment(t, byID, &want)
	byGW, err := s.PaymentByGatewayID(ctx, "streampay", "sp_9f8e7d")
	if err != nil {
		t.Fatal(err)
	}
	samePayment(t, byGW, &want)
	byRef, err := s.PaymentByOrderRef(ctx, p.OrderRef)
	if err != nil {
		t.Fatal(err)
	}
	samePayment(t, byRef, &want)
	if byRef.Amount.Amount.String() != "123456789012345678.123456789012345678" || byRef.GatewayAmount.Amount.String() != "0.00012345" {
		t.Fatalf("decimals = %s, %s; want exact", byRef.Amount.Amount, byRef.GatewayAmount.Amount)
	}

	for name, err := range map[string]error{
		"id":             errOnly(s.Payment(ctx, 999)),
		"gateway id":     errOnly(s.PaymentByGatewayID(ctx, "cryptocloud", "sp_9f8e7d")),
		"empty gw id":    errOnly(s.PaymentByGatewayID(ctx, "streampay", "")),
		"reference":      errOnly(s.PaymentByOrderRef(ctx, "nope")),
		"update missing": errOnly(s.UpdatePayment(ctx, 999, func(*bridge.Payment) (*bridge.Notification, error) { return nil, nil })),
	} {
		if !errors.Is(err, bridge.ErrPaymentNotFound) {
			t.Errorf("unknown %s: err = %v, want ErrPaymentNotFound", name, err)
		}
	}
}

func errOnly[T any](_ T, err error) error { return err }

func TestDecimalsExact(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	for i, v := range []string{"0.00000001", "21000000.12345678", "0.123456789012345678", "999999999999999999.999999999999999999", "-1.000000000000000001", "0"} {
		p := newPayment(t, int64(200+i), bridge.PaymentPending)
		p.Amount = bridge.Money{Amount: dec(t, v), Currency: "BTC"}
		created := mustCreate(t, s, p)
		got, err := s.Payment(ctx, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Amount.Amount.Equal(dec(t, v)) || got.Amount.Amount.String() != dec(t, v).String() {
			t.Errorf("amount %s read back as %s", v, got.Amount.Amount)
		}
	}
	for _, v := range []string{"0.0000000000000000001", "1000000000000000000"} {
		p := newPayment(t, 300, bridge.PaymentPending)
		p.Amount = bridge.Money{Amount: dec(t, v), Currency: "BTC"}
		if _, err := s.CreatePayment(ctx, p); bridge.ErrorCode(err) != bridge.EINVALID {
			t.Errorf("amount %s: err = %v, want invalid (never rounded silently)", v, err)
		}
	}
}

func TestCreatePaymentValidation(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	for name, mod := range map[string]func(p *bridge.Payment){
		"status paid":     func(p *bridge.Payment) { p.Status = bridge.PaymentPaid },
		"status unknown":  func(p *bridge.Payment) { p.Status = "weird" },
		"no gateway":      func(p *bridge.Payment) { p.Gateway = "" },
		"no reference":    func(p *bridge.Payment) { p.OrderRef = "" },
		"long currency":   func(p *bridge.Payment) { p.Amount.Currency = "ABCDEFGHIJKLMNOPQ" },
		"applied unknown": func(p *bridge.Payment) { p.AppliedStatus = "x" },
	} {
		p := newPayment(t, 1, bridge.PaymentPending)
		mod(p)
		if _, err := s.CreatePayment(ctx, p); bridge.ErrorCode(err) != bridge.EINVALID {
			t.Errorf("%s: err = %v, want invalid", name, err)
		}
	}
	// A reused reference or gateway id is a conflict, not a live payment.
	first := mustCreate(t, s, newPayment(t, 2, bridge.PaymentPending))
	if _, err := s.UpdatePayment(ctx, first.ID, func(p *bridge.Payment) (*bridge.Notification, error) {
		p.Status = bridge.PaymentExpired
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	again := newPayment(t, 3, bridge.PaymentPending)
	again.OrderRef = first.OrderRef
	_, err := s.CreatePayment(ctx, again)
	if bridge.ErrorCode(err) != bridge.ECONFLICT || errors.Is(err, bridge.ErrLivePayment) {
		t.Fatalf("reused reference: err = %v, want a conflict that is not ErrLivePayment", err)
	}
	// Payments still creating have no gateway id and do not collide.
	mustCreate(t, s, newPayment(t, 4, bridge.PaymentCreating))
	mustCreate(t, s, newPayment(t, 5, bridge.PaymentCreating))
}

func TestOneLivePaymentPerOrder(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	for i, end := range []bridge.PaymentStatus{bridge.PaymentExpired, bridge.PaymentFailed, bridge.PaymentCancelled, bridge.PaymentPaid} {
		t.Run(string(end), func(t *testing.T) {
			orderID := int64(900 + i)
			first := mustCreate(t, s, newPayment(t, orderID, bridge.PaymentCreating))

			second := newPayment(t, orderID, bridge.PaymentPending)
			got, err := s.CreatePayment(ctx, second)
			if !errors.Is(err, bridge.ErrLivePayment) {
				t.Fatalf("second live payment: err = %v, want ErrLivePayment", err)
			}
			if got == nil || got.ID != first.ID {
				t.Fatalf("second live payment returned %+v, want the first (id %d)", got, first.ID)
			}
			if ps, _ := s.OrderPayments(ctx, orderID); len(ps) != 1 {
				t.Fatalf("order has %d payments after a refused one, want 1", len(ps))
			}

			if _, err := s.UpdatePayment(ctx, first.ID, func(p *bridge.Payment) (*bridge.Notification, error) {
				p.Status = end
				return nil, nil
			}); err != nil {
				t.Fatal(err)
			}
			third := mustCreate(t, s, newPayment(t, orderID, bridge.PaymentPending))
			ps, err := s.OrderPayments(ctx, orderID)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 2 || ps[0].ID != third.ID || ps[1].ID != first.ID {
				t.Fatalf("order payments = %v, want [%d %d] newest first", ids(ps), third.ID, first.ID)
			}
		})
	}
}

func TestLatePaymentWhileNewerAttemptLive(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	old := mustCreate(t, s, newPayment(t, 77, bridge.PaymentPending))
	setStatus(t, s, old.ID, bridge.PaymentExpired)
	newer := mustCreate(t, s, newPayment(t, 77, bridge.PaymentPending))
	// A late partial payment on the expired attempt is recorded; the newer
	// attempt keeps the order's live slot.
	got, err := s.UpdatePayment(ctx, old.ID, func(p *bridge.Payment) (*bridge.Notification, error) {
		p.Status = bridge.PaymentUnderpaid
		p.Received = bridge.Money{Amount: dec(t, "10"), Currency: "EUR"}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != bridge.PaymentUnderpaid {
		t.Fatalf("status = %s, want underpaid", got.Status)
	}
	live, err := s.CreatePayment(ctx, newPayment(t, 77, bridge.PaymentPending))
	if !errors.Is(err, bridge.ErrLivePayment) || live.ID != newer.ID {
		t.Fatalf("live payment = %v, %v; want the newer one (%d)", live, err, newer.ID)
	}
}

func ids(ps []*bridge.Payment) []int64 {
	out := make([]int64, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func setStatus(t *testing.T, s *store.Store, id int64, st bridge.PaymentStatus) {
	t.Helper()
	if _, err := s.UpdatePayment(context.Background(), id, func(p *bridge.Payment) (*bridge.Notification, error) {
		p.Status = st
		return nil, nil
	}); err != nil {
		t.Fatalf("set payment %d to %s: %v", id, st, err)
	}
}

func TestUpdatePayment(t *testing.T) {
	ctx := context.Background()
	s, clk, _ := newStore(t)
	p := mustCreate(t, s, newPayment(t, 500, bridge.PaymentCreating))
	clk.Add(time.Second)

	// Creating -> pending with the gateway's figures and a notification.
	got, err := s.UpdatePayment(ctx, p.ID, func(p *bridge.Payment) (*bridge.Notification, error) {
		p.Status = bridge.PaymentPending
		p.GatewayID = "sp_500"
		p.GatewayAmount = bridge.Money{Amount: dec(t, "52.123456789012345678"), Currency: "USDT"}
		p.ID, p.OrderID, p.Gateway, p.OrderRef = 9999, 9999, "other", "other" // ignored
		return &bridge.Notification{EventID: "pay-500-pending", Payload: []byte(`{"status":"pending"}`)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != p.ID || got.OrderID != 500 || got.Gateway != "streampay" || got.OrderRef != p.OrderRef || !got.UpdatedAt.Equal(clk.Now().Truncate(time.Microsecond)) {
		t.Fatalf("updated payment id %d order %d updated %v", got.ID, got.OrderID, got.UpdatedAt)
	}
	read, err := s.PaymentByGatewayID(ctx, "streampay", "sp_500")
	if err != nil {
		t.Fatal(err)
	}
	samePayment(t, read, got)
	ns, err := s.ClaimNotifications(ctx, "w", 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1 || ns[0].EventID != "pay-500-pending" || ns[0].OrderID != 500 || string(ns[0].Payload) != `{"status":"pending"}` {
		t.Fatalf("outbox = %+v, want the pending notification for order 500", ns)
	}

	// Backwards moves are refused and write nothing.
	for _, back := range []bridge.PaymentStatus{bridge.PaymentCreating, bridge.PaymentFailed} {
		_, err := s.UpdatePayment(ctx, p.ID, func(p *bridge.Payment) (*bridge.Notification, error) {
			p.Status = back
			p.LastError = "should not be written"
			return &bridge.Notification{EventID: "bad-" + string(back)}, nil
		})
		if !errors.Is(err, bridge.ErrPaymentStatus) {
			t.Fatalf("pending -> %s: err = %v, want ErrPaymentStatus", back, err)
		}
	}
	// fn's own error rolls everything back and is returned as is.
	boom := errors.New("boom")
	_, err = s.UpdatePayment(ctx, p.ID, func(p *bridge.Payment) (*bridge.Notification, error) {
		p.Status = bridge.PaymentPaid
		return &bridge.Notification{EventID: "never"}, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("fn error: err = %v, want boom", err)
	}
	read, _ = s.Payment(ctx, p.ID)
	if read.Status != bridge.PaymentPending || read.LastError != "" {
		t.Fatalf("after refused updates: status %s, last error %q; want pending and none", read.Status, read.LastError)
	}
	// A notification the outbox refuses takes the payment change with it.
	_, err = s.UpdatePayment(ctx, p.ID, func(p *bridge.Payment) (*bridge.Notification, error) {
		p.Status = bridge.PaymentUnderpaid
		return &bridge.Notification{EventID: ""}, nil
	})
	if bridge.ErrorCode(err) != bridge.EINVALID {
		t.Fatalf("notification without event id: err = %v, want invalid", err)
	}
	read, _ = s.Payment(ctx, p.ID)
	if read.Status != bridge.PaymentPending {
		t.Fatalf("status after a refused notification = %s, want pending", read.Status)
	}
	if n, _ := s.Backlog(ctx); n != 1 {
		t.Fatalf("outbox backlog = %d after refused updates, want 1", n)
	}

	// Paid is terminal; a duplicate event id in the outbox is ignored.
	clk.Add(time.Second)
	got, err = s.UpdatePayment(ctx, p.ID, func(p *bridge.Payment) (*bridge.Notification, error) {
		p.Status = bridge.PaymentPaid
		p.TxRef = "0xfeed"
		return &bridge.Notification{EventID: "pay-500-pending", Payload: []byte(`{}`)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != bridge.PaymentPaid {
		t.Fatalf("status = %s, want paid", got.Status)
	}
	if n, _ := s.Backlog(ctx); n != 1 {
		t.Fatalf("backlog = %d after a duplicate event id, want 1", n)
	}
	if _, err := s.UpdatePayment(ctx, p.ID, func(p *bridge.Payment) (*bridge.Notification, error) {
		p.Status = bridge.PaymentExpired
		return nil, nil
	}); !errors.Is(err, bridge.ErrPaymentStatus) {
		t.Fatalf("paid -> expired: err = %v, want ErrPaymentStatus", err)
	}
}

func TestUpdatePaymentConcurrent(t *testing.T) {
	requireRealLocks(t)
	ctx := context.Background()
	s, _, _ := newStore(t)
	p := mustCreate(t, s, newPayment(t, 600, bridge.PaymentPending))
	// Every worker saw the payment pending when it started and tries the same
	// transition the way the service does: only from a status that allows it.
	// Each counts a check, so a lost update would show as fewer than 20.
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		changed int
		errs    []error
	)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var moved bool
			_, err := s.UpdatePayment(ctx, p.ID, func(p *bridge.Payment) (*bridge.Notification, error) {
				p.Checks++
				if !p.Status.CanMove(bridge.PaymentPaid) {
					return nil, nil
				}
				moved = true
				p.Status = bridge.PaymentPaid
				return &bridge.Notification{EventID: fmt.Sprintf("pay-%d-paid-%d", p.ID, p.Checks)}, nil
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			} else if moved {
				changed++
			}
		}()
	}
	wg.Wait()
	if changed != 1 || len(errs) > 0 {
		t.Fatalf("status changed by %d workers, errors %v; want exactly one change and no errors", changed, errs)
	}
	got, _ := s.Payment(ctx, p.ID)
	if got.Status != bridge.PaymentPaid || got.Checks != 20 {
		t.Fatalf("payment status %s checks %d, want paid with all 20 checks counted", got.Status, got.Checks)
	}
	// A worker that blindly repeats a forward move from a stale view is
	// refused by the store.
	if _, err := s.UpdatePayment(ctx, p.ID, func(p *bridge.Payment) (*bridge.Notification, error) {
		p.Status = bridge.PaymentUnderpaid
		return nil, nil
	}); !errors.Is(err, bridge.ErrPaymentStatus) {
		t.Fatalf("paid -> underpaid: err = %v, want ErrPaymentStatus", err)
	}
	if n, _ := s.Backlog(ctx); n != 1 {
		t.Fatalf("outbox has %d notifications, want 1", n)
	}
}

func requireRealLocks(t *testing.T) {
	t.Helper()
	requireReal(t, "row locks between concurrent transactions")
}

func TestClaimDue(t *testing.T) {
	ctx := context.Background()
	s, clk, _ := newStore(t)
	now := clk.Now()
	mk := func(order int64, st bridge.PaymentStatus, next time.Duration, applied bridge.PaymentStatus, gw string) *bridge.Payment {
		p := newPayment(t, order, bridge.PaymentCreating)
		p.Gateway = gw
		p.NextCheckAt = now.Add(next)
		p = mustCreate(t, s, p)
		{
			if _, err := s.UpdatePayment(ctx, p.ID, func(p *bridge.Payment) (*bridge.Notification, error) {
				p.Status, p.AppliedStatus = st, applied
				return nil, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	older := mk(1, bridge.PaymentPending, -2*time.Minute, "", "streampay")
	old := mk(2, bridge.PaymentExpired, -time.Minute, bridge.PaymentExpired, "streampay")
	applyDue := mk(3, bridge.PaymentPaid, -30*time.Second, bridge.PaymentPending, "streampay")
	mk(4, bridge.PaymentPaid, -time.Hour, bridge.PaymentPaid, "streampay")  // final and applied
	mk(5, bridge.PaymentFailed, -time.Hour, "", "streampay")                // failed never reached the order
	notDue := mk(6, bridge.PaymentPending, 10*time.Minute, "", "streampay") // not due yet
	other := mk(7, bridge.PaymentPending, -time.Hour, "", "bitstream")

	got, err := s.ClaimDue(ctx, "a", bridge.PaymentFilter{Gateway: "streampay", Limit: 2}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	first := got
	if g, w := fmt.Sprint(ids(got)), fmt.Sprint([]int64{older.ID, old.ID}); g != w {
		t.Fatalf("first claim = %s, want the two oldest due %s", g, w)
	}
	if got[0].ID != older.ID {
		t.Fatalf("claim not oldest first: %v", ids(got))
	}
	got, err = s.ClaimDue(ctx, "b", bridge.PaymentFilter{Gateway: "streampay", Limit: 10}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := fmt.Sprint(ids(got)), fmt.Sprint([]int64{applyDue.ID}); g != w {
		t.Fatalf("second claim = %s, want %s (the rest is leased, final, failed or not due)", g, w)
	}
	got, err = s.ClaimDue(ctx, "b", bridge.PaymentFilter{Limit: 10}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := fmt.Sprint(ids(got)), fmt.Sprint([]int64{other.ID}); g != w {
		t.Fatalf("claim any gateway = %s, want %s", g, w)
	}

	// A released lease can be claimed again; a plan under another lease
	// releases nothing.
	past := now.Add(-time.Minute)
	if err := s.Reschedule(ctx, []bridge.Reschedule{{ID: older.ID, Lease: first[0].Lease, NextCheckAt: past}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Reschedule(ctx, []bridge.Reschedule{{ID: old.ID, Lease: "someone-else/1", NextCheckAt: past}}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.ClaimDue(ctx, "c", bridge.PaymentFilter{Limit: 10}, time.Minute)
	if g, w := fmt.Sprint(ids(got)), fmt.Sprint([]int64{older.ID}); g != w {
		t.Fatalf("claim after release = %s, want %s", g, w)
	}
	// Leases end by the database's clock, whatever the store's clock says:
	// an hour on, only the payment that was not due yet comes.
	clk.Add(time.Hour)
	got, _ = s.ClaimDue(ctx, "d", bridge.PaymentFilter{Limit: 10}, 200*time.Millisecond)
	if g, w := fmt.Sprint(ids(got)), fmt.Sprint([]int64{notDue.ID}); g != w {
		t.Fatalf("claim an hour on = %s, want %s", g, w)
	}
	time.Sleep(300 * time.Millisecond)
	got, _ = s.ClaimDue(ctx, "e", bridge.PaymentFilter{Limit: 10}, time.Minute)
	if g, w := fmt.Sprint(ids(got)), fmt.Sprint([]int64{notDue.ID}); g != w {
		t.Fatalf("claim after d's lease ended = %s, want %s", g, w)
	}
	if _, err := s.ClaimDue(ctx, "", bridge.PaymentFilter{}, time.Minute); bridge.ErrorCode(err) != bridge.EINVALID {
		t.Fatalf("empty owner: err = %v, want invalid", err)
	}
}

func TestClaimDueConcurrent(t *testing.T) {
	requireReal(t, "concurrent leasing UPDATEs")
	ctx := context.Background()
	s, clk, _ := newStore(t)
	const n = 60
	for i := range n {
		p := newPayment(t, int64(1000+i), bridge.PaymentPending)
		p.NextCheckAt = clk.Now().Add(-time.Duration(i) * time.Second)
		mustCreate(t, s, p)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[int64]string{}
		dups []int64
	)
	for _, owner := range []string{"replica-a", "replica-b", "replica-c"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ps, err := s.ClaimDue(ctx, owner, bridge.PaymentFilter{Limit: 7}, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ps) == 0 {
					return
				}
				mu.Lock()
				for _, p := range ps {
					if _, ok := seen[p.ID]; ok {
						dups = append(dups, p.ID)
					}
					seen[p.ID] = owner
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(dups) > 0 {
		t.Fatalf("payments claimed twice: %v", dups)
	}
	if len(seen) != n {
		t.Fatalf("claimed %d payments, want all %d", len(seen), n)
	}
}

// The reconciler parks payments it gave up on at the end of DATETIME's range.
func TestFarNextCheck(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	never := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	p := mustCreate(t, s, newPayment(t, 1, bridge.PaymentPending))
	got, err := s.UpdatePayment(ctx, p.ID, func(p *bridge.Payment) (*bridge.Notification, error) {
		p.NextCheckAt = never
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	read, _ := s.Payment(ctx, got.ID)
	if !read.NextCheckAt.Equal(never) {
		t.Fatalf("next check = %v, want %v", read.NextCheckAt, never)
	}
	if ps, _ := s.ClaimDue(ctx, "w", bridge.PaymentFilter{}, time.Minute); len(ps) != 0 {
		t.Fatalf("claimed %v, want none before 9999", ids(ps))
	}
}

// TestReschedule: plans are written for the payments the owner holds,
// counting the look and releasing the lease; a payment another owner holds
// is left alone.
func TestReschedule(t *testing.T) {
	ctx := context.Background()
	s, clk, _ := newStore(t)
	for i := int64(1); i <= 3; i++ {
		p := newPayment(t, 100+i, bridge.PaymentPending)
		p.NextCheckAt = clk.Now().Add(-time.Minute)
		mustCreate(t, s, p)
	}
	mine, err := s.ClaimDue(ctx, "me", bridge.PaymentFilter{Limit: 2}, time.Minute)
	if err != nil || len(mine) != 2 {
		t.Fatalf("claim = %v, %v", ids(mine), err)
	}
	theirs, _ := s.ClaimDue(ctx, "them", bridge.PaymentFilter{Limit: 10}, time.Minute)
	next := clk.Now().Add(15 * time.Second)
	lease := mine[0].Lease
	plans := []bridge.Reschedule{{ID: mine[0].ID, Lease: lease, NextCheckAt: next}, {ID: mine[1].ID, Lease: lease, NextCheckAt: next, LastError: "gateway down"}, {ID: theirs[0].ID, Lease: lease, NextCheckAt: next}}
	if err := s.Reschedule(ctx, plans); err != nil {
		t.Fatal(err)
	}
	for i, p := range mine {
		got, _ := s.Payment(ctx, p.ID)
		if !got.NextCheckAt.Equal(next.Truncate(time.Microsecond)) || got.Checks != 1 {
			t.Errorf("payment %d: next %v checks %d, want %v and 1", p.ID, got.NextCheckAt, got.Checks, next)
		}
		if want := []string{"", "gateway down"}[i]; got.LastError != want {
			t.Errorf("payment %d: last error %q, want %q", p.ID, got.LastError, want)
		}
	}
	if got, _ := s.Payment(ctx, theirs[0].ID); got.Checks != 0 {
		t.Errorf("a payment another owner holds was rescheduled")
	}
	// Released: claimable again once due.
	clk.Add(20 * time.Second)
	again, _ := s.ClaimDue(ctx, "other", bridge.PaymentFilter{Limit: 10}, time.Minute)
	if len(again) != 2 {
		t.Errorf("after rescheduling, %d payments claimable, want the 2 released ones", len(again))
	}
}

// TestRescheduleCountsConsecutiveFailures: a failed look adds one to the
// payment's consecutive failures, a good one resets them.
func TestRescheduleCountsConsecutiveFailures(t *testing.T) {
	ctx := context.Background()
	s, clk, _ := newStore(t)
	p := newPayment(t, 300, bridge.PaymentPending)
	p.NextCheckAt = clk.Now().Add(-time.Minute)
	p = mustCreate(t, s, p)
	look := func(failed bool) *bridge.Payment {
		t.Helper()
		clk.Add(time.Minute)
		got, err := s.ClaimDue(ctx, "me", bridge.PaymentFilter{Limit: 1}, time.Minute)
		if err != nil || len(got) != 1 {
			t.Fatalf("claim = %v, %v", ids(got), err)
		}
		pl := bridge.Reschedule{ID: p.ID, Lease: got[0].Lease, NextCheckAt: clk.Now(), Failed: failed}
		if failed {
			pl.LastError = "gateway down"
		}
		if err := s.Reschedule(ctx, []bridge.Reschedule{pl}); err != nil {
			t.Fatal(err)
		}
		after, err := s.Payment(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return after
	}
	for want := 1; want <= 3; want++ {
		if got := look(true); got.Failures != want || got.LastError != "gateway down" {
			t.Fatalf("after %d failed looks: failures %d, last error %q", want, got.Failures, got.LastError)
		}
	}
	if got := look(false); got.Failures != 0 || got.Checks != 4 {
		t.Fatalf("after a good look: failures %d checks %d, want 0 and 4", got.Failures, got.Checks)
	}
}

// TestPaymentProblems: per gateway, the watched payments whose last look
// left an error, with the latest; final payments and clean ones do not count.
func TestPaymentProblems(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	mk := func(order int64, gateway string, status bridge.PaymentStatus, lastError string) *bridge.Payment {
		p := newPayment(t, order, status)
		p.Gateway = gateway
		p = mustCreate(t, s, p)
		if lastError != "" || status != p.Status {
			if _, err := s.UpdatePayment(ctx, p.ID, func(q *bridge.Payment) (*bridge.Notification, error) {
				q.LastError = lastError
				return nil, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	mk(401, "cryptocloud", bridge.PaymentPending, "paid in test mode: not counted")
	latest := mk(402, "cryptocloud", bridge.PaymentPending, "paid in test mode: not counted; turn on allow_test_mode")
	mk(403, "cryptocloud", bridge.PaymentPending, "")
	mk(404, "streampay", bridge.PaymentPending, "")
	got, err := s.PaymentProblems(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cc, ok := got["cryptocloud"]
	if len(got) != 1 || !ok || cc.Count != 2 || cc.PaymentID != latest.ID || cc.OrderID != 402 || cc.Error != "paid in test mode: not counted; turn on allow_test_mode" || cc.At.IsZero() {
		t.Fatalf("problems = %+v", got)
	}
}

// TestUnitScaleRoundTrip: the unit scale a payment was created with is kept;
// none recorded reads back as 0.
func TestUnitScaleRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	with := newPayment(t, 500, bridge.PaymentPending)
	with.Gateway, with.UnitScale = "bitstream", 8
	with.GatewayAmount = bridge.Money{Amount: dec(t, "19.99"), Currency: "usdc"}
	with = mustCreate(t, s, with)
	without := mustCreate(t, s, newPayment(t, 501, bridge.PaymentPending))
	if got, _ := s.Payment(ctx, with.ID); got.UnitScale != 8 || !got.GatewayAmount.Amount.Equal(dec(t, "19.99")) {
		t.Fatalf("unit scale %d, gateway amount %s", got.UnitScale, got.GatewayAmount)
	}
	if got, _ := s.Payment(ctx, without.ID); got.UnitScale != 0 {
		t.Fatalf("unit scale %d, want 0 when none was recorded", got.UnitScale)
	}
	got, err := s.UpdatePayment(ctx, without.ID, func(p *bridge.Payment) (*bridge.Notification, error) {
		p.UnitScale = 6
		return nil, nil
	})
	if err != nil || got.UnitScale != 6 {
		t.Fatalf("update: %v, %v", got, err)
	}
	if got, _ := s.Payment(ctx, without.ID); got.UnitScale != 6 {
		t.Fatalf("unit scale %d after update, want 6", got.UnitScale)
	}
}

// UpdatePayments applies a group in one transaction: each update sees the
// ones before it, a failure of an update's own that wrote nothing fails it
// alone, and every Fn runs once (a rolled-back group would run them again).
func TestUpdatePaymentsTogether(t *testing.T) {
	ctx := context.Background()
	s, _, db := newStore(t)
	p1 := mustCreate(t, s, newPayment(t, 700, bridge.PaymentPending))
	p2 := mustCreate(t, s, newPayment(t, 701, bridge.PaymentPending))
	p3 := mustCreate(t, s, newPayment(t, 702, bridge.PaymentPending))
	runs, held := map[string]int{}, map[string]bool{}
	boom := errors.New("boom")
	pay := func(name, event string) func(*sql.Tx, *bridge.Payment) (*bridge.Notification, error) {
		return func(tx *sql.Tx, p *bridge.Payment) (*bridge.Notification, error) {
			runs[name]++
			held[name] = s.DeferredIn(tx).Len() > 0
			p.Checks++
			if p.Status.CanMove(bridge.PaymentPaid) {
				p.Status = bridge.PaymentPaid
			}
			return &bridge.Notification{EventID: event, Payload: []byte(`{}`)}, nil
		}
	}
	never := func() bool { return false }
	us := []*store.PaymentUpdate{
		{Ref: bridge.PaymentRef{ID: p1.ID}, Fn: pay("first", "e-700-a"), Wrote: never},
		{Ref: bridge.PaymentRef{ID: p2.ID}, Wrote: never, Fn: func(_ *sql.Tx, p *bridge.Payment) (*bridge.Notification, error) {
			runs["refused"]++
			p.Status = bridge.PaymentPaid
			return nil, boom
		}},
		{Ref: bridge.PaymentRef{ID: 999999}, Fn: pay("missing", "e-missing"), Wrote: never},
		{Ref: bridge.PaymentRef{ID: p3.ID}, Fn: pay("third", "e-702"), Wrote: never},
		{Ref: bridge.PaymentRef{ID: p1.ID}, Fn: pay("first again", "e-700-b"), Wrote: never},
	}
	s.UpdatePayments(ctx, us)
	for name, want := range map[string]int{"first": 1, "refused": 1, "third": 1, "first again": 1} {
		if runs[name] != want {
			t.Errorf("%s ran %d times, want %d (one transaction, no rerun)", name, runs[name], want)
		}
	}
	if runs["missing"] != 0 {
		t.Errorf("the update of a missing payment ran its fn")
	}
	if !errors.Is(us[1].Err, boom) || us[1].Payment != nil {
		t.Errorf("refused update: payment %v err %v, want boom", us[1].Payment, us[1].Err)
	}
	if !errors.Is(us[2].Err, bridge.ErrPaymentNotFound) {
		t.Errorf("missing payment: err %v, want ErrPaymentNotFound", us[2].Err)
	}
	for _, i := range []int{0, 3, 4} {
		if us[i].Err != nil || us[i].Payment == nil || us[i].Payment.Status != bridge.PaymentPaid {
			t.Errorf("update %d: payment %+v err %v, want paid", i, us[i].Payment, us[i].Err)
		}
	}
	if us[4].Payment.Checks != 2 {
		t.Errorf("second update of payment %d saw %d checks, want 2 (the first's write)", p1.ID, us[4].Payment.Checks)
	}
	for id, want := range map[int64]bridge.PaymentStatus{p1.ID: bridge.PaymentPaid, p2.ID: bridge.PaymentPending, p3.ID: bridge.PaymentPaid} {
		if got, _ := s.Payment(ctx, id); got.Status != want {
			t.Errorf("payment %d is %s, want %s", id, got.Status, want)
		}
	}
	if n, _ := s.Backlog(ctx); n != 3 {
		t.Errorf("outbox backlog = %d, want 3 (two for payment %d, one for %d)", n, p1.ID, p3.ID)
	}
	// The notifications wait for the group's end, and go in in the order
	// of their updates.
	if held["first"] || !held["third"] || !held["first again"] {
		t.Errorf("notifications held back when each update ran: %v, want all but the first's", held)
	}
	var events []string
	rows, err := db.DB.Query("SELECT event_id FROM wp_wcbridge_outbox ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	if want := []string{"e-700-a", "e-702", "e-700-b"}; !slices.Equal(events, want) {
		t.Errorf("notifications %q, want %q", events, want)
	}
}

// A group's payments are read and locked by one statement before the first
// update runs, by the gateway's id or by id, and each update still sees
// its payment as the updates before it left it: a payment named twice is
// read again for the second, and a payment the group's read did not find
// is not found.
func TestUpdatePaymentsLocksTheGroupFirst(t *testing.T) {
	ctx := context.Background()
	s, _, db := newStore(t)
	create := func(order int64, gatewayID string) *bridge.Payment {
		p := newPayment(t, order, bridge.PaymentPending)
		p.GatewayID = gatewayID
		return mustCreate(t, s, p)
	}
	p1, p2, p3 := create(720, "sp_720"), create(721, "sp_721"), create(722, "sp_722")
	outside := create(723, "sp_723")
	byGateway := func(p *bridge.Payment) bridge.PaymentRef {
		return bridge.PaymentRef{Gateway: p.Gateway, GatewayID: p.GatewayID}
	}
	// locked tells whether another connection finds the payment's row
	// locked (NOWAIT), asked while the group's first update runs.
	locked := map[int64]bool{}
	probe := func(id int64) bool {
		tx, err := db.DB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		var got int64
		return tx.QueryRowContext(ctx, "SELECT id FROM wp_wcbridge_payments WHERE id = ? FOR UPDATE NOWAIT", id).Scan(&got) != nil
	}
	seen := map[string]int{}
	pay := func(name string) func(*sql.Tx, *bridge.Payment) (*bridge.Notification, error) {
		return func(_ *sql.Tx, p *bridge.Payment) (*bridge.Notification, error) {
			if name == "first" && db.Real {
				for _, q := range []*bridge.Payment{p2, p3, outside} {
					locked[q.ID] = probe(q.ID)
				}
			}
			seen[name] = p.Checks
			p.Checks++
			if p.Status.CanMove(bridge.PaymentPaid) {
				p.Status = bridge.PaymentPaid
			}
			return &bridge.Notification{EventID: "e-" + name, Payload: []byte(`{}`)}, nil
		}
	}
	never := func() bool { return false }
	us := []*store.PaymentUpdate{
		{Ref: byGateway(p1), Fn: pay("first"), Wrote: never},
		{Ref: bridge.PaymentRef{ID: p2.ID}, Fn: pay("second"), Wrote: never},
		{Ref: bridge.PaymentRef{Gateway: "streampay", GatewayID: "sp_missing"}, Fn: pay("missing"), Wrote: never},
		{Ref: byGateway(p3), Fn: pay("third"), Wrote: never},
		{Ref: bridge.PaymentRef{ID: p1.ID}, Fn: pay("first again"), Wrote: never},
		{Ref: byGateway(p2), Fn: pay("second again"), Wrote: never},
	}
	s.UpdatePayments(ctx, us)
	if db.Real {
		if !locked[p2.ID] || !locked[p3.ID] {
			t.Errorf("payments %d and %d locked while the first update ran: %v, want both (read with the group)", p2.ID, p3.ID, locked)
		}
		if locked[outside.ID] {
			t.Errorf("payment %d, not in the group, was locked", outside.ID)
		}
	}
	for name, want := range map[string]int{"first": 0, "second": 0, "third": 0, "first again": 1, "second again": 1} {
		if got, ok := seen[name]; !ok || got != want {
			t.Errorf("%s saw %d checks (ran: %v), want %d", name, got, ok, want)
		}
	}
	if _, ran := seen["missing"]; ran || !errors.Is(us[2].Err, bridge.ErrPaymentNotFound) {
		t.Errorf("missing payment: ran %v, err %v; want not run, ErrPaymentNotFound", ran, us[2].Err)
	}
	for _, p := range []*bridge.Payment{p1, p2, p3} {
		got, err := s.Payment(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if p != p3 {
			want = 2
		}
		if got.Status != bridge.PaymentPaid || got.Checks != want {
			t.Errorf("payment %d: %s with %d checks, want paid with %d", p.ID, got.Status, got.Checks, want)
		}
	}
	if n, _ := s.Backlog(ctx); n != 5 {
		t.Errorf("outbox backlog = %d, want 5 (one per update that ran)", n)
	}
}

// An update that fails after writing rolls the group back; each update
// then runs alone, so the others are applied once and its write is gone.
func TestUpdatePaymentsDirtyFailureRunsEachAlone(t *testing.T) {
	ctx := context.Background()
	s, _, db := newStore(t)
	p1 := mustCreate(t, s, newPayment(t, 710, bridge.PaymentPending))
	p2 := mustCreate(t, s, newPayment(t, 711, bridge.PaymentPending))
	p3 := mustCreate(t, s, newPayment(t, 712, bridge.PaymentPending))
	runs := map[int64]int{}
	boom := errors.New("boom")
	wrote := false
	paid := func(_ *sql.Tx, p *bridge.Payment) (*bridge.Notification, error) {
		runs[p.ID]++
		p.Status = bridge.PaymentPaid
		return &bridge.Notification{EventID: fmt.Sprintf("e-%d", p.ID), Payload: []byte(`{}`)}, nil
	}
	us := []*store.PaymentUpdate{
		{Ref: bridge.PaymentRef{ID: p1.ID}, Fn: paid, Wrote: func() bool { return false }},
		{Ref: bridge.PaymentRef{ID: p2.ID}, Wrote: func() bool { return wrote }, Fn: func(tx *sql.Tx, p *bridge.Payment) (*bridge.Notification, error) {
			runs[p.ID]++
			if _, err := tx.ExecContext(ctx, "UPDATE wp_wcbridge_payments SET last_error = 'half done' WHERE id = ?", p.ID); err != nil {
				return nil, err
			}
			wrote = true
			return nil, boom
		}},
		{Ref: bridge.PaymentRef{ID: p3.ID}, Fn: paid, Wrote: func() bool { return false }},
	}
	s.UpdatePayments(ctx, us)
	if us[0].Err != nil || us[2].Err != nil || !errors.Is(us[1].Err, boom) {
		t.Fatalf("errors %v, %v, %v; want nil, boom, nil", us[0].Err, us[1].Err, us[2].Err)
	}
	if runs[p1.ID] != 2 || runs[p2.ID] != 2 {
		t.Errorf("runs %v: want the first two run in the group and again alone", runs)
	}
	if runs[p3.ID] != 1 {
		t.Errorf("payment %d ran %d times, want once (alone, after the group rolled back)", p3.ID, runs[p3.ID])
	}
	var lastError string
	if err := db.DB.QueryRow("SELECT last_error FROM wp_wcbridge_payments WHERE id = ?", p2.ID).Scan(&lastError); err != nil {
		t.Fatal(err)
	}
	if lastError != "" {
		t.Errorf("the failed update's write survived: last_error %q", lastError)
	}
	for id, want := range map[int64]bridge.PaymentStatus{p1.ID: bridge.PaymentPaid, p2.ID: bridge.PaymentPending, p3.ID: bridge.PaymentPaid} {
		if got, _ := s.Payment(ctx, id); got.Status != want {
			t.Errorf("payment %d is %s, want %s", id, got.Status, want)
		}
	}
	if n, _ := s.Backlog(ctx); n != 2 {
		t.Errorf("outbox backlog = %d, want 2 (one per paid payment, none doubled)", n)
	}
}
