package cryptocloudsim

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
	"github.com/wcbridge/wcbridge/bridge/gateway/cryptocloud"
)

// call sends a raw API request to the simulator.
func call(t *testing.T, base, path, auth, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s: answer is not json: %v", path, err)
	}
	return resp.StatusCode, m
}

func TestSimulatorAPIValidation(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cfg := testSimConfig()
	cfg.Now = func() time.Time { return now }
	_, _, srv := startSim(t, cfg)
	auth := "Token " + testKey
	cases := []struct {
		name, path, auth, body string
		code                   int
		errKey                 string // "" = success
	}{
		{"no auth", "/v2/invoice/create", "", `{}`, 401, "authorization"},
		{"bad auth", "/v2/invoice/merchant/info", "Bearer " + testKey, `{"uuids":["X"]}`, 401, "authorization"},
		{"bad auth cancel", "/v2/invoice/merchant/canceled", "Token nope", `{"uuid":"X"}`, 401, "authorization"},
		{"wrong shop", "/v2/invoice/create", auth, `{"shop_id":"other","amount":10}`, 400, "shop_id"},
		{"no amount", "/v2/invoice/create", auth, `{"shop_id":"` + testShop + `"}`, 400, "amount"},
		{"negative amount", "/v2/invoice/create", auth, `{"shop_id":"` + testShop + `","amount":-1}`, 400, "amount"},
		{"text amount", "/v2/invoice/create", auth, `{"shop_id":"` + testShop + `","amount":"ten"}`, 400, "amount"},
		{"bad currency", "/v2/invoice/create", auth, `{"shop_id":"` + testShop + `","amount":10,"currency":"BTC"}`, 400, "currency"},
		{"number amount", "/v2/invoice/create", auth, `{"shop_id":"` + testShop + `","amount":100.5}`, 200, ""},
		{"string amount", "/v2/invoice/create", auth, `{"shop_id":"` + testShop + `","amount":"100.5","currency":"GBP"}`, 200, ""},
		{"info no ids", "/v2/invoice/merchant/info", auth, `{"uuids":[]}`, 400, "uuids"},
		{"info too many", "/v2/invoice/merchant/info", auth, `{"uuids":[` + strings.Repeat(`"ABCDEFGH",`, 100) + `"ABCDEFGH"]}`, 400, "uuids"},
		{"cancel no uuid", "/v2/invoice/merchant/canceled", auth, `{}`, 400, "validate_error"},
		{"cancel unknown", "/v2/invoice/merchant/canceled", auth, `{"uuid":"INV-NOSUCH00"}`, 400, "validate_error"},
		{"list bad dates", "/v2/invoice/merchant/list", auth, `{"start":"2026-03-01","end":"x"}`, 400, "validate_error"},
		{"list limit", "/v2/invoice/merchant/list", auth, `{"start":"01.03.2026","end":"01.03.2026","limit":101}`, 400, "validate_error"},
		{"list", "/v2/invoice/merchant/list", auth, `{"start":"01.03.2026","end":"01.03.2026"}`, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, m := call(t, srv.URL, tc.path, tc.auth, tc.body)
			if code != tc.code {
				t.Errorf("code %d, want %d (%v)", code, tc.code, m)
			}
			if tc.errKey == "" {
				if m["status"] != "success" {
					t.Errorf("answer %v, want success", m)
				}
				return
			}
			res, _ := m["result"].(map[string]any)
			if m["status"] != "error" || res[tc.errKey] == nil {
				t.Errorf("answer %v, want error on %q", m, tc.errKey)
			}
		})
	}

	// Default lifetime 24h, dates in CryptoCloud's format; the list sees both.
	_, m := call(t, srv.URL, "/v2/invoice/create", auth, `{"shop_id":"`+testShop+`","amount":1}`)
	res := m["result"].(map[string]any)
	if res["expiry_date"] != "2026-03-02 12:00:00.000000" || res["created"] != "2026-03-01 12:00:00.000000" || res["status"] != "created" {
		t.Errorf("create result = %v", res)
	}
	_, m = call(t, srv.URL, "/v2/invoice/merchant/list", auth, `{"start":"01.03.2026","end":"01.03.2026","offset":1,"limit":100}`)
	if list := m["result"].([]any); len(list) != 2 {
		t.Errorf("list from offset 1 has %d invoices, want 2", len(list))
	}
}

