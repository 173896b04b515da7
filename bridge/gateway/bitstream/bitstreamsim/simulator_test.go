package bitstreamsim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway/simkit"
)

// noRedirect lets tests see the hosted page's redirects.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func doReq(t *testing.T, method, u, auth, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if method == http.MethodPost && strings.HasPrefix(body, "mode=") {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestSimulatorAuth(t *testing.T) {
	_, srv, _ := startSim(t, nil)
	api := srv.URL + "/api/v1/checkout/sessions"
	body := "{}"
	for name, auth := range map[string]string{
		"missing": "", "wrong": "Bearer nope", "no scheme": testKey, "basic": "Basic " + testKey, "prefix": "Bearer " + testKey[:5],
	} {
		for _, m := range []struct{ method, u string }{{"POST", api}, {"GET", api + "/x"}} {
			code, _, got := doReq(t, m.method, m.u, auth, body)
			if code != 401 || strings.TrimSpace(got) != "{\n  \"statusCode\": 401,\n  \"message\": \"Unauthorized\"\n}" {
				t.Errorf("%s %s auth %s: %d %s", m.method, m.u, name, code, got)
			}
		}
	}
	if code, _, got := doReq(t, "GET", srv.URL+"/api/v1/nothing", "Bearer "+testKey, ""); code != 404 || !strings.Contains(got, "Cannot GET /api/v1/nothing") {
		t.Errorf("unknown route: %d %s", code, got)
	}
}

func TestSimulatorValidation(t *testing.T) {
	_, srv, _ := startSim(t, nil)
	api := srv.URL + "/api/v1/checkout/sessions"
	auth := "Bearer " + testKey
	tests := []struct{ name, body, want string }{
		{"not json", `nope`, "body must be a JSON object"},
		{"array", `[]`, "body must be a JSON object"},
		{"no line items", `{"successUrl":"https://a.example/"}`, "lineItems.data must contain at least 1 elements"},
		{"number amount", `{"successUrl":"https://a.example/","lineItems":{"data":[{"priceData":{"currency":"usdc","unitAmount":100,"productData":{"name":"x"}}}]}}`, "lineItems.data.priceData.unitAmount must be a string"},
		{"decimal amount", `{"successUrl":"https://a.example/","lineItems":{"data":[{"priceData":{"currency":"usdc","unitAmount":"1.5","productData":{"name":"x"}}}]}}`, "unitAmount must be a positive numeric string"},
		{"zero amount", `{"successUrl":"https://a.example/","lineItems":{"data":[{"priceData":{"currency":"usdc","unitAmount":"0","productData":{"name":"x"}}}]}}`, "unitAmount must be a positive numeric string"},
		{"mixed currencies", `{"successUrl":"https://a.example/","lineItems":{"data":[{"priceData":{"currency":"usdc","unitAmount":"1","productData":{"name":"x"}}},{"priceData":{"currency":"dai","unitAmount":"1","productData":{"name":"y"}}}]}}`, "lineItems.data.1.priceData.currency must match"},
		{"bad cancel url", `{"successUrl":"https://a.example/","cancelUrl":"javascript:x","lineItems":{"data":[{"priceData":{"currency":"usdc","unitAmount":"1","productData":{"name":"x"}}}]}}`, "cancelUrl must be a URL address"},
		{"bad quantity", `{"successUrl":"https://a.example/","lineItems":{"data":[{"quantity":0,"priceData":{"currency":"usdc","unitAmount":"1","productData":{"name":"x"}}}]}}`, "quantity must be a positive integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, got := doReq(t, "POST", api, auth, tt.body)
			var e struct {
				StatusCode int `json:"statusCode"`
			}
			json.Unmarshal([]byte(got), &e)
			if code != 400 || e.StatusCode != 400 || !strings.Contains(got, tt.want) {
				t.Fatalf("%d %s, want 400 containing %q", code, got, tt.want)
			}
		})
	}
	// Quantity multiplies the total.
	code, _, got := doReq(t, "POST", api, auth, `{"successUrl":"https://a.example/","lineItems":{"data":[{"quantity":3,"priceData":{"currency":"usdc","unitAmount":"1000000","productData":{"name":"x"}}},{"priceData":{"currency":"usdc","unitAmount":"5","productData":{"name":"y"}}}]}}`)
	if code != 201 || !strings.Contains(got, `"amountTotal": "3000005"`) {
		t.Fatalf("quantities: %d %s", code, got)
	}
}

