package cryptocloud

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway"
	"github.com/wcbridge/wcbridge/bridge/gateway/cryptocloud/cryptocloudsim"
)

func TestConfigValidate(t *testing.T) {
	errs := Config{BaseURL: "ftp://x", Locale: "de", AvailableCurrencies: []string{"usdt trc20"}, TokenLeeway: -time.Second}.Validate()
	want := []string{"api_key", "shop_id", "secret_key", "base_url", "locale", "available_currencies[0]", "token_leeway"}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors %v, want %d", len(errs), errs, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(errs[i].Error(), "gateways.cryptocloud."+w+":") {
			t.Errorf("error %d = %q, want field %s", i, errs[i], w)
		}
	}
	if errs := testConfig("").Validate(); len(errs) != 0 {
		t.Errorf("valid config: %v", errs)
	}
	if _, err := New(Config{}, gateway.Options{}); err == nil {
		t.Error("New with empty config: no error")
	}
	c, err := New(testConfig(""), gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.base != DefaultBaseURL || c.cfg.TokenLeeway != DefaultTokenLeeway {
		t.Errorf("defaults: base %q leeway %s", c.base, c.cfg.TokenLeeway)
	}
	caps := c.Capabilities()
	if !caps.Callbacks || caps.BatchSize != 100 || len(caps.Currencies) != 25 {
		t.Errorf("capabilities = %+v", caps)
	}
}

func TestCreatePayment(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	cfg := testSimConfig()
	cfg.Now = clk.Now
	sim, c, srv := startSim(t, cfg)
	c.Now = clk.Now

	p := mustCreate(t, c, "wc-42-1", "100.50", "EUR")
	if !strings.HasPrefix(p.GatewayID, "INV-") || len(p.GatewayID) != 12 {
		t.Errorf("gateway id = %q, want INV-XXXXXXXX", p.GatewayID)
	}
	if want := srv.URL + "/pay/" + BareID(p.GatewayID); p.URL != want {
		t.Errorf("url = %q, want %q", p.URL, want)
	}
	if want := clk.t.Add(90 * time.Minute); !p.ExpiresAt.Equal(want) {
		t.Errorf("expires = %s, want %s", p.ExpiresAt, want)
	}
	// 100.50 EUR at the simulator's 1.08 = 108.54 USD.
	if !p.Amount.Amount.Equal(dec("108.54")) || p.Amount.Currency != "USD" {
		t.Errorf("amount = %s, want 108.54 USD", p.Amount)
	}
	sp, ok := sim.Payment(p.GatewayID)
	if !ok || !sp.AmountFiat.Equal(dec("100.5")) || sp.Fiat != "EUR" || sp.OrderID != "wc-42-1" {
		t.Errorf("simulator saw %+v", sp)
	}

	// USD invoices report amount_in_fiat in USD.
	p2 := mustCreate(t, c, "wc-43-1", "19.99", "USD")
	if !p2.Amount.Amount.Equal(dec("19.99")) {
		t.Errorf("usd amount = %s", p2.Amount)
	}
}

func TestCreatePaymentRefused(t *testing.T) {
	_, c, srv := startSim(t, testSimConfig())
	ctx := context.Background()

	if _, err := c.CreatePayment(ctx, createReq("r", "10", "XYZ")); !errors.Is(err, bridge.ErrCurrency) {
		t.Errorf("unsupported currency: err = %v, want ErrCurrency", err)
	}
	if _, err := c.CreatePayment(ctx, createReq("r", "0", "USD")); bridge.ErrorCode(err) != bridge.EINVALID {
		t.Errorf("zero amount: err = %v, want invalid", err)
	}

	wrongShop := testConfig(srv.URL)
	wrongShop.ShopID = "AnotherShop00001"
	cs, _ := New(wrongShop, fastOptions)
	_, err := cs.CreatePayment(ctx, createReq("r", "10", "USD"))
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.StatusCode != 400 || ge.Message != "shop_id: Shop not found." {
		t.Errorf("wrong shop: err = %v", err)
	}

	wrongKey := testConfig(srv.URL)
	wrongKey.APIKey = "wrong-" + testKey
	ck, _ := New(wrongKey, fastOptions)
	_, err = ck.CreatePayment(ctx, createReq("r", "10", "USD"))
	if !errors.As(err, &ge) || ge.StatusCode != 401 || !strings.Contains(err.Error(), "authorization: Unauthorized request.") {
		t.Errorf("wrong key: err = %v", err)
	}
	if bridge.ErrorCode(err) != bridge.EGATEWAY {
		t.Errorf("wrong key: code %q, want %q", bridge.ErrorCode(err), bridge.EGATEWAY)
	}
	assertNoSecret(t, err, wrongKey.APIKey, testSecret)
}

func assertNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error")
	}
	texts := []string{err.Error(), bridge.ErrorMessage(err)}
	var ge *gateway.Error
	if errors.As(err, &ge) && ge.Cause() != nil {
		texts = append(texts, ge.Cause().Error())
	}
	for _, txt := range texts {
		for _, s := range secrets {
			if strings.Contains(txt, s) {
				t.Errorf("error text %q contains a credential", txt)
			}
		}
	}
}

// TestErrorNeverCarriesCredentials uses a gateway that echoes the request's
// Authorization header and body into its error message.
func TestErrorNeverCarriesCredentials(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "error",
			"result": map[string]string{"detail": "forbidden for " + r.Header.Get("Authorization") + " secret " + testSecret}})
	}))
	defer srv.Close()
	c, _ := New(testConfig(srv.URL), fastOptions)
	ctx := context.Background()
	_, err := c.CreatePayment(ctx, createReq("r", "10", "USD"))
	assertNoSecret(t, err, testKey, testSecret)
	if !strings.Contains(err.Error(), "http 403") || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("err = %v, want status and redacted message", err)
	}
	_, err = c.PaymentState(ctx, "INV-ABCDEFGH")
	assertNoSecret(t, err, testKey, testSecret)
	err = c.CancelPayment(ctx, "ABCDEFGH")
	assertNoSecret(t, err, testKey, testSecret)

	// Transport errors: the base URL (which a deployment might give a
	// credential in) does not appear either.
	c2, _ := New(Config{APIKey: testKey, ShopID: testShop, SecretKey: testSecret, BaseURL: "http://user:" + testSecret + "@127.0.0.1:1"}, gateway.Options{RetryMax: -1})
	_, err = c2.PaymentState(ctx, "INV-ABCDEFGH")
	assertNoSecret(t, err, testKey, testSecret)
}

