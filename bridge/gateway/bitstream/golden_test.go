package bitstream

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway/bitstream/bitstreamsim"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// golden compares got (JSON, indented for reading) with testdata/name.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(got), "", "  "); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", name, err, got)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", name, buf.Bytes(), want)
	}
}

// recorder keeps what passes between the client and the simulator.
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	ex   []exchange
}

type exchange struct {
	method, path, auth, contentType string
	reqBody, respBody               []byte
	status                          int
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rw := httptest.NewRecorder()
	rec.next.ServeHTTP(rw, r)
	rec.mu.Lock()
	rec.ex = append(rec.ex, exchange{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body, rw.Body.Bytes(), rw.Code})
	rec.mu.Unlock()
	for k, v := range rw.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rw.Code)
	w.Write(rw.Body.Bytes())
}

func (rec *recorder) last(t *testing.T) exchange {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.ex) == 0 {
		t.Fatal("no exchange recorded")
	}
	return rec.ex[len(rec.ex)-1]
}

func startRecorded(t *testing.T, mutate func(*bitstreamsim.Config)) (*bitstreamsim.Simulator, *recorder, string) {
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
	rec := &recorder{next: sim}
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
	ex := rec.last(t)
	if ex.method != "POST" || ex.path != "/api/v1/checkout/sessions" || ex.auth != "Bearer "+testKey || ex.contentType != "application/json" {
		t.Fatalf("sent %s %s auth %q type %q", ex.method, ex.path, ex.auth, ex.contentType)
	}
	golden(t, "create_request.golden.json", ex.reqBody)
	golden(t, "create_response.golden.json", ex.respBody)

	if _, err := c.PaymentState(ctx, gp.GatewayID); err != nil {
		t.Fatal(err)
	}
	if ex := rec.last(t); ex.method != "GET" || ex.path != "/api/v1/checkout/sessions/"+gp.GatewayID || ex.auth != "Bearer "+testKey {
		t.Fatalf("status read %s %s auth %q", ex.method, ex.path, ex.auth)
	}
	if err := sim.PayExact(gp.GatewayID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PaymentState(ctx, gp.GatewayID); err != nil {
		t.Fatal(err)
	}
	golden(t, "session_paid.golden.json", rec.last(t).respBody)

	gp2, err := c.CreatePayment(ctx, orderRequest("1"))
	if err != nil {
		t.Fatal(err)
	}
	sim.Underpay(gp2.GatewayID)
	sim.Expire(gp2.GatewayID)
	if st, err := c.PaymentState(ctx, gp2.GatewayID); err != nil || st.Status != bridge.PaymentUnderpaid {
		t.Fatalf("state %+v, %v", st, err)
	}
	golden(t, "session_underpaid_expired.golden.json", rec.last(t).respBody)

	// Only the documented fields, when the assumed ones are turned off.
	off := false
	c2 := newTestClient(t, url, func(c *Config) { c.SendCancelURL = &off; c.SendClientReference = &off; c.SendExpiresAt = &off }, fastOpts())
	if _, err := c2.CreatePayment(ctx, orderRequest("1")); err != nil {
		t.Fatal(err)
	}
	golden(t, "create_request_documented_only.golden.json", rec.last(t).reqBody)

	// Error shapes.
	bad := newTestClient(t, url, func(c *Config) { c.APIKey = "wrong-key-123" }, fastOpts())
	bad.CreatePayment(ctx, orderRequest("1"))
	if ex := rec.last(t); ex.status != 401 {
		t.Fatalf("status %d, want 401", ex.status)
	} else {
		golden(t, "error_401.golden.json", ex.respBody)
	}
	req, _ := http.NewRequest("POST", url+"/api/v1/checkout/sessions", strings.NewReader(`{"lineItems":{"data":[{"priceData":{"currency":"xyz","unitAmount":"1.5","productData":{}}}]}}`))
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ex := rec.last(t); ex.status != 400 {
		t.Fatalf("status %d, want 400", ex.status)
	} else {
		golden(t, "error_400.golden.json", ex.respBody)
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