func TestSimulatorHostedPage(t *testing.T) {
	sim, srv, _ := startSim(t, nil)
	c := newTestClient(t, srv.URL, nil, fastOpts())
	ctx := context.Background()
	newPage := func(t *testing.T) (id, page string) {
		t.Helper()
		gp, err := c.CreatePayment(ctx, orderRequest("25.99"))
		if err != nil {
			t.Fatal(err)
		}
		return gp.GatewayID, gp.URL
	}

	id, page := newPage(t)
	code, hdr, html := doReq(t, "GET", page, "", "")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", code, hdr.Get("Content-Type"))
	}
	for _, want := range []string{"Order #123 at Example Shop", "25.99 USDC", "2599000000 units of 10<sup>-8</sup>",
		`value="exact">Pay exact`, `value="under">Underpay (90%)`, `value="over">Overpay (110%)`, `value="expire">Let it expire`, `value="cancel">Cancel`} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, ext := range []string{"<script", "<link", "src=", "@import"} {
		if strings.Contains(html, ext) {
			t.Errorf("page must not load external assets (%s)", ext)
		}
	}

	redirects := []struct {
		action string
		to     func(p Payment) string
		want   bridge.PaymentStatus
	}{
		{"exact", func(p Payment) string { return p.SuccessURL }, bridge.PaymentPaid},
		{"under", func(p Payment) string { return p.SuccessURL }, bridge.PaymentUnderpaid},
		{"over", func(p Payment) string { return p.SuccessURL }, bridge.PaymentOverpaid},
		{"cancel", func(p Payment) string { return p.CancelURL }, bridge.PaymentCancelled},
		{"expire", func(p Payment) string { return "/payment/checkout-session/" + p.ID }, bridge.PaymentExpired},
	}
	for i, tt := range redirects {
		t.Run(tt.action, func(t *testing.T) {
			if i > 0 {
				id, page = newPage(t)
			}
			code, hdr, _ := doReq(t, "POST", page, "", "mode="+tt.action)
			p, _ := sim.Payment(id)
			if code != http.StatusSeeOther || hdr.Get("Location") != tt.to(p) {
				t.Fatalf("%d to %q, want 303 to %q", code, hdr.Get("Location"), tt.to(p))
			}
			st, err := c.PaymentState(ctx, id)
			if err != nil || st.Status != tt.want {
				t.Fatalf("state %+v, %v; want %s", st, err, tt.want)
			}
			// An underpaid session stays open for a top-up; the others are over.
			_, _, html := doReq(t, "GET", page, "", "")
			if offers := strings.Contains(html, "Pay exact"); offers != (tt.action == "under") {
				t.Fatalf("page offers payment: %v after %s", offers, tt.action)
			}
		})
	}
	if code, _, _ := doReq(t, "GET", srv.URL+"/payment/checkout-session/nope", "", ""); code != 404 {
		t.Fatalf("unknown page: %d", code)
	}
	if code, _, _ := doReq(t, "POST", page, "", "mode=steal"); code != 400 {
		t.Fatalf("unknown action: %d", code)
	}
}

