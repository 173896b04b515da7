package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
)

// The applier's writers: reports applied before the writers start, while
// they run (many at once, one refused on its own) and after they stop are
// each applied exactly once, and a refusal fails only its own report.
func TestApplierWriters(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const n = 40
	ids := make([]int64, n+2)
	for i, p := range pendingPayments(t, h, "writers", len(ids)) {
		ids[i] = p.paymentID
	}
	app := h.sidecars[0].app
	var (
		mu   sync.Mutex
		runs = map[int64]int{}
	)
	refused := errors.New("refused by fn")
	pay := func(_ context.Context, _ bridge.OrderTx, p *bridge.Payment) (*bridge.Notification, error) {
		mu.Lock()
		runs[p.ID]++
		mu.Unlock()
		if p.ID == ids[n/2] {
			return nil, refused
		}
		p.Status = bridge.PaymentPaid
		return &bridge.Notification{EventID: fmt.Sprintf("writers:%d:paid", p.ID), Payload: []byte(`{}`)}, nil
	}
	a := newApplier(app.Store, app.Woo)
	if _, err := a.ApplyPayment(ctx, bridge.PaymentRef{ID: ids[n]}, nil, pay); err != nil {
		t.Fatalf("before the writers start: %v", err)
	}

	runCtx, stop := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { a.run(runCtx, 2, 8); close(stopped) }()
	waitFor(t, "the writers to start", 5*time.Second, a.running.Load)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = a.ApplyPayment(ctx, bridge.PaymentRef{ID: ids[i]}, nil, pay)
		}()
	}
	wg.Wait()
	stop()
	<-stopped
	if _, err := a.ApplyPayment(ctx, bridge.PaymentRef{ID: ids[n+1]}, nil, pay); err != nil {
		t.Fatalf("after the writers stopped: %v", err)
	}

	for i, id := range ids {
		p, err := app.Store.Payment(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want, wantErr := bridge.PaymentPaid, error(nil)
		if i == n/2 {
			want, wantErr = bridge.PaymentPending, refused
		}
		if i < n && !errors.Is(errs[i], wantErr) {
			t.Errorf("payment %d: err %v, want %v", id, errs[i], wantErr)
		}
		if p.Status != want {
			t.Errorf("payment %d is %s, want %s", id, p.Status, want)
		}
		// A refusal that wrote nothing does not roll its group back: no
		// report is applied twice.
		if runs[id] != 1 {
			t.Errorf("payment %d: fn ran %d times, want once", id, runs[id])
		}
	}
	if got := h.woo.Rows(t, "SELECT COUNT(*) AS n FROM {p}wcbridge_outbox WHERE event_id LIKE 'writers:%'"); got[0]["n"] != fmt.Sprint(n+1) {
		t.Errorf("%s notifications queued, want %d (one per paid payment)", got[0]["n"], n+1)
	}
}

