package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeCallbacks records callbacks, an identical body once per gateway.
type fakeCallbacks struct {
	mu       sync.Mutex
	rows     []*Callback
	finished []string // reasons given to FinishCallback
	batches  []int    // the size of each RecordCallbacks call, in order
	// onBatch, when set, runs at the start of the nth RecordCallbacks call
	// (from 1); an error fails the call and records nothing.
	onBatch func(ctx context.Context, n int) error
}

// RecordCallbacks records cs one by one, as the store's single statement
// records them.
func (f *fakeCallbacks) RecordCallbacks(ctx context.Context, cs []*Callback) ([]CallbackResult, error) {
	f.mu.Lock()
	f.batches = append(f.batches, len(cs))
	n, hook := len(f.batches), f.onBatch
	f.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, n); err != nil {
			return nil, err
		}
	}
	out := make([]CallbackResult, len(cs))
	for i, c := range cs {
		got, dup, err := f.RecordCallback(ctx, c)
		if err != nil {
			return nil, err
		}
		out[i] = CallbackResult{Callback: got, Duplicate: dup}
	}
	return out, nil
}

func (f *fakeCallbacks) batchSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.batches...)
}

func (f *fakeCallbacks) RecordCallback(_ context.Context, c *Callback) (*Callback, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rows {
		if r.Gateway == c.Gateway && r.BodyHash == c.BodyHash {
			e := *r
			return &e, true, nil
		}
	}
	c.ID = int64(len(f.rows) + 1)
	r := *c
	f.rows = append(f.rows, &r)
	return c, false, nil
}

func (f *fakeCallbacks) ClaimCallbacks(context.Context, string, int, time.Duration) ([]*Callback, error) {
	return nil, nil
}

func (f *fakeCallbacks) FinishCallback(_ context.Context, _ int64, _, reason string, _ bool, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finished = append(f.finished, reason)
	return nil
}

func (f *fakeCallbacks) LastCallbacks(context.Context) (map[string]CallbackSummary, error) {
	return nil, nil
}

func (f *fakeCallbacks) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.rows)
}

// signedGateway verifies a callback whose body is "signed:<payment id>" and
// confirms it from the fake's state table.
type signedGateway struct{ *testGateway }

func (g signedGateway) VerifyCallback(_ http.Header, body []byte) (*CallbackEvent, error) {
	id, ok := strings.CutPrefix(string(body), "signed:")
	if !ok || id == "" {
		return nil, ErrSignature
	}
	return &CallbackEvent{Gateway: "streampay", GatewayID: id}, nil
}

func (g signedGateway) ConfirmCallback(ctx context.Context, ev *CallbackEvent) (*GatewayState, error) {
	return g.PaymentState(ctx, ev.GatewayID)
}

// newCallbackCore is newCore with a signedGateway, fakeCallbacks and one
// pending 40 USD payment sp1 on order 1 that the gateway reports paid.
func newCallbackCore(t *testing.T) (*core, *fakeCallbacks) {
	t.Helper()
	c, gw := newCheckoutCore(t)
	cbs := &fakeCallbacks{}
	c.svc.Gateways = fakeGateways{signedGateway{gw}}
	c.svc.Callbacks = cbs
	c.order(1, "40.00")
	c.payment(1, "sp1", PaymentPending, "40.00")
	c.gw.states["sp1"] = &GatewayState{GatewayID: "sp1", Status: PaymentPaid, Amount: usdAmount("40.00"), Received: usdAmount("40.00")}
	return c, cbs
}

func callbackReq(body string) CallbackRequest {
	return CallbackRequest{Gateway: "streampay", Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte(body), RemoteAddr: "203.0.113.9"}
}