func TestSimulatorPayPage(t *testing.T) {
	cfg := testSimConfig()
	cfg.SuccessURL, cfg.FailURL = "https://shop.example/thank-you", "https://shop.example/fail"
	sim, c, srv := startSim(t, cfg)
	p := mustCreate(t, c, "wc-55-1", "12.34", "USD")

	resp, err := http.Get(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"wc-55-1", "12.34 USD", "Pay exact", "Underpay", "Overpay", "Let it expire"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("pay page lacks %q", want)
		}
	}
	if strings.Contains(string(page), "src=") || strings.Contains(string(page), "<link") {
		t.Error("pay page loads external assets")
	}

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(u, mode string) *http.Response {
		resp, err := noRedirect.PostForm(u, url.Values{"mode": {mode}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// Underpay stays on the page, which then offers to pay the rest.
	if resp := post(p.URL, "under"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/pay/"+cryptocloud.BareID(p.GatewayID) {
		t.Errorf("underpay: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = http.Get(p.URL)
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "Pay the rest") || !strings.Contains(string(page), "partial") {
		t.Errorf("partial page lacks the top-up button")
	}
	if resp := post(p.URL, "exact"); resp.Header.Get("Location") != cfg.SuccessURL {
		t.Errorf("pay the rest redirects to %q, want %q", resp.Header.Get("Location"), cfg.SuccessURL)
	}
	if st := mustState(t, c, p.GatewayID); st.Status != bridge.PaymentPaid {
		t.Errorf("after paying on the page: %s", st.Status)
	}
	if resp := post(p.URL, "exact"); resp.StatusCode != http.StatusConflict {
		t.Errorf("paying a paid invoice: %d", resp.StatusCode)
	}

	p2 := mustCreate(t, c, "wc-56-1", "5", "USD")
	if resp := post(p2.URL, "expire"); resp.Header.Get("Location") != cfg.FailURL {
		t.Errorf("expire redirects to %q", resp.Header.Get("Location"))
	}

	// The JSON control endpoints drive the same state machine.
	p3 := mustCreate(t, c, "wc-57-1", "5", "USD")
	for _, step := range []struct {
		path   string
		code   int
		status string
	}{
		{"/_sim/" + cryptocloud.BareID(p3.GatewayID) + "/pay?mode=over", 200, StatusOverpaid},
		{"/_sim/" + p3.GatewayID + "/pay?mode=exact", 409, ""},
		{"/_sim/NOSUCH00/expire", 404, ""},
	} {
		resp, err := http.Post(srv.URL+step.path, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		var sp Payment
		json.NewDecoder(resp.Body).Decode(&sp)
		resp.Body.Close()
		if resp.StatusCode != step.code || (step.status != "" && sp.Status != step.status) {
			t.Errorf("%s: %d %s, want %d %s", step.path, resp.StatusCode, sp.Status, step.code, step.status)
		}
	}
	if got, _ := sim.Payment(p3.GatewayID); !got.ReceivedUSD.Equal(dec("5.5")) {
		t.Errorf("overpaid received %s, want 5.5", got.ReceivedUSD)
	}
	if n := len(sim.Payments()); n != 3 {
		t.Errorf("payments = %d, want 3", n)
	}
}

func TestSimulatorHang(t *testing.T) {
	sim, c, _ := startSim(t, testSimConfig())
	// The call ends with its context (50 ms), before the hang would (3 s).
	sim.Hang(3 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.CreatePayment(ctx, createReq("r", "1", "USD")); err == nil {
		t.Error("create answered while the simulator hangs")
	}
	if n := len(sim.Payments()); n != 0 {
		t.Errorf("payments while hanging: %d, want 0", n)
	}
	sim.Hang(0)
	if _, err := c.CreatePayment(context.Background(), createReq("r", "1", "USD")); err != nil {
		t.Errorf("after Hang(0): %v", err)
	}
	if n := len(sim.Payments()); n != 1 {
		t.Errorf("payments after Hang(0): %d, want 1", n)
	}
}
