package bitstream

import (
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway"
	"github.com/wcbridge/wcbridge/bridge/gateway/bitstream/bitstreamsim"
)

const testKey = "bs_test_9f8e7d6c5b4a39281706"

// clock is a settable time source for the simulator.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 2, 22, 12, 46, 11, 453e6, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// seqIDs returns a deterministic UUID-shaped id generator.
func seqIDs() func() string {
	var mu sync.Mutex
	n := 0
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("00000000-0000-4000-8000-%012d", n)
	}
}

// startSim starts a simulator behind a real HTTP server.
func startSim(t *testing.T, mutate func(*bitstreamsim.Config)) (*bitstreamsim.Simulator, *httptest.Server, *clock) {
	t.Helper()
	clk := newClock()
	cfg := bitstreamsim.DefaultConfig()
	cfg.APIKey = testKey
	cfg.Now = clk.Now
	cfg.NewID = seqIDs()
	if mutate != nil {
		mutate(&cfg)
	}
	sim := bitstreamsim.New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	t.Cleanup(sim.Close)
	sim.SetPublicURL(srv.URL)
	return sim, srv, clk
}

// fastOpts retries quickly so retry tests stay short.
func fastOpts() gateway.Options {
	return gateway.Options{Timeout: 2 * time.Second, RetryMax: 3, RetryWaitMin: 5 * time.Millisecond, RetryWaitMax: 20 * time.Millisecond}
}

func newTestClient(t *testing.T, srvURL string, mutate func(*Config), opts gateway.Options) *Client {
	t.Helper()
	cfg := Config{APIKey: testKey, BaseURL: srvURL + "/api/v1"}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.Now = newClock().Now // the simulators' start time: expiresAt is reproducible
	return c
}

func orderRequest(total string) bridge.CreatePaymentRequest {
	return bridge.CreatePaymentRequest{
		OrderID:     123,
		OrderRef:    "wc-123-1",
		Amount:      bridge.Money{Amount: decimal.RequireFromString(total), Currency: "USD"},
		Email:       "buyer@example.com",
		Description: "Order #123 at Example Shop",
		ReturnURL:   "https://shop.example/wc-api/wcbridge/return?order=123&cid={CHECKOUT_SESSION_ID}",
		CancelURL:   "https://shop.example/checkout/?cancelled=123",
		Lifetime:    time.Hour,
	}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }
