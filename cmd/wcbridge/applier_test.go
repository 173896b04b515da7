package main

import (
	"context"
	"errors"
	"fmt"
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
