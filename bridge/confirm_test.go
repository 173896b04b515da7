package bridge

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// batchGateway confirms in batches, slowly, and records each call's size;
// gate, when set, runs at the start of each call.
type batchGateway struct {
	mu    sync.Mutex
	sizes []int
	gate  func()
}

func (g *batchGateway) Name() string { return "batchy" }
func (g *batchGateway) Capabilities() Capabilities {
	return Capabilities{Callbacks: true, BatchSize: 10}
}
func (g *batchGateway) CreatePayment(context.Context, CreatePaymentRequest) (*GatewayPayment, error) {
	return nil, ErrUnavailable
}
func (g *batchGateway) PaymentState(context.Context, string) (*GatewayState, error) {
	return nil, ErrUnavailable
}
func (g *batchGateway) VerifyCallback(http.Header, []byte) (*CallbackEvent, error) {
	return nil, ErrSignature
}
func (g *batchGateway) ConfirmCallback(context.Context, *CallbackEvent) (*GatewayState, error) {
	panic("a batch gateway's callbacks are confirmed in batches")
}
func (g *batchGateway) ConfirmCallbacks(_ context.Context, evs []*CallbackEvent) ([]*GatewayState, []error) {
	g.mu.Lock()
	g.sizes = append(g.sizes, len(evs))
	g.mu.Unlock()
	if g.gate != nil {
		g.gate()
	}
	time.Sleep(30 * time.Millisecond) // a status API far away
	states := make([]*GatewayState, len(evs))
	errs := make([]error, len(evs))
	for i, ev := range evs {
		if ev.GatewayID == "unknown" {
			errs[i] = ErrPaymentNotFound
			continue
		}
		states[i] = &GatewayState{GatewayID: ev.GatewayID, Status: PaymentPaid}
	}
	return states, errs
}

// TestConfirmBatches: callbacks confirmed at once share the gateway's batch
// calls (at most confirmCallsInFlight in flight, BatchSize each), and each
// gets its own answer.
func TestConfirmBatches(t *testing.T) {
	s := NewService(Service{})
	g := &batchGateway{}
	const n = 60
	// The status API answers once every callback has arrived (is in a call
	// or waiting for one): "at once", however slowly a loaded machine
	// starts the callers.
	arrived := func() bool {
		b := s.confirming.of("batchy")
		b.mu.Lock()
		waiting := len(b.pending)
		b.mu.Unlock()
		g.mu.Lock()
		defer g.mu.Unlock()
		in := 0
		for _, k := range g.sizes {
			in += k
		}
		return in+waiting >= n
	}
	g.gate = func() {
		for deadline := time.Now().Add(30 * time.Second); !arrived() && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("p", i)
			if i == 7 {
				id = "unknown"
			}
			st, err := s.confirm(context.Background(), g, &CallbackEvent{Gateway: "batchy", GatewayID: id})
			switch {
			case id == "unknown" && err != ErrPaymentNotFound:
				errs <- fmt.Errorf("unknown payment: err %v, want not found", err)
			case id != "unknown" && (err != nil || st.GatewayID != id):
				errs <- fmt.Errorf("payment %s: state %+v err %v", id, st, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	calls, most := 0, 0
	for _, k := range g.sizes {
		calls += k
		most = max(most, k)
	}
	if calls != n {
		t.Errorf("%d callbacks confirmed, want %d", calls, n)
	}
	if len(g.sizes) > n/3 || most > 10 {
		t.Errorf("%d calls of sizes %v for %d callbacks, want few calls of at most 10", len(g.sizes), g.sizes, n)
	}
}