// A refused callback is kept for the status page with its reason and
// writes nothing: no callback row, the payment and order untouched.
func TestReceiveCallbackRefused(t *testing.T) {
	for _, tc := range []struct {
		name, gateway, body, wantCode, wantReason string
	}{
		{"bad signature", "streampay", "forged:sp1", EUNAUTHORIZED, "signature invalid"},
		{"empty body", "streampay", "", EUNAUTHORIZED, "signature invalid"},
		{"unknown gateway", "nosuch", "signed:sp1", ENOTFOUND, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, cbs := newCallbackCore(t)
			r := callbackReq(tc.body)
			r.Gateway = tc.gateway
			res, err := c.svc.ReceiveCallback(ctx, r)
			if err == nil || ErrorCode(err) != tc.wantCode {
				t.Fatalf("result %+v err %v (code %q), want %s", res, err, ErrorCode(err), tc.wantCode)
			}
			recent, total, _ := c.svc.Rejections.Recent(tc.gateway)
			if tc.wantReason == "" {
				if total != 0 {
					t.Fatalf("%d rejections kept for an unknown gateway", total)
				}
			} else if total != 1 || len(recent) != 1 || recent[0].Reason != tc.wantReason || recent[0].RemoteAddr != "203.0.113.9" {
				t.Fatalf("rejections %+v (total %d)", recent, total)
			}
			if n := cbs.count(); n != 0 {
				t.Fatalf("%d callback rows, want 0", n)
			}
			p, _ := c.payments.PaymentByGatewayID(ctx, "streampay", "sp1")
			o, _ := c.orders.Order(ctx, 1)
			if p.Status != PaymentPending || o.Status != StatusPending || len(c.orders.notesOf(1)) != 0 || len(c.payments.events()) != 0 {
				t.Fatalf("payment %s order %s notes %q events %q", p.Status, o.Status, c.orders.notesOf(1), c.payments.events())
			}
		})
	}
}

// An accepted callback is recorded verified and leased before anything is
// applied; processing it confirms with the gateway and applies it once:
// the order paid, one note, one notification, the callback recorded
// applied in the same transaction.
func TestCallbackRecordedThenApplied(t *testing.T) {
	c, cbs := newCallbackCore(t)
	res, err := c.svc.ReceiveCallback(ctx, callbackReq("signed:sp1"))
	if err != nil {
		t.Fatal(err)
	}
	cb := res.Callback
	if res.Duplicate || cb.ID == 0 || !cb.Verified || cb.PaymentKey != "sp1" || cb.Lease == "" || cbs.count() != 1 {
		t.Fatalf("recorded %+v duplicate %v rows %d", cb, res.Duplicate, cbs.count())
	}
	if o, _ := c.orders.Order(ctx, 1); o.Status != StatusPending || len(c.payments.events()) != 0 {
		t.Fatalf("applied on receipt: order %s events %q", o.Status, c.payments.events())
	}
	done, reason, err := c.svc.ProcessCallback(ctx, cb)
	if err != nil || !done || reason != "applied: payment paid" {
		t.Fatalf("process: done %v reason %q err %v", done, reason, err)
	}
	p, _ := c.payments.PaymentByGatewayID(ctx, "streampay", "sp1")
	o, _ := c.orders.Order(ctx, 1)
	if p.Status != PaymentPaid || p.AppliedStatus != PaymentPaid || o.Status != StatusProcessing {
		t.Fatalf("payment %s applied %s order %s", p.Status, p.AppliedStatus, o.Status)
	}
	if notes := c.orders.notesOf(1); len(notes) != 1 {
		t.Fatalf("notes %q", notes)
	}
	if ev := c.payments.events(); len(ev) != 1 || ev[0] != "wcbridge:1:paid" {
		t.Fatalf("notifications %q", ev)
	}
	applied := c.svc.Applier.(*fakeApplier).applied
	if len(applied) != 1 || applied[0].ID != cb.ID {
		t.Fatalf("callbacks recorded applied %+v, want %d", applied, cb.ID)
	}
}

