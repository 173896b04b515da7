package streampaysim_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay/streampaysim"
)

// The simulator is tested through the real client: the two are written
// apart, so each checks the other against the documentation.

const (
	testClientID = "c0ffee00-1111-2222-3333-444455556666"
	testSecret   = "s3cr3t-Key-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnop"
)

// receiver is the shop's callback endpoint: it records every body and
// answers failFirst non-2xx answers before succeeding.
type receiver struct {
	mu        sync.Mutex
	bodies    [][]byte
	failFirst int
	failCode  int
	got       chan []byte
	// onAttempt, when set, runs for the nth request before it is answered.
	onAttempt func(n int)
}

func newReceiver(t *testing.T) (*receiver, *httptest.Server) {
	t.Helper()
	rc := &receiver{got: make(chan []byte, 100), failCode: http.StatusInternalServerError}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, b)
		fail := rc.failFirst > 0
		if fail {
			rc.failFirst--
		}
		n, hook := len(rc.bodies), rc.onAttempt
		rc.mu.Unlock()
		if hook != nil {
			hook(n)
		}
		rc.got <- b
		if fail {
			w.WriteHeader(rc.failCode)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return rc, srv
}

// next waits for the next callback body.
func (rc *receiver) next(t *testing.T) []byte {
	t.Helper()
	select {
	case b := <-rc.got:
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("no callback arrived")
		return nil
	}
}

type env struct {
	sim    *streampaysim.Simulator
	srv    *httptest.Server
	client *streampay.Client
	rc     *receiver
	cfg    streampay.Config
}

type envOpt func(*streampaysim.Config, *streampay.Config, *gateway.Options)

// startSim starts a simulator behind httptest, a callback receiver, and a
// client whose two base URLs both point at the simulator.
func startSim(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	rc, rsrv := newReceiver(t)
	scfg := streampaysim.Config{
		ClientIDs:     []string{testClientID},
		SecretKey:     testSecret,
		CallbackURL:   rsrv.URL,
		RetryInterval: 50 * time.Millisecond,
	}
	gopts := gateway.Options{RetryMax: 3, RetryWaitMin: 5 * time.Millisecond, RetryWaitMax: 20 * time.Millisecond, Timeout: 2 * time.Second}
	var ccfg streampay.Config
	for _, o := range opts {
		o(&scfg, &ccfg, &gopts)
	}
	sim := streampaysim.New(scfg)
	srv := httptest.NewServer(sim)
	sim.SetPublicURL(srv.URL)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	if ccfg.ClientID == "" {
		ccfg.ClientID = testClientID
	}
	if ccfg.SecretKey == "" {
		ccfg.SecretKey = testSecret
	}
	ccfg.CreateURL = srv.URL + "/api/v1"
	ccfg.StatusURL = srv.URL + "/api/v1/"
	c, err := streampay.New(ccfg, gopts)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return &env{sim: sim, srv: srv, client: c, rc: rc, cfg: ccfg}
}

func usdRequest(amount string) bridge.CreatePaymentRequest {
	return bridge.CreatePaymentRequest{
		OrderID:     42,
		OrderRef:    "wcb-42-1",
		Amount:      bridge.Money{Amount: decimal.RequireFromString(amount), Currency: "USD"},
		Email:       "buyer@example.com",
		Description: "Order #42 at Test Shop",
		ReturnURL:   "https://shop.example.com/checkout/order-received/42/?key=wc_order_abc",
		CancelURL:   "https://shop.example.com/cart/",
		Lifetime:    time.Hour,
	}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
