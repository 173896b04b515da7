package bitstream

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway/bitstream/bitstreamsim"
)

func TestCreatePaymentAndPollEveryStatus(t *testing.T) {
	sim, srv, clk := startSim(t, nil)
	c := newTestClient(t, srv.URL, nil, fastOpts())
	ctx := context.Background()

	create := func(t *testing.T) *bridge.GatewayPayment {
		t.Helper()
		gp, err := c.CreatePayment(ctx, orderRequest("25.99"))
		if err != nil {
			t.Fatalf("CreatePayment: %v", err)
		}
		return gp
	}
	state := func(t *testing.T, id string) *bridge.GatewayState {
		t.Helper()
		st, err := c.PaymentState(ctx, id)
		if err != nil {
			t.Fatalf("PaymentState: %v", err)
		}
		return st
	}

	gp := create(t)
	if gp.GatewayID == "" || gp.URL != srv.URL+"/payment/checkout-session/"+gp.GatewayID {
		t.Fatalf("payment %+v: want id and hosted page url", gp)
	}
	if !gp.Amount.Amount.Equal(dec("25.99")) || gp.Amount.Currency != "usdc" {
		t.Fatalf("amount %v, want 25.99 usdc", gp.Amount)
	}
	if want := clk.Now().Add(time.Hour); !gp.ExpiresAt.Equal(want) {
		t.Fatalf("expires %v, want %v", gp.ExpiresAt, want)
	}
	p, _ := sim.Payment(gp.GatewayID)
	if p.AmountTotal.String() != "2599000000" || p.ClientReferenceID != "wc-123-1" || p.Metadata["order_id"] != "123" {
		t.Fatalf("simulator saw total %s ref %q metadata %v", p.AmountTotal, p.ClientReferenceID, p.Metadata)
	}
	if !strings.HasSuffix(p.SuccessURL, "cid="+gp.GatewayID) || p.CancelURL != "https://shop.example/checkout/?cancelled=123" {
		t.Fatalf("success %q cancel %q: want session id substituted and cancel url kept", p.SuccessURL, p.CancelURL)
	}

	st := state(t, gp.GatewayID)
	if st.Status != bridge.PaymentPending || !st.Received.Amount.IsZero() || st.OrderRef != "wc-123-1" || st.TxRef != "" {
		t.Fatalf("fresh state %+v, want pending, nothing received", st)
	}
	if st.Test {
		t.Fatal("a non-documented base url must not default to test mode")
	}

	tests := []struct {
		name     string
		act      func(id string) error
		want     bridge.PaymentStatus
		received string
		tx       bool
	}{
		{"exact", sim.PayExact, bridge.PaymentPaid, "25.99", true},
		{"under", sim.Underpay, bridge.PaymentUnderpaid, "23.391", true},
		{"over", sim.Overpay, bridge.PaymentOverpaid, "28.589", true},
		{"expired", sim.Expire, bridge.PaymentExpired, "0", false},
		{"cancelled", sim.Cancel, bridge.PaymentCancelled, "0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := create(t).GatewayID
			if err := tt.act(id); err != nil {
				t.Fatal(err)
			}
			st := state(t, id)
			if st.Status != tt.want {
				t.Fatalf("status %s, want %s", st.Status, tt.want)
			}
			if !st.Received.Amount.Equal(dec(tt.received)) || st.Received.Currency != "usdc" {
				t.Fatalf("received %v, want %s usdc", st.Received, tt.received)
			}
			if !st.Amount.Amount.Equal(dec("25.99")) || st.Amount.Currency != "usdc" {
				t.Fatalf("amount %v, want 25.99 usdc", st.Amount)
			}
			p, _ := sim.Payment(id)
			if tt.tx != (st.TxRef != "") || (tt.tx && st.TxRef != p.TxHashes[0]) {
				t.Fatalf("tx ref %q, simulator hashes %v", st.TxRef, p.TxHashes)
			}
		})
	}

	t.Run("underpaid then topped up", func(t *testing.T) {
		id := create(t).GatewayID
		if err := sim.Underpay(id); err != nil {
			t.Fatal(err)
		}
		if st := state(t, id); st.Status != bridge.PaymentUnderpaid {
			t.Fatalf("status %s, want underpaid", st.Status)
		}
		if err := sim.Pay(id, big.NewInt(259900000)); err != nil {
			t.Fatal(err)
		}
		if st := state(t, id); st.Status != bridge.PaymentPaid || !st.Received.Amount.Equal(dec("25.99")) {
			t.Fatalf("state %s received %v, want paid 25.99", st.Status, st.Received)
		}
	})

	t.Run("expires with time, late payment still counts", func(t *testing.T) {
		id := create(t).GatewayID
		clk.Add(time.Hour)
		if st := state(t, id); st.Status != bridge.PaymentExpired {
			t.Fatalf("status %s after an hour, want expired", st.Status)
		}
		if err := sim.PayExact(id); err != nil {
			t.Fatal(err)
		}
		if st := state(t, id); st.Status != bridge.PaymentPaid {
			t.Fatalf("status %s after a late payment, want paid", st.Status)
		}
	})

	t.Run("unknown session", func(t *testing.T) {
		_, err := c.PaymentState(ctx, "00000000-0000-4000-8000-999999999999")
		if !errors.Is(err, bridge.ErrPaymentNotFound) {
			t.Fatalf("err %v, want ErrPaymentNotFound", err)
		}
	})
}