// A group's transaction holds its reports' order meta rows and
// notifications back and writes them at its end, one INSERT each (store.
// DeferredIn); a report on an order whose rows are held back reads them:
// a second event on the same order sets the meta row the first inserted,
// and the first event again is a duplicate. In every storage mode, each
// report's fn runs once (the group commits together) and nothing is
// written twice.
func TestApplierGroupHoldsInsertsBack(t *testing.T) {
	for _, mode := range []bridge.StorageMode{bridge.StorageHPOS, bridge.StorageHPOSSync, bridge.StoragePosts, bridge.StoragePostsSync} {
		t.Run(string(mode), func(t *testing.T) {
			h := newHarness(t, withMode(mode))
			ctx := context.Background()
			ps := pendingPayments(t, h, "held", 2)
			app := h.sidecars[0].app
			a := newApplier(app.Store, app.Woo)
			runs := map[int]int{}
			held0 := false
			report := func(job int, event string, outcome bridge.OrderOutcome, figures string, res **bridge.OrderResult) bridge.ApplyFunc {
				return func(ctx context.Context, tx bridge.OrderTx, p *bridge.Payment) (*bridge.Notification, error) {
					runs[job]++
					if job == 1 {
						// The first report's rows wait for the group's end.
						ot := tx.(*orderTx)
						held0 = ot.a.store.DeferredIn(ot.tx).Waiting(ps[0].orderID)
					}
					o, err := tx.Order(ctx, p.OrderID)
					if err != nil {
						return nil, err
					}
					r, err := tx.ApplyOrder(ctx, bridge.OrderUpdate{OrderID: p.OrderID, Outcome: outcome, EventID: event,
						PaymentMethod: o.PaymentMethod, TransactionID: "tx-" + event, Note: "Report " + event + ".",
						Meta: map[string]string{"_wcbridge_payment": figures}})
					if err != nil {
						return nil, err
					}
					*res = r
					p.Checks++
					return &bridge.Notification{EventID: event, Payload: []byte(`{}`)}, nil
				}
			}
			e0, e1, e2 := "held:0:paid", "held:1:paid", "held:0:note"
			var r0, r1, r2, r3 *bridge.OrderResult
			fns := []struct {
				pay int
				fn  bridge.ApplyFunc
			}{
				{0, report(0, e0, bridge.OutcomePaid, "v1", &r0)},
				{1, report(1, e1, bridge.OutcomePaid, "v1", &r1)},
				{0, report(2, e2, bridge.OutcomeNote, "v2", &r2)}, // the order's rows are held back: read after they are written
				{0, report(3, e0, bridge.OutcomePaid, "v1", &r3)}, // the first event again
			}
			jobs := make([]*applyJob, len(fns))
			for i, f := range fns {
				jobs[i] = &applyJob{ctx: ctx, u: a.update(ctx, bridge.PaymentRef{ID: ps[f.pay].paymentID}, nil, f.fn), done: make(chan struct{})}
			}
			a.applyGroup(jobs)
			for i, j := range jobs {
				if j.u.Err != nil {
					t.Fatalf("report %d: %v", i, j.u.Err)
				}
			}
			for i := range jobs {
				if runs[i] != 1 {
					t.Errorf("report %d ran %d times, want once (the group committed together)", i, runs[i])
				}
			}
			if !held0 {
				t.Error("the first report's rows were not held back for the group's end")
			}
			if !r0.Changed || !r1.Changed || r2.Changed || !r3.Duplicate {
				t.Errorf("results: first %+v, other order %+v, note %+v, first again %+v; want changed, changed, unchanged, duplicate", r0, r1, r2, r3)
			}
			tables := map[bridge.StorageMode][][2]string{
				bridge.StorageHPOS:      {{"wc_orders_meta", "order_id"}},
				bridge.StorageHPOSSync:  {{"wc_orders_meta", "order_id"}, {"postmeta", "post_id"}},
				bridge.StoragePosts:     {{"postmeta", "post_id"}},
				bridge.StoragePostsSync: {{"postmeta", "post_id"}, {"wc_orders_meta", "order_id"}},
			}[mode]
			for _, tb := range tables {
				meta := func(order int64, key string) []string {
					var vs []string
					for _, r := range h.woo.Rows(t, "SELECT meta_value AS v FROM {p}"+tb[0]+" WHERE "+tb[1]+" = ? AND meta_key = ? ORDER BY meta_value", order, key) {
						vs = append(vs, r["v"])
					}
					return vs
				}
				o0, o1 := ps[0].orderID, ps[1].orderID
				if got := meta(o0, "_wcbridge_event"); !slices.Equal(got, []string{e2, e0}) {
					t.Errorf("%s: order %d events %q, want %q", tb[0], o0, got, []string{e2, e0})
				}
				if got := meta(o0, "_wcbridge_payment"); !slices.Equal(got, []string{"v2"}) {
					t.Errorf("%s: order %d _wcbridge_payment %q, want one row, v2", tb[0], o0, got)
				}
				if got := meta(o1, "_wcbridge_event"); !slices.Equal(got, []string{e1}) {
					t.Errorf("%s: order %d events %q, want %q", tb[0], o1, got, []string{e1})
				}
				if got := meta(o1, "_wcbridge_payment"); !slices.Equal(got, []string{"v1"}) {
					t.Errorf("%s: order %d _wcbridge_payment %q, want one row, v1", tb[0], o1, got)
				}
			}
			if got := len(h.notes(ps[0].orderID)); got != 2 {
				t.Errorf("order %d has %d notes, want 2 (paid, then the note)", ps[0].orderID, got)
			}
			var events []string
			for _, r := range h.woo.Rows(t, "SELECT event_id AS e FROM {p}wcbridge_outbox WHERE event_id LIKE 'held:%' ORDER BY id") {
				events = append(events, r["e"])
			}
			if want := []string{e0, e1, e2}; !slices.Equal(events, want) {
				t.Errorf("notifications queued %q, want %q in that order", events, want)
			}
		})
	}
}
