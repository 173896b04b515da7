package cryptocloud

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway"
	"github.com/wcbridge/wcbridge/bridge/gateway/cryptocloud/cryptocloudsim"
)

const (
	testKey    = "eyJhbGciOiJIUzI1NiJ9.test-api-key-value"
	testShop   = "xBAivfPIbskwuEWj"
	testSecret = "project-secret-key-0123456789"
)

// fastOptions keep retries quick in tests.
var fastOptions = gateway.Options{Timeout: 2 * time.Second, RetryMax: 3, RetryWaitMin: 5 * time.Millisecond, RetryWaitMax: 20 * time.Millisecond}

func testSimConfig() cryptocloudsim.Config {
	cfg := cryptocloudsim.DefaultConfig()
	cfg.APIKey, cfg.ShopID, cfg.SecretKey = testKey, testShop, testSecret
	cfg.RetryInterval = 50 * time.Millisecond
	cfg.MaxAttempts = 5
	return cfg
}

func testConfig(base string) Config {
	return Config{APIKey: testKey, ShopID: testShop, SecretKey: testSecret, BaseURL: base}
}

// startSim runs a simulator behind an httptest server and returns a client
// pointed at it.
func startSim(t *testing.T, cfg cryptocloudsim.Config) (*cryptocloudsim.Simulator, *Client, *httptest.Server) {
	t.Helper()
	sim := cryptocloudsim.New(cfg)
	srv := httptest.NewServer(sim)
	sim.SetPublicURL(srv.URL)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	c, err := New(testConfig(srv.URL), fastOptions)
	if err != nil {
		t.Fatal(err)
	}
	return sim, c, srv
}

func createReq(ref, amount, currency string) bridge.CreatePaymentRequest {
	return bridge.CreatePaymentRequest{
		OrderID: 42, OrderRef: ref, Email: "buyer@example.com", Description: "Order #42 at Shop",
		Amount:   bridge.Money{Amount: decimal.RequireFromString(amount), Currency: currency},
		Lifetime: 90 * time.Minute,
	}
}

func mustCreate(t *testing.T, c *Client, ref, amount, currency string) *bridge.GatewayPayment {
	t.Helper()
	p, err := c.CreatePayment(context.Background(), createReq(ref, amount, currency))
	if err != nil {
		t.Fatalf("create payment: %v", err)
	}
	return p
}

func mustState(t *testing.T, c *Client, id string) *bridge.GatewayState {
	t.Helper()
	st, err := c.PaymentState(context.Background(), id)
	if err != nil {
		t.Fatalf("payment state %s: %v", id, err)
	}
	return st
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time          { return c.t }
func (c *clock) Advance(d time.Duration) { c.t = c.t.Add(d) }
