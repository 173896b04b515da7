package bitstream

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway/bitstream/bitstreamsim"
	"github.com/wcbridge/wcbridge/bridge/gateway/gatewaytest"
)

func startRecorded(t *testing.T, mutate func(*bitstreamsim.Config)) (*bitstreamsim.Simulator, *gatewaytest.Recorder, string) {
	t.Helper()
	clk := newClock()
	cfg := bitstreamsim.DefaultConfig()
	cfg.APIKey = testKey
	cfg.Now = clk.Now
	cfg.NewID = seqIDs()
	// A fixed public URL keeps the golden files free of the random port.
	cfg.PublicURL = "https://buy.bitstream.test"
	if mutate != nil {
		mutate(&cfg)
	}
	sim := bitstreamsim.New(cfg)
	rec := &gatewaytest.Recorder{Next: sim}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return sim, rec, srv.URL
}

func TestGoldenWireFormats(t *testing.T) {
	sim, rec, url := startRecorded(t, nil)
	c := newTestClient(t, url, nil, fastOpts())
	ctx := context.Background()

	gp, err := c.CreatePayment(ctx, orderRequest("25.99"))
	if err != nil {
		t.Fatal(err)
	}
	ex := rec.Last(t)
	if ex.Method != "POST" || ex.Path != "/api/v1/checkout/sessions" || ex.Auth != "Bearer "+testKey || ex.ContentType != "application/json" {
		t.Fatalf("sent %s %s auth %q type %q", ex.Method, ex.Path, ex.Auth, ex.ContentType)
	}
	gatewaytest.Golden(t, "create_request.golden.json", ex.Request)
	gatewaytest.Golden(t, "create_response.golden.json", ex.Response)

	if _, err := c.PaymentState(ctx, gp.GatewayID); err != nil {
		t.Fatal(err)
	}
	if ex := rec.Last(t); ex.Method != "GET" || ex.Path != "/api/v1/checkout/sessions/"+gp.GatewayID || ex.Auth != "Bearer "+testKey {
		t.Fatalf("status read %s %s auth %q", ex.Method, ex.Path, ex.Auth)
	}
	if err := sim.PayExact(gp.GatewayID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PaymentState(ctx, gp.GatewayID); err != nil {
		t.Fatal(err)
	}
	gatewaytest.Golden(t, "session_paid.golden.json", rec.Last(t).Response)

	gp2, err := c.CreatePayment(ctx, orderRequest("1"))
	if err != nil {
		t.Fatal(err)
	}
	sim.Underpay(gp2.GatewayID)
	sim.Expire(gp2.GatewayID)
	if st, err := c.PaymentState(ctx, gp2.GatewayID); err != nil || st.Status != bridge.PaymentUnderpaid {
		t.Fatalf("state %+v, %v", st, err)
	}
	gatewaytest.Golden(t, "session_underpaid_expired.golden.json", rec.Last(t).Response)

	// Only the documented fields, when the assumed ones are turned off.
	off := false
	c2 := newTestClient(t, url, func(c *Config) { c.SendCancelURL = &off; c.SendClientReference = &off; c.SendExpiresAt = &off }, fastOpts())
	if _, err := c2.CreatePayment(ctx, orderRequest("1")); err != nil {
		t.Fatal(err)
	}
	gatewaytest.Golden(t, "create_request_documented_only.golden.json", rec.Last(t).Request)

	// Error shapes.
	bad := newTestClient(t, url, func(c *Config) { c.APIKey = "wrong-key-123" }, fastOpts())
	bad.CreatePayment(ctx, orderRequest("1"))
	if ex := rec.Last(t); ex.Status != 401 {
		t.Fatalf("status %d, want 401", ex.Status)
	} else {
		gatewaytest.Golden(t, "error_401.golden.json", ex.Response)
	}
	req, _ := http.NewRequest("POST", url+"/api/v1/checkout/sessions", strings.NewReader(`{"lineItems":{"data":[{"priceData":{"currency":"xyz","unitAmount":"1.5","productData":{}}}]}}`))
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ex := rec.Last(t); ex.Status != 400 {
		t.Fatalf("status %d, want 400", ex.Status)
	} else {
		gatewaytest.Golden(t, "error_400.golden.json", ex.Response)
	}
}

// The documented example answer, read by the client: "100000000" is the
// "1 USDC" the page says it asks for, whatever the asset's 6 on-chain
// decimals; a shop that configured another unit scale reads it at that.
func TestDocumentedSession(t *testing.T) {
	body, err := os.ReadFile("testdata/documented_session.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseSession(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		unitDecimals int
		want         string
	}{{0, "1"}, {8, "1"}, {6, "100"}} {
		c, err := New(Config{APIKey: "k", UnitDecimals: tt.unitDecimals}, fastOpts())
		if err != nil {
			t.Fatal(err)
		}
		st, err := c.state(s)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != bridge.PaymentPending || !st.Amount.Amount.Equal(dec(tt.want)) || st.Amount.Currency != "usdc" ||
			!st.Received.Amount.IsZero() || st.TxRef != "" || st.GatewayID != "6bce7b07-825f-454e-bea8-3a2bb04a570b" {
			t.Fatalf("unit_decimals %d: state %+v, want pending %s usdc", tt.unitDecimals, st, tt.want)
		}
		if want := max(tt.unitDecimals, 0); st.UnitScale != want && !(tt.unitDecimals == 0 && st.UnitScale == DefaultUnitDecimals) {
			t.Fatalf("unit_decimals %d: unit scale %d", tt.unitDecimals, st.UnitScale)
		}
		if want := time.Date(2023, 2, 22, 13, 46, 11, 441e6, time.UTC); !st.ExpiresAt.Equal(want) {
			t.Fatalf("expires %v, want %v", st.ExpiresAt, want)
		}
	}
}

// The simulator takes the documented request, even in strict mode, and
// answers with exactly the documented object's fields.
func TestSimulatorMatchesDocumentedShape(t *testing.T) {
	_, _, url := startRecorded(t, func(c *bitstreamsim.Config) { c.RejectUnknownFields = true })
	reqBody, err := os.ReadFile("testdata/documented_request.json")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", url+"/api/v1/checkout/sessions", bytes.NewReader(reqBody))
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	doc, _ := os.ReadFile("testdata/documented_session.json")
	wantKeys, gotKeys := keyPaths(t, doc), keyPaths(t, got)
	if strings.Join(wantKeys, "\n") != strings.Join(gotKeys, "\n") {
		t.Fatalf("shape differs\nmissing: %v\nextra: %v", minus(wantKeys, gotKeys), minus(gotKeys, wantKeys))
	}
	s, err := parseSession(got)
	if err != nil {
		t.Fatal(err)
	}
	if s.AmountTotal != "100000000" || s.Status != "open" || s.PaymentStatus != "unpaid" || s.PaymentIntent.Status != "requires_payment_method" ||
		s.URL != "https://buy.bitstream.test/payment/checkout-session/"+s.ID || !strings.HasSuffix(s.ExpiresAt, ".453Z") {
		t.Fatalf("session %+v", s)
	}
	var raw map[string]any
	json.Unmarshal(got, &raw)
	if raw["successUrl"] != "https://bitstream.com/success?cid="+s.ID {
		t.Fatalf("successUrl %v, want the session id substituted", raw["successUrl"])
	}
}

// keyPaths lists every object key path of a JSON document; array elements
// share the path "[]".
func keyPaths(t *testing.T, b []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	var walk func(p string, v any)
	walk = func(p string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				set[p+"."+k] = true
				walk(p+"."+k, e)
			}
		case []any:
			for _, e := range x {
				walk(p+"[]", e)
			}
		}
	}
	walk("", v)
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func minus(a, b []string) []string {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []string
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}