func TestPaymentStateThroughEveryStatus(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	cfg := testSimConfig()
	cfg.Now = clk.Now
	sim, c, _ := startSim(t, cfg)
	c.Now = clk.Now

	type step struct {
		name     string
		act      func(id string) error
		want     bridge.PaymentStatus
		received string
	}
	pay := func(id string) error { return sim.PayExact(id) }
	cases := []struct {
		name  string
		steps []step
	}{
		{"exact", []step{{"pay", pay, bridge.PaymentPaid, "25"}}},
		{"under then top up", []step{
			{"underpay", sim.Underpay, bridge.PaymentUnderpaid, "22.5"},
			{"pay the rest", pay, bridge.PaymentPaid, "25"},
		}},
		{"over", []step{{"overpay", sim.Overpay, bridge.PaymentOverpaid, "27.5"}}},
		{"expire", []step{{"expire", sim.Expire, bridge.PaymentExpired, "0"}}},
		{"partial then expire", []step{
			{"underpay", sim.Underpay, bridge.PaymentUnderpaid, "22.5"},
			{"expire", sim.Expire, bridge.PaymentUnderpaid, "22.5"},
		}},
		{"cancel", []step{{"cancel", func(id string) error { return c.CancelPayment(context.Background(), BareID(id)) }, bridge.PaymentCancelled, "0"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCreate(t, c, "ref-"+tc.name, "25", "USD")
			st := mustState(t, c, p.GatewayID)
			if st.Status != bridge.PaymentPending || st.OrderRef != "ref-"+tc.name || st.Test {
				t.Fatalf("fresh state = %+v", st)
			}
			for _, s := range tc.steps {
				if err := s.act(p.GatewayID); err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				st := mustState(t, c, p.GatewayID)
				if st.Status != s.want {
					t.Errorf("after %s: status %s, want %s", s.name, st.Status, s.want)
				}
				if !st.Received.Amount.Equal(dec(s.received)) || st.Received.Currency != "USD" {
					t.Errorf("after %s: received %s, want %s USD", s.name, st.Received, s.received)
				}
				if !st.Amount.Amount.Equal(dec("25")) {
					t.Errorf("after %s: amount %s, want 25 USD", s.name, st.Amount)
				}
			}
		})
	}

	t.Run("lifetime runs out", func(t *testing.T) {
		p := mustCreate(t, c, "ref-late", "25", "USD")
		clk.Advance(91 * time.Minute)
		if st := mustState(t, c, p.GatewayID); st.Status != bridge.PaymentExpired {
			t.Errorf("status %s, want expired", st.Status)
		}
		if err := c.CancelPayment(context.Background(), p.GatewayID); err == nil || !strings.Contains(err.Error(), "Invoice is not created") {
			t.Errorf("cancel after expiry: %v", err)
		}
	})

	t.Run("unknown invoice", func(t *testing.T) {
		_, err := c.PaymentState(context.Background(), "INV-NOSUCH00")
		if !errors.Is(err, bridge.ErrPaymentNotFound) {
			t.Errorf("err = %v, want not found", err)
		}
	})
}

func TestTestModeNeverPaysInProduction(t *testing.T) {
	cfg := testSimConfig()
	cfg.TestMode = true
	sim, c, srv := startSim(t, cfg)
	p := mustCreate(t, c, "ref-test", "10", "USD")
	if err := sim.PayExact(p.GatewayID); err != nil {
		t.Fatal(err)
	}
	st := mustState(t, c, p.GatewayID)
	if st.Status != bridge.PaymentPending || !st.Test {
		t.Errorf("production: status %s test %v, want pending and test", st.Status, st.Test)
	}
	allow := testConfig(srv.URL)
	allow.AllowTestMode = true
	ca, _ := New(allow, fastOptions)
	if st := mustState(t, ca, p.GatewayID); st.Status != bridge.PaymentPaid || !st.Test {
		t.Errorf("allow_test_mode: status %s test %v, want paid and test", st.Status, st.Test)
	}
}

func TestMapStatus(t *testing.T) {
	exp := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	before, after := exp.Add(-time.Minute), exp.Add(time.Minute)
	cases := []struct {
		status   string
		now      time.Time
		received string
		want     bridge.PaymentStatus
	}{
		{StatusCreated, before, "0", bridge.PaymentPending},
		{StatusCreated, after, "0", bridge.PaymentExpired},
		{StatusCreated, exp, "0", bridge.PaymentExpired},
		{StatusPaid, before, "10", bridge.PaymentPaid},
		{StatusPaid, after, "10", bridge.PaymentPaid},
		{StatusPartial, before, "5", bridge.PaymentUnderpaid},
		{StatusOverpaid, after, "11", bridge.PaymentOverpaid},
		{StatusCanceled, after, "0", bridge.PaymentExpired},
		{StatusCanceled, before, "0", bridge.PaymentCancelled},
		{StatusCanceled, after, "5", bridge.PaymentUnderpaid},
		{"something-new", before, "0", bridge.PaymentPending},
	}
	for _, tc := range cases {
		got := mapStatus(tc.status, exp, dec(tc.received), tc.now)
		if got != tc.want {
			t.Errorf("mapStatus(%s, now=%s, received=%s) = %s, want %s", tc.status, tc.now.Format(time.TimeOnly), tc.received, got, tc.want)
		}
	}
}

func TestPaymentStatesBatches(t *testing.T) {
	sim, c, _ := startSim(t, testSimConfig())
	var ids []string
	for i := range 230 {
		p := mustCreate(t, c, "batch", "1", "USD")
		id := p.GatewayID
		if i%2 == 0 {
			id = BareID(id) // the API takes both forms; so do we
		}
		ids = append(ids, id)
	}
	if err := sim.PayExact(ids[7]); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, "INV-UNKNOWN1")
	got, err := c.PaymentStates(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	if n := sim.Requests("/v2/invoice/merchant/info"); n != 3 {
		t.Errorf("merchant/info calls = %d, want 3", n)
	}
	if len(got) != 230 {
		t.Errorf("got %d states, want 230", len(got))
	}
	if _, ok := got["INV-UNKNOWN1"]; ok {
		t.Error("unknown id present")
	}
	if got[ids[7]] == nil || got[ids[7]].Status != bridge.PaymentPaid {
		t.Errorf("state of %s = %+v, want paid", ids[7], got[ids[7]])
	}
	if got[ids[8]] == nil || got[ids[8]].GatewayID != "INV-"+BareID(ids[8]) {
		t.Errorf("state of %s = %+v", ids[8], got[ids[8]])
	}
}

// TestConfirmCallbacksBatches: many postbacks are confirmed with one
// merchant/info call; each gets what ConfirmCallback alone would give it.
func TestConfirmCallbacksBatches(t *testing.T) {
	sim, c, _ := startSim(t, testSimConfig())
	var evs []*bridge.CallbackEvent
	for range 3 {
		p := mustCreate(t, c, "confirm", "1", "USD")
		evs = append(evs, &bridge.CallbackEvent{Gateway: Name, GatewayID: p.GatewayID})
	}
	if err := sim.PayExact(evs[1].GatewayID); err != nil {
		t.Fatal(err)
	}
	evs = append(evs, &bridge.CallbackEvent{Gateway: Name, GatewayID: "INV-UNKNOWN1"}, &bridge.CallbackEvent{Gateway: Name})
	before := sim.Requests("/v2/invoice/merchant/info")
	states, errs := c.ConfirmCallbacks(context.Background(), evs)
	if n := sim.Requests("/v2/invoice/merchant/info") - before; n != 1 {
		t.Errorf("merchant/info calls = %d, want 1", n)
	}
	for i, ev := range evs[:3] {
		alone, err := c.ConfirmCallback(context.Background(), ev)
		if err != nil || errs[i] != nil {
			t.Fatalf("event %d: batched err %v, alone err %v", i, errs[i], err)
		}
		if states[i].Status != alone.Status || states[i].GatewayID != alone.GatewayID || !states[i].Received.Amount.Equal(alone.Received.Amount) {
			t.Errorf("event %d: batched %+v, alone %+v", i, states[i], alone)
		}
	}
	if states[1].Status != bridge.PaymentPaid {
		t.Errorf("paid invoice confirmed as %s", states[1].Status)
	}
	if !errors.Is(errs[3], bridge.ErrPaymentNotFound) || states[3] != nil {
		t.Errorf("unknown invoice: state %v err %v, want not found", states[3], errs[3])
	}
	if bridge.ErrorCode(errs[4]) != bridge.EINVALID {
		t.Errorf("event without id: err %v, want invalid", errs[4])
	}
}

func TestReadRetries(t *testing.T) {
	for _, code := range []int{500, 429, 503} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			sim, c, _ := startSim(t, testSimConfig())
			p := mustCreate(t, c, "r", "5", "USD")
			sim.FailNext(2, code)
			st, err := c.PaymentState(context.Background(), p.GatewayID)
			if err != nil || st.Status != bridge.PaymentPending {
				t.Fatalf("state = %+v, %v", st, err)
			}
			if n := sim.Requests("/v2/invoice/merchant/info"); n != 3 {
				t.Errorf("info requests = %d, want 3", n)
			}
		})
	}
	t.Run("gives up", func(t *testing.T) {
		sim, c, _ := startSim(t, testSimConfig())
		sim.FailNext(10, 502)
		_, err := c.PaymentState(context.Background(), "INV-ABCDEFGH")
		if bridge.ErrorCode(err) != bridge.EUNAVAILABLE {
			t.Errorf("err = %v, want unavailable", err)
		}
		if n := sim.Requests("/v2/invoice/merchant/info"); n != 4 {
			t.Errorf("info requests = %d, want 4 (1 + RetryMax)", n)
		}
	})
}