func TestCreatePaymentRefusals(t *testing.T) {
	sim, srv, _ := startSim(t, nil)
	c := newTestClient(t, srv.URL, nil, fastOpts())
	ctx := context.Background()

	r := orderRequest("10")
	r.Amount.Currency = "EUR"
	if _, err := c.CreatePayment(ctx, r); !errors.Is(err, bridge.ErrCurrency) {
		t.Fatalf("EUR order: err %v, want ErrCurrency", err)
	}
	if _, err := c.CreatePayment(ctx, orderRequest("0")); bridge.ErrorCode(err) != bridge.EINVALID {
		t.Fatalf("zero total: err %v, want EINVALID", err)
	}
	if n := sim.Calls("create"); n != 0 {
		t.Fatalf("%d create calls reached the simulator, want 0", n)
	}
}

// Amounts go out in 10^-8 of the token: the documented "1 USDC" is
// "100000000", a 19.99 USD order 19.99 USDC, not 0.1999. A total with more
// decimals than the unit is rounded up, never down. The session's asset
// decimals (6 for USDC) are the token's, not the unit, and are not compared.
func TestCreatePaymentUnits(t *testing.T) {
	sim, srv, _ := startSim(t, nil) // assets declare usdc 6
	c := newTestClient(t, srv.URL, nil, fastOpts())
	for _, tt := range []struct{ total, units, asked string }{
		{"1", "100000000", "1"},
		{"19.99", "1999000000", "19.99"},
		{"0.00000001", "1", "0.00000001"},
		{"10.000000001", "1000000001", "10.00000001"}, // rounded up
		{"10.000000009", "1000000001", "10.00000001"}, // rounded up
		{"123456789.123456789", "12345678912345679", "123456789.12345679"},
	} {
		gp, err := c.CreatePayment(context.Background(), orderRequest(tt.total))
		if err != nil {
			t.Fatalf("%s: %v", tt.total, err)
		}
		p, _ := sim.Payment(gp.GatewayID)
		if p.AmountTotal.String() != tt.units || !gp.Amount.Amount.Equal(dec(tt.asked)) || gp.Amount.Currency != "usdc" || gp.UnitScale != 8 {
			t.Fatalf("%s USD: sent %s units, asked %s %s at scale %d; want %s units, %s usdc at 8", tt.total, p.AmountTotal, gp.Amount.Amount, gp.Amount.Currency, gp.UnitScale, tt.units, tt.asked)
		}
		if gp.Amount.Amount.LessThan(dec(tt.total)) {
			t.Fatalf("%s: asked %s, less than the order total", tt.total, gp.Amount.Amount)
		}
	}
	// A shop that set another unit scale gets it, on the request and on the
	// payment, which keeps it.
	c6 := newTestClient(t, srv.URL, func(c *Config) { c.UnitDecimals = 6 }, fastOpts())
	gp, err := c6.CreatePayment(context.Background(), orderRequest("1"))
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := sim.Payment(gp.GatewayID); p.AmountTotal.String() != "1000000" || gp.UnitScale != 6 {
		t.Fatalf("unit_decimals 6: sent %s, scale %d", p.AmountTotal, gp.UnitScale)
	}
}

