package streampaysim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay/streampaysim"
)

func post(t *testing.T, u, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestSimulatorCreateValidation(t *testing.T) {
	e := startSim(t)
	page := e.srv.URL + "/api/v1/payment/" + testClientID + "/page"
	const ok = `"name":"n","return_url":"https://r"`
	tests := []struct {
		name string
		url  string
		body string
		want int
		msg  string
	}{
		{"string amount", page, `{"amount_usd":"15.89",` + ok + `}`, 200, ""},
		{"number amount", page, `{"amount":0.02,` + ok + `}`, 200, ""},
		{"eur", page, `{"amount_eur":"1",` + ok + `}`, 200, ""},
		{"manual create", e.srv.URL + "/api/v1/payment/" + testClientID, `{"amount_usd":"1",` + ok + `}`, 200, ""},
		{"unknown client", e.srv.URL + "/api/v1/payment/someone-else/page", `{"amount_usd":"1",` + ok + `}`, 403, "not approved"},
		{"unknown client manual", e.srv.URL + "/api/v1/payment/someone-else", `{"amount_usd":"1",` + ok + `}`, 403, "not approved"},
		{"no name", page, `{"amount_usd":"1","return_url":"https://r"}`, 422, "name is required"},
		{"no return_url", page, `{"amount_usd":"1","name":"n"}`, 422, "return_url is required"},
		{"no amount", page, `{` + ok + `}`, 422, "one of amount_usd"},
		{"two amounts", page, `{"amount_usd":"1","amount_eur":"1",` + ok + `}`, 422, "exactly one"},
		{"zero", page, `{"amount_usd":"0",` + ok + `}`, 422, "positive"},
		{"negative", page, `{"amount_usd":"-1",` + ok + `}`, 422, "positive"},
		{"not a number", page, `{"amount_usd":"ten",` + ok + `}`, 422, "positive decimal"},
		{"not json", page, `amount_usd=1`, 400, "json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.sim.Payments())
			code, body := post(t, tt.url, tt.body)
			if code != tt.want {
				t.Fatalf("got %d %s, want %d", code, body, tt.want)
			}
			created := len(e.sim.Payments()) - before
			if tt.want != 200 {
				var m map[string]string
				if err := json.Unmarshal(body, &m); err != nil || !strings.Contains(m["error"], tt.msg) {
					t.Errorf("error body %s, want it to mention %q", body, tt.msg)
				}
				if created != 0 {
					t.Errorf("a refused request created %d payments", created)
				}
				return
			}
			if created != 1 {
				t.Errorf("created %d payments, want 1", created)
			}
		})
	}
}