// The same callback delivered twice is recorded once; processing both
// deliveries applies it once.
func TestCallbackDuplicateAppliedOnce(t *testing.T) {
	c, cbs := newCallbackCore(t)
	first, err := c.svc.ReceiveCallback(ctx, callbackReq("signed:sp1"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.svc.ReceiveCallback(ctx, callbackReq("signed:sp1"))
	if err != nil {
		t.Fatal(err)
	}
	if first.Duplicate || !second.Duplicate || second.Callback.ID != first.Callback.ID || cbs.count() != 1 {
		t.Fatalf("first %+v second %+v rows %d", first, second, cbs.count())
	}
	for _, cb := range []*Callback{first.Callback, second.Callback} {
		if done, reason, err := c.svc.ProcessCallback(ctx, cb); err != nil || !done {
			t.Fatalf("process: done %v reason %q err %v", done, reason, err)
		}
	}
	o, _ := c.orders.Order(ctx, 1)
	if o.Status != StatusProcessing || len(c.orders.notesOf(1)) != 1 {
		t.Fatalf("order %s notes %q", o.Status, c.orders.notesOf(1))
	}
	if ev := c.payments.events(); len(ev) != 1 {
		t.Fatalf("notifications %q, want one", ev)
	}
	if _, _, err := c.svc.ProcessCallback(ctx, first.Callback); err != nil {
		t.Fatalf("third processing: %v", err)
	}
	if len(c.orders.notesOf(1)) != 1 || len(c.payments.events()) != 1 {
		t.Fatalf("after a third processing: notes %q events %q", c.orders.notesOf(1), c.payments.events())
	}
}

// A callback is handed to a worker as it is being recorded, and the
// worker asks the gateway meanwhile, but applies the answer only once the
// callback is recorded: not when recording failed (the gateway sends it
// again), not for a copy recorded before.
func TestInboundAppliedOnceRecorded(t *testing.T) {
	c, cbs := newCallbackCore(t)
	recording, release := make(chan struct{}), make(chan struct{})
	cbs.onBatch = func(_ context.Context, n int) error {
		if n == 1 {
			close(recording)
			<-release
			return errors.New("connection refused")
		}
		return nil
	}
	failed := receive(c, ctx, "signed:sp1")
	<-recording
	in := <-c.svc.queue // handed over before the record ended
	applied := make(chan bool, 1)
	go func() { applied <- c.svc.finishInbound(ctx, in) }()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		c.gw.mu.Lock()
		asked := c.gw.calls
		c.gw.mu.Unlock()
		if asked == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway was asked %d times, want 1", asked)
		}
	}
	select {
	case <-applied:
		t.Fatal("applied before the callback was recorded")
	default:
	}
	close(release)
	if r := <-failed; ErrorCode(r.err) != EUNAVAILABLE {
		t.Fatalf("first delivery: %+v %v, want unavailable", r.res, r.err)
	}
	if <-applied {
		t.Fatal("a callback that was not recorded was applied")
	}
	if o, _ := c.orders.Order(ctx, 1); o.Status != StatusPending || len(c.payments.events()) != 0 {
		t.Fatalf("order %s events %q after a failed record", o.Status, c.payments.events())
	}

	// Sent again: recorded, applied once.
	res, err := c.svc.ReceiveCallback(ctx, callbackReq("signed:sp1"))
	if err != nil || res.Duplicate {
		t.Fatalf("second delivery: %+v %v", res, err)
	}
	if !c.svc.finishInbound(ctx, <-c.svc.queue) {
		t.Fatal("the recorded callback was not processed")
	}
	if o, _ := c.orders.Order(ctx, 1); o.Status != StatusProcessing || len(c.payments.events()) != 1 || cbs.count() != 1 {
		t.Fatalf("order %s events %q rows %d", o.Status, c.payments.events(), cbs.count())
	}
	// A third copy, sent again: a duplicate, not handed over, so the
	// gateway is not asked again.
	c.gw.mu.Lock()
	asked := c.gw.calls
	c.gw.mu.Unlock()
	res, err = c.svc.ReceiveCallback(ctx, callbackReq("signed:sp1"))
	if err != nil || !res.Duplicate {
		t.Fatalf("third delivery: %+v %v, want a duplicate", res, err)
	}
	if n := len(c.svc.queue); n != 0 {
		t.Fatalf("%d callbacks handed over for a copy recorded before", n)
	}
	c.gw.mu.Lock()
	defer c.gw.mu.Unlock()
	if c.gw.calls != asked || len(c.orders.notesOf(1)) != 1 || len(c.payments.events()) != 1 {
		t.Fatalf("gateway asked %d more times, notes %q events %q, want none and one each", c.gw.calls-asked, c.orders.notesOf(1), c.payments.events())
	}
}

// What is remembered of recorded bodies is bounded: the oldest is
// forgotten first.
func TestArrivingRemembersRecentBodies(t *testing.T) {
	var a arriving
	for i := range recentBodies + 10 {
		k := fmt.Sprint(i)
		if !a.start(k) {
			t.Fatalf("%s: new body not handed over", k)
		}
		a.end(k, true)
	}
	if len(a.recent) != recentBodies || len(a.n) != 0 {
		t.Fatalf("remembers %d bodies, counts %d arriving; want %d and 0", len(a.recent), len(a.n), recentBodies)
	}
	if a.start("0") != true || a.start(fmt.Sprint(recentBodies+9)) != false {
		t.Fatal("want the oldest forgotten and the newest remembered")
	}
	if a.start("0") {
		t.Fatal("a second copy arriving with the first was handed over")
	}
}