// A strict server (only the documented fields) refuses our assumed fields;
// with them turned off the client works against it.
func TestCreatePaymentOnlyDocumentedFields(t *testing.T) {
	sim, srv, _ := startSim(t, func(c *bitstreamsim.Config) { c.RejectUnknownFields = true })
	c := newTestClient(t, srv.URL, nil, fastOpts())
	_, err := c.CreatePayment(context.Background(), orderRequest("5"))
	if err == nil || !strings.Contains(err.Error(), "http 400") || !strings.Contains(err.Error(), "property cancelUrl should not exist") {
		t.Fatalf("err %v, want a 400 naming cancelUrl", err)
	}
	off := false
	c = newTestClient(t, srv.URL, func(c *Config) { c.SendCancelURL = &off; c.SendClientReference = &off; c.SendExpiresAt = &off }, fastOpts())
	gp, err := c.CreatePayment(context.Background(), orderRequest("5"))
	if err != nil {
		t.Fatalf("documented fields only: %v", err)
	}
	p, _ := sim.Payment(gp.GatewayID)
	if p.ClientReferenceID != "" || p.CancelURL != "" || p.Metadata != nil {
		t.Fatalf("sent %+v, want no assumed fields", p)
	}
	st, err := c.PaymentState(context.Background(), gp.GatewayID)
	if err != nil || st.OrderRef != "" || st.Status != bridge.PaymentPending {
		t.Fatalf("state %+v, %v", st, err)
	}
}

func TestCurrencyMapOtherToken(t *testing.T) {
	sim, srv, _ := startSim(t, nil)
	c := newTestClient(t, srv.URL, func(c *Config) {
		c.CurrencyMap = map[string]string{"USD": "usdt", "EUR": "dai"}
	}, fastOpts())
	r := orderRequest("12.5")
	r.Amount.Currency = "EUR"
	gp, err := c.CreatePayment(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := sim.Payment(gp.GatewayID)
	if p.Currency != "dai" || p.AmountTotal.String() != "1250000000" {
		t.Fatalf("simulator saw %s %s, want 12.5 dai in 10^-8 units (DAI's 18 on-chain decimals do not matter)", p.AmountTotal, p.Currency)
	}
	if gp.Amount.Currency != "dai" || !gp.Amount.Amount.Equal(dec("12.5")) {
		t.Fatalf("amount %v", gp.Amount)
	}
}

func TestTestModeDefaultsToDocumentedHost(t *testing.T) {
	c, err := New(Config{APIKey: "k"}, fastOpts())
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id":"s1","currency":"usdc","amountTotal":"1000000","status":"open","paymentStatus":"unpaid","expiresAt":"2023-02-22T13:46:11.441Z"}`)
	s, err := parseSession(body)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.state(s)
	if err != nil || !st.Test {
		t.Fatalf("state %+v, %v: want test on the documented (test) host", st, err)
	}
	off := false
	c, _ = New(Config{APIKey: "k", TestMode: &off}, fastOpts())
	if st, _ := c.state(s); st.Test {
		t.Fatal("test_mode false must win")
	}
}

func TestMapStatus(t *testing.T) {
	const total = 1000
	tests := []struct {
		name                  string
		status, payment, intt string
		received              int64
		want                  bridge.PaymentStatus
	}{
		{"documented fresh", "open", "unpaid", "requires_payment_method", 0, bridge.PaymentPending},
		{"processing", "open", "unpaid", "processing", 0, bridge.PaymentPending},
		{"paid exact", "complete", "paid", "succeeded", 1000, bridge.PaymentPaid},
		{"paid over", "complete", "paid", "succeeded", 1001, bridge.PaymentOverpaid},
		// Copperx's plugin counts a complete session as paid: amounts not
		// reported, the gateway vouches.
		{"complete without amounts", "complete", "paid", "succeeded", 0, bridge.PaymentPaid},
		{"paid flag on an open session, nothing received", "open", "paid", "succeeded", 0, bridge.PaymentPending},
		{"complete without paid flag", "complete", "unpaid", "succeeded", 1000, bridge.PaymentPaid},
		// Copperx's "incomplete": some money, less than the total.
		{"incomplete with amounts", "incomplete", "unpaid", "requires_payment_method", 400, bridge.PaymentUnderpaid},
		{"incomplete without amounts", "incomplete", "unpaid", "requires_payment_method", 0, bridge.PaymentUnderpaid},
		{"incomplete topped up", "complete", "paid", "succeeded", 1000, bridge.PaymentPaid},
		{"canceled session", "canceled", "unpaid", "requires_payment_method", 0, bridge.PaymentCancelled},
		{"transaction seen, not confirmed", "open", "unpaid", "processing", 0, bridge.PaymentPending},
		{"paid flag but short", "complete", "paid", "succeeded", 999, bridge.PaymentUnderpaid},
		{"full amount not yet confirmed", "open", "unpaid", "processing", 1000, bridge.PaymentPending},
		{"partial open", "open", "unpaid", "requires_payment_method", 1, bridge.PaymentUnderpaid},
		{"partial expired", "expired", "unpaid", "requires_payment_method", 500, bridge.PaymentUnderpaid},
		{"expired", "expired", "unpaid", "requires_payment_method", 0, bridge.PaymentExpired},
		{"expired and intent canceled", "expired", "unpaid", "canceled", 0, bridge.PaymentExpired},
		{"cancelled", "open", "unpaid", "canceled", 0, bridge.PaymentCancelled},
		{"late payment after expiry", "expired", "paid", "succeeded", 1000, bridge.PaymentPaid},
		{"unknown values", "weird", "odd", "strange", 0, bridge.PaymentPending},
		{"no payment required", "complete", "no_payment_required", "", 0, bridge.PaymentPending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mapStatus(tt.status, tt.payment, tt.intt, big.NewInt(tt.received), big.NewInt(total))
			if got != tt.want {
				t.Fatalf("mapStatus(%s, %s, %s, %d/%d) = %s, want %s", tt.status, tt.payment, tt.intt, tt.received, total, got, tt.want)
			}
		})
	}
}