func TestSimulatorHostedPage(t *testing.T) {
	ctx := context.Background()
	e := startSim(t)
	gp, err := e.client.CreatePayment(ctx, usdRequest("12.34"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(gp.URL)
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"Order #42 (wcb-42-1)", "12.34 USD", "Pay exact", "Underpay", "Overpay", "Let it expire", `action="/pay/` + gp.GatewayID + `"`} {
		if !strings.Contains(string(html), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(string(html), "<script") || strings.Contains(string(html), "src=") || strings.Contains(string(html), "<link") {
		t.Errorf("page loads external assets")
	}

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := func(id, mode string) *http.Response {
		t.Helper()
		resp, err := noRedirect.PostForm(e.srv.URL+"/pay/"+id, url.Values{"mode": {mode}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// Underpaying stays on the page.
	if resp := form(gp.GatewayID, "under"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/pay/"+gp.GatewayID {
		t.Fatalf("underpay: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Paying the rest redirects the customer to the shop's return url.
	if err := e.sim.Pay(gp.GatewayID); err != nil {
		t.Fatal(err)
	}
	sp, _ := e.sim.Payment(gp.GatewayID)
	if sp.Status != streampaysim.StatusCompleted || !sp.ReceivedUSD.Equal(dec("12.34")) {
		t.Fatalf("after top-up: %+v", sp)
	}
	gp2, err := e.client.CreatePayment(ctx, usdRequest("1"))
	if err != nil {
		t.Fatal(err)
	}
	resp = form(gp2.GatewayID, "exact")
	sp2, _ := e.sim.Payment(gp2.GatewayID)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != sp2.ReturnURL || sp2.Status != streampaysim.StatusCompleted {
		t.Fatalf("pay exact: %d to %q, status %s", resp.StatusCode, resp.Header.Get("Location"), sp2.Status)
	}
	gp3, err := e.client.CreatePayment(ctx, usdRequest("1"))
	if err != nil {
		t.Fatal(err)
	}
	form(gp3.GatewayID, "expire")
	if st, _ := e.client.PaymentState(ctx, gp3.GatewayID); st == nil || st.Status != "expired" {
		t.Fatalf("let it expire: %+v", st)
	}
	if resp := form(gp3.GatewayID, "bogus"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bogus mode: %d", resp.StatusCode)
	}
}

func TestSimulatorControlEndpoint(t *testing.T) {
	ctx := context.Background()
	e := startSim(t)
	gp, err := e.client.CreatePayment(ctx, usdRequest("10"))
	if err != nil {
		t.Fatal(err)
	}
	code, body := post(t, e.srv.URL+"/_sim/"+gp.GatewayID+"/pay?mode=over", "")
	var po streampay.PaymentObject
	if code != 200 || json.Unmarshal(body, &po) != nil || po.Status != "completed" || po.TransactionHash == "" {
		t.Fatalf("pay over: %d %s", code, body)
	}
	if code, _ := post(t, e.srv.URL+"/_sim/"+gp.GatewayID+"/pay", ""); code != http.StatusConflict {
		t.Errorf("paying twice: got %d, want 409", code)
	}
	if code, _ := post(t, e.srv.URL+"/_sim/nope/expire", ""); code != http.StatusNotFound {
		t.Errorf("unknown id: got %d, want 404", code)
	}
	gp2, err := e.client.CreatePayment(ctx, usdRequest("10"))
	if err != nil {
		t.Fatal(err)
	}
	if code, body := post(t, e.srv.URL+"/_sim/"+gp2.GatewayID+"/expire", ""); code != 200 || !strings.Contains(string(body), `"status":"not_found"`) {
		t.Errorf("expire: %d %s", code, body)
	}
}

func TestSimulatorCallbackRetries(t *testing.T) {
	ctx := context.Background()
	e := startSim(t)
	e.rc.failFirst = 2
	gp, err := e.client.CreatePayment(ctx, usdRequest("4"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.PayExact(gp.GatewayID); err != nil {
		t.Fatal(err)
	}
	var bodies [][]byte
	for range 3 {
		bodies = append(bodies, e.rc.next(t))
	}
	// The loop ends once the third attempt is answered 2xx.
	waitFor(t, func() bool { sp, _ := e.sim.Payment(gp.GatewayID); return !sp.Delivering })
	if n := len(e.sim.Callbacks()); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
	for i, d := range e.sim.Callbacks() {
		want := 500
		if i == 2 {
			want = 200
		}
		if d.Attempt != i+1 || d.StatusCode != want {
			t.Errorf("attempt %d: %+v, want status %d", i+1, d, want)
		}
		// The attempt log's own timestamps show the wait between attempts.
		if i > 0 {
			if gap := d.At.Sub(e.sim.Callbacks()[i-1].At); gap < 50*time.Millisecond {
				t.Errorf("attempt %d logged %v after the one before, want at least the 50ms retry interval", i+1, gap)
			}
		}
		if _, err := e.client.VerifyCallback(http.Header{"Content-Type": {"application/json"}}, bodies[i]); err != nil {
			t.Errorf("attempt %d does not verify: %v", i+1, err)
		}
	}
	if sp, _ := e.sim.Payment(gp.GatewayID); sp.CallbackFailing || sp.Status != streampaysim.StatusCompleted {
		t.Errorf("after delivery: %+v (ERR_CALLBACK is off by default)", sp)
	}
}

func TestSimulatorGivesUp(t *testing.T) {
	e := startSim(t, func(s *streampaysim.Config, _ *streampay.Config, _ *gateway.Options) {
		s.MaxAttempts = 3
		s.ShowErrCallback = true
	})
	e.rc.failFirst = 100
	gp, err := e.client.CreatePayment(context.Background(), usdRequest("4"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.PayExact(gp.GatewayID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { sp, _ := e.sim.Payment(gp.GatewayID); return !sp.Delivering })
	if n := len(e.sim.Callbacks()); n != 3 {
		t.Errorf("attempts: got %d, want 3", n)
	}
	if sp, _ := e.sim.Payment(gp.GatewayID); sp.Status != streampaysim.StatusErrCallback {
		t.Errorf("status after giving up: %q, want ERR_CALLBACK", sp.Status)
	}
}

// TestSimulatorRetryForLimit: a failing callback is retried every
// RetryInterval while the next attempt still falls within RetryFor of the
// first, by the simulator's clock. The clock moves one interval before each
// retry, so attempts come at 0, 40 and 80 ms of it; a fourth, at 120 ms,
// would be past 100 ms, and delivery gives up.
func TestSimulatorRetryForLimit(t *testing.T) {
	const interval = 40 * time.Millisecond
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := startSim(t, func(s *streampaysim.Config, _ *streampay.Config, _ *gateway.Options) {
		s.Now = clock
		s.RetryInterval = interval
		s.RetryFor = 100 * time.Millisecond
	})
	e.rc.mu.Lock()
	e.rc.failFirst = 100
	e.rc.onAttempt = func(n int) {
		if n > 1 {
			mu.Lock()
			now = now.Add(interval)
			mu.Unlock()
		}
	}
	e.rc.mu.Unlock()
	gp, err := e.client.CreatePayment(context.Background(), usdRequest("4"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.PayExact(gp.GatewayID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { sp, _ := e.sim.Payment(gp.GatewayID); return !sp.Delivering })
	if n := len(e.sim.Callbacks()); n != 3 {
		t.Errorf("attempts within 100ms at 40ms intervals: got %d, want 3", n)
	}
	if sp, _ := e.sim.Payment(gp.GatewayID); !sp.CallbackFailing {
		t.Errorf("after giving up: %+v, want the callback still failing", sp)
	}
}

func TestSimulatorCloseStopsDelivery(t *testing.T) {
	e := startSim(t, func(s *streampaysim.Config, _ *streampay.Config, _ *gateway.Options) {
		s.RetryInterval = time.Hour
	})
	e.rc.failFirst = 100
	gp, err := e.client.CreatePayment(context.Background(), usdRequest("4"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.PayExact(gp.GatewayID); err != nil {
		t.Fatal(err)
	}
	e.rc.next(t)
	done := make(chan struct{})
	go func() { e.sim.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not stop the retry loop")
	}
}

// TestSimulatorClock: expiry follows the injected clock.
func TestSimulatorClock(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := startSim(t, func(s *streampaysim.Config, _ *streampay.Config, _ *gateway.Options) {
		s.Now = clock
		s.Lifetime = 30 * time.Minute
	})
	gp, err := e.client.CreatePayment(context.Background(), usdRequest("4"))
	if err != nil {
		t.Fatal(err)
	}
	if !gp.ExpiresAt.Equal(now.Add(30 * time.Minute)) {
		t.Fatalf("expires %v", gp.ExpiresAt)
	}
	mu.Lock()
	now = now.Add(29 * time.Minute)
	mu.Unlock()
	if sp, _ := e.sim.Payment(gp.GatewayID); sp.Status != streampaysim.StatusPending {
		t.Fatalf("before expiry: %s", sp.Status)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if sp, _ := e.sim.Payment(gp.GatewayID); sp.Status != streampaysim.StatusNotFound {
		t.Fatalf("at expiry: %s", sp.Status)
	}
}

// TestSimulatorHang: while hanging, a call whose context ends first gets no
// answer and nothing is created; after Hang(0) calls are answered.
func TestSimulatorHang(t *testing.T) {
	e := startSim(t)
	e.sim.Hang(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := e.client.CreatePayment(ctx, usdRequest("1")); err == nil {
		t.Fatal("create answered while the simulator hangs")
	}
	if n := len(e.sim.Payments()); n != 0 {
		t.Errorf("payments while hanging: %d, want 0", n)
	}
	e.sim.Hang(0)
	if _, err := e.client.CreatePayment(context.Background(), usdRequest("1")); err != nil {
		t.Fatalf("after Hang(0): %v", err)
	}
	if n := len(e.sim.Payments()); n != 1 {
		t.Errorf("payments after Hang(0): %d, want 1", n)
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := streampaysim.DefaultConfig()
	if len(cfg.ClientIDs) == 0 || cfg.SecretKey == "" || cfg.Lifetime != 10*time.Minute || cfg.RetryFor != 72*time.Hour {
		t.Errorf("default config: %+v", cfg)
	}
}

// The status host does not know a new payment for StatusLag: it answers
// not_found (a 200, or a 404 naming the payment), which the client reports
// as NotFound with no expiry of its own; then the payment as usual. While a
// callback is failing, the status is ERR_CALLBACK (on by default).
func TestSimulatorStatusLagAndErrCallback(t *testing.T) {
	ctx := context.Background()
	for _, as404 := range []bool{false, true} {
		t.Run(map[bool]string{false: "200", true: "404"}[as404], func(t *testing.T) {
			e := startSim(t, func(s *streampaysim.Config, _ *streampay.Config, _ *gateway.Options) {
				s.StatusLag, s.NotFound404, s.ShowErrCallback = 300*time.Millisecond, as404, true
			})
			e.rc.failFirst = 1000
			gp, err := e.client.CreatePayment(ctx, usdRequest("4"))
			if err != nil {
				t.Fatal(err)
			}
			st, err := e.client.PaymentState(ctx, gp.GatewayID)
			if err != nil || !st.NotFound || st.Status != bridge.PaymentExpired || !st.ExpiresAt.IsZero() {
				t.Fatalf("during the lag: %+v, %v; want NotFound without an expiry", st, err)
			}
			waitFor(t, func() bool {
				st, err := e.client.PaymentState(ctx, gp.GatewayID)
				return err == nil && !st.NotFound && st.Status == bridge.PaymentPending
			})
			if err := e.sim.PayExact(gp.GatewayID); err != nil {
				t.Fatal(err)
			}
			e.rc.next(t) // refused: 500
			st, err = e.client.PaymentState(ctx, gp.GatewayID)
			if err != nil || st.Status != bridge.PaymentPaid || !st.KeepPolling || st.Attention == "" {
				t.Fatalf("while the callback fails: %+v, %v; want paid, keep polling", st, err)
			}
			e.rc.mu.Lock()
			e.rc.failFirst = 0
			e.rc.mu.Unlock()
			waitFor(t, func() bool {
				st, err := e.client.PaymentState(ctx, gp.GatewayID)
				return err == nil && st.Status == bridge.PaymentPaid && !st.KeepPolling
			})
		})
	}
}