func TestCreateRetries(t *testing.T) {
	t.Run("500 is not retried", func(t *testing.T) {
		sim, c, _ := startSim(t, testSimConfig())
		sim.FailNextCreate(3, 500)
		_, err := c.CreatePayment(context.Background(), createReq("r", "5", "USD"))
		var ge *gateway.Error
		if !errors.As(err, &ge) || ge.StatusCode != 500 {
			t.Fatalf("err = %v, want http 500", err)
		}
		if n := sim.Requests("/v2/invoice/create"); n != 1 {
			t.Errorf("create requests = %d, want exactly 1", n)
		}
		if n := len(sim.Payments()); n != 0 {
			t.Errorf("payments = %d, want 0", n)
		}
	})
	t.Run("429 then success", func(t *testing.T) {
		sim, c, _ := startSim(t, testSimConfig())
		sim.FailNextCreate(1, 429)
		if _, err := c.CreatePayment(context.Background(), createReq("r", "5", "USD")); err != nil {
			t.Fatal(err)
		}
		if n := sim.Requests("/v2/invoice/create"); n != 2 {
			t.Errorf("create requests = %d, want 2", n)
		}
		if n := len(sim.Payments()); n != 1 {
			t.Errorf("payments = %d, want 1", n)
		}
	})
	t.Run("timeout is not retried", func(t *testing.T) {
		sim, _, srv := startSim(t, testSimConfig())
		sim.Hang(300 * time.Millisecond)
		opts := fastOptions
		opts.Timeout = 50 * time.Millisecond
		c, _ := New(testConfig(srv.URL), opts)
		_, err := c.CreatePayment(context.Background(), createReq("r", "5", "USD"))
		if bridge.ErrorCode(err) != bridge.EUNAVAILABLE {
			t.Errorf("err = %v, want unavailable", err)
		}
		if n := sim.Requests("/v2/invoice/create"); n != 1 {
			t.Errorf("create requests = %d, want 1", n)
		}
	})
	t.Run("connection refused is retried", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close() // nothing listens: dials are refused until the server starts
		sim := cryptocloudsim.New(testSimConfig())
		defer sim.Close()
		srv := httptest.NewUnstartedServer(sim)
		started := make(chan struct{})
		go func() {
			defer close(started)
			time.Sleep(100 * time.Millisecond)
			l, err := net.Listen("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			srv.Listener = l
			srv.Start()
		}()
		defer func() { <-started; srv.Close() }()
		opts := fastOptions
		// Retried for up to 6 s: the server starts after 100 ms, later on a
		// loaded machine.
		opts.RetryMax, opts.RetryWaitMin, opts.RetryWaitMax = 200, 30*time.Millisecond, 30*time.Millisecond
		c, _ := New(testConfig("http://"+addr), opts)
		if _, err := c.CreatePayment(context.Background(), createReq("r", "5", "USD")); err != nil {
			t.Fatalf("create after refused connections: %v", err)
		}
		if n := len(sim.Payments()); n != 1 {
			t.Errorf("payments = %d, want 1", n)
		}
	})
}