func TestSimulatorControlEndpoint(t *testing.T) {
	sim, srv, _ := startSim(t, nil)
	c := newTestClient(t, srv.URL, nil, fastOpts())
	ctx := context.Background()
	tests := []struct {
		path string
		want bridge.PaymentStatus
	}{
		{"pay?mode=exact", bridge.PaymentPaid},
		{"pay?mode=under", bridge.PaymentUnderpaid},
		{"pay?mode=over", bridge.PaymentOverpaid},
		{"pay?amount=1", bridge.PaymentUnderpaid},
		{"expire", bridge.PaymentExpired},
		{"cancel", bridge.PaymentCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			gp, err := c.CreatePayment(ctx, orderRequest("2"))
			if err != nil {
				t.Fatal(err)
			}
			code, _, body := doReq(t, "POST", srv.URL+"/_sim/"+url.PathEscape(gp.GatewayID)+"/"+tt.path, "", "")
			if code != 200 || !strings.Contains(body, `"id":"`+gp.GatewayID+`"`) {
				t.Fatalf("%d %s", code, body)
			}
			if st, err := c.PaymentState(ctx, gp.GatewayID); err != nil || st.Status != tt.want {
				t.Fatalf("state %+v, %v; want %s", st, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"nope/pay", "x/explode"} {
		if code, _, _ := doReq(t, "POST", srv.URL+"/_sim/"+bad, "", ""); code != 404 && code != 400 {
			t.Errorf("%s: %d", bad, code)
		}
	}
	gp, _ := c.CreatePayment(ctx, orderRequest("2"))
	for _, q := range []string{"pay?mode=expire", "pay?amount=-5", "pay?amount=0"} {
		if code, _, _ := doReq(t, "POST", srv.URL+"/_sim/"+gp.GatewayID+"/"+q, "", ""); code != 400 {
			t.Errorf("%s: %d, want 400", q, code)
		}
	}
	if p, _ := sim.Payment(gp.GatewayID); p.Status != "open" || p.AmountReceived.Sign() != 0 {
		t.Fatalf("refused controls changed the session: %+v", p)
	}
	if code, _, body := doReq(t, "GET", srv.URL+"/_sim/"+gp.GatewayID, "", ""); code != 200 || !strings.Contains(body, `"status":"open"`) {
		t.Fatalf("snapshot: %d %s", code, body)
	}
}

func TestSimulatorControls(t *testing.T) {
	sim, srv, clk := startSim(t, func(c *Config) { c.SessionTTL = 10 * time.Minute })
	c := newTestClient(t, srv.URL, nil, fastOpts())
	c.Now = clk.Now
	noLifetime := orderRequest("1")
	noLifetime.Lifetime = 0 // no expiresAt sent: the session's default lifetime
	gp, err := c.CreatePayment(context.Background(), noLifetime)
	if err != nil {
		t.Fatal(err)
	}
	if want := clk.Now().Add(10 * time.Minute); !gp.ExpiresAt.Equal(want) {
		t.Fatalf("expires %v, want the configured TTL", gp.ExpiresAt)
	}
	// expiresAt sent from the payment's lifetime (Copperx documents it).
	withLifetime := orderRequest("1")
	withLifetime.Lifetime = 30 * time.Minute
	if gp2, err := c.CreatePayment(context.Background(), withLifetime); err != nil || !gp2.ExpiresAt.Equal(clk.Now().Add(30*time.Minute)) {
		t.Fatalf("with a lifetime: %+v, %v; want expiry in 30m", gp2, err)
	}
	past := orderRequest("1")
	past.Lifetime = -time.Minute
	if _, err := c.CreatePayment(context.Background(), past); err != nil {
		t.Fatalf("a non-positive lifetime sends no expiresAt: %v", err)
	}
	for name, err := range map[string]error{
		"pay":    sim.PayExact("nope"),
		"under":  sim.Underpay("nope"),
		"over":   sim.Overpay("nope"),
		"expire": sim.Expire("nope"),
		"cancel": sim.Cancel("nope"),
	} {
		if err != simkit.ErrUnknown {
			t.Errorf("%s on unknown id: %v", name, err)
		}
	}
	if err := sim.Pay(gp.GatewayID, nil); err == nil {
		t.Error("nil payment accepted")
	}
	if _, ok := sim.Payment("nope"); ok {
		t.Error("snapshot of unknown id")
	}
	// Cancel after a payment changes nothing: money counts.
	sim.Underpay(gp.GatewayID)
	sim.Cancel(gp.GatewayID)
	if p, _ := sim.Payment(gp.GatewayID); p.IntentStatus == "canceled" {
		t.Fatal("cancel after a payment must not cancel")
	}
	// Time over: the underpaid session stays "incomplete" (money arrived),
	// the untouched one with the default lifetime is "expired", the one
	// with 30 minutes still open.
	clk.Add(10 * time.Minute)
	var got []string
	for _, p := range sim.Payments() {
		got = append(got, p.Status)
	}
	if strings.Join(got, ",") != "incomplete,open,expired" {
		t.Fatalf("statuses %v, want incomplete, open, expired", got)
	}
}