func TestStateRefusesBadAnswers(t *testing.T) {
	c, _ := New(Config{APIKey: "k"}, fastOpts())
	for name, body := range map[string]string{
		"unknown token":     `{"id":"s","currency":"shib","amountTotal":"1"}`,
		"float total":       `{"id":"s","currency":"usdc","amountTotal":"1.5"}`,
		"negative received": `{"id":"s","currency":"usdc","amountTotal":"10","paymentIntent":{"amountReceived":"-1"}}`,
		"intent currency":   `{"id":"s","currency":"usdc","amountTotal":"10","paymentIntent":{"currency":"usdt","amountReceived":"10"}}`,
		"bad time":          `{"id":"s","currency":"usdc","amountTotal":"10","expiresAt":"yesterday"}`,
	} {
		s, err := parseSession([]byte(body))
		if err != nil {
			continue // refused already while parsing
		}
		if st, err := c.state(s); err == nil {
			t.Errorf("%s: state %+v, want error", name, st)
		}
	}
	// Numbers instead of strings are tolerated, exactly.
	s, err := parseSession([]byte(`{"id":"s","currency":"usdc","amountTotal":2599000000,"paymentIntent":{"amountReceived":2599000000},"paymentStatus":"paid"}`))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.state(s); err != nil || st.Status != bridge.PaymentPaid || !st.Received.Amount.Equal(dec("25.99")) {
		t.Fatalf("numeric amounts: %+v, %v", st, err)
	}
}

func TestPaymentStateRejectsBadIDs(t *testing.T) {
	sim, srv, _ := startSim(t, nil)
	c := newTestClient(t, srv.URL, nil, fastOpts())
	for _, id := range []string{"", "../x", "a/b", "a?b"} {
		if _, err := c.PaymentState(context.Background(), id); bridge.ErrorCode(err) != bridge.EINVALID {
			t.Errorf("id %q: err %v, want EINVALID", id, err)
		}
	}
	if n := sim.Calls("get"); n != 0 {
		t.Fatalf("%d reads reached the simulator", n)
	}
}