func TestCreateRequestShape(t *testing.T) {
	c, _ := New(Config{APIKey: testKey, ShopID: testShop, SecretKey: testSecret, AvailableCurrencies: []string{"USDT_TRC20", "BTC"}}, gateway.Options{})
	cases := []struct {
		life time.Duration
		want *timeToPay
	}{
		{0, nil},
		{30 * time.Second, &timeToPay{0, 1}},
		{90 * time.Minute, &timeToPay{1, 30}},
		{24 * time.Hour, &timeToPay{24, 0}},
	}
	for _, tc := range cases {
		r := createReq("ref", "1234.5678", "usd")
		r.Lifetime = tc.life
		req, err := c.newCreateRequest(r)
		if err != nil {
			t.Fatal(err)
		}
		if req.Amount != "1234.5678" || req.Currency != "USD" || req.OrderID != "ref" {
			t.Errorf("request = %+v", req)
		}
		got := req.AddFields.TimeToPay
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("lifetime %s: time_to_pay %+v, want %+v", tc.life, got, tc.want)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	cases := []struct {
		name string
		code int
		body string
		want string
	}{
		{"v2 error", 400, `{"status":"error","result":{"currency":"Currency not supported.","amount":"Enter a valid amount."}}`,
			"cryptocloud payment status: http 400: amount: Enter a valid amount.; currency: Currency not supported."},
		{"v2 list message", 403, `{"status":"error","result":{"detail":["Forbidden."]}}`, `cryptocloud payment status: http 403: detail: ["Forbidden."]`},
		{"v1 message", 401, `{"message":"Unauthenticated."}`, "cryptocloud payment status: http 401: Unauthenticated."},
		{"html", 502, `<html>bad gateway</html>`, "cryptocloud payment status: http 502: Bad Gateway"},
		{"error under 200", 200, `{"status":"error","result":{"validate_error":"uuids is required"}}`, "cryptocloud payment status: http 400: validate_error: uuids is required"},
		{"not json under 200", 200, `OK`, "cryptocloud payment status: http 200: unexpected answer: answer is not json"},
		{"bad shape", 200, `{"status":"success","result":{"uuid":1}}`, "cryptocloud payment status: http 200: unexpected answer: result has an unexpected shape"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.code)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			opts := fastOptions
			opts.RetryMax = -1
			c, _ := New(testConfig(srv.URL), opts)
			_, err := c.PaymentState(context.Background(), "INV-ABCDEFGH")
			if err == nil || err.Error() != tc.want {
				t.Errorf("err = %v\nwant %s", err, tc.want)
			}
		})
	}
}
