package streampay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay/streampaysim"
)

func TestLifecyclePaidThroughCallback(t *testing.T) {
	ctx := context.Background()
	e := startSim(t)
	gp, err := e.client.CreatePayment(ctx, usdRequest("15.89"))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if gp.GatewayID == "" || !strings.HasPrefix(gp.URL, e.srv.URL+"/pay/") {
		t.Fatalf("create: got id %q url %q", gp.GatewayID, gp.URL)
	}
	if !moneyEq(gp.Amount, usd("15.89")) {
		t.Errorf("asked: got %v, want 15.89 USD", gp.Amount)
	}
	// Lifetime is not settable: the simulator's default 10 minutes wins.
	if d := time.Until(gp.ExpiresAt); d < 9*time.Minute || d > 11*time.Minute {
		t.Errorf("expires in %v, want about 10m", d)
	}
	sp, ok := e.sim.Payment(gp.GatewayID)
	if !ok || sp.Name != "Order #42 (wcb-42-1)" || !sp.AmountUSD.Equal(dec("15.89")) {
		t.Fatalf("simulator payment: %+v", sp)
	}

	st, err := e.client.PaymentState(ctx, gp.GatewayID)
	if err != nil {
		t.Fatalf("state: %v", err)
	}
	if st.Status != bridge.PaymentPending || st.OrderRef != "wcb-42-1" || !st.Test || !moneyEq(st.Amount, usd("15.89")) || st.TxRef != "" {
		t.Fatalf("pending state: %+v", st)
	}

	if err := e.sim.PayExact(gp.GatewayID); err != nil {
		t.Fatal(err)
	}
	body := e.rc.next(t)
	ev, err := e.client.VerifyCallback(http.Header{"Content-Type": {"application/json"}}, body)
	if err != nil {
		t.Fatalf("verify genuine callback: %v", err)
	}
	if ev.GatewayID != gp.GatewayID || ev.Gateway != "streampay" || ev.Claimed.Status != bridge.PaymentPaid {
		t.Fatalf("event: %+v", ev)
	}
	got, err := e.client.ConfirmCallback(ctx, ev)
	if err != nil {
		t.Fatalf("confirm: %v", err)
	}
	sp, _ = e.sim.Payment(gp.GatewayID)
	if got.Status != bridge.PaymentPaid || !moneyEq(got.Amount, usd("15.89")) || !moneyEq(got.Received, usd("15.89")) ||
		got.TxRef == "" || got.TxRef != sp.TxHash || got.OrderRef != "wcb-42-1" {
		t.Fatalf("confirmed: %+v", got)
	}
}

func TestStatusesThroughSimulator(t *testing.T) {
	ctx := context.Background()
	e := startSim(t)
	create := func() string {
		t.Helper()
		gp, err := e.client.CreatePayment(ctx, usdRequest("10.00"))
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		return gp.GatewayID
	}
	state := func(id string) *bridge.GatewayState {
		t.Helper()
		st, err := e.client.PaymentState(ctx, id)
		if err != nil {
			t.Fatalf("state: %v", err)
		}
		return st
	}

	t.Run("expired then paid late", func(t *testing.T) {
		id := create()
		if err := e.sim.Expire(id); err != nil {
			t.Fatal(err)
		}
		if got := state(id).Status; got != bridge.PaymentExpired {
			t.Fatalf("after expiry: got %s, want expired", got)
		}
		if err := e.sim.PayExact(id); err != nil {
			t.Fatal(err)
		}
		e.rc.next(t)
		if got := state(id); got.Status != bridge.PaymentPaid || got.TxRef == "" {
			t.Fatalf("paid after expiry: got %+v", got)
		}
	})
	t.Run("underpaid stays pending without callback", func(t *testing.T) {
		id := create()
		if err := e.sim.Underpay(id); err != nil {
			t.Fatal(err)
		}
		if got := state(id).Status; got != bridge.PaymentPending {
			t.Fatalf("got %s, want pending", got)
		}
		for _, d := range e.sim.Callbacks() {
			if d.ID == id {
				t.Fatalf("callback sent for underpayment: %+v", d)
			}
		}
		// A top-up completes it.
		if err := e.sim.Pay(id, dec("1.00")); err != nil {
			t.Fatal(err)
		}
		ev, err := e.client.VerifyCallback(http.Header{"Content-Type": {"application/json"}}, e.rc.next(t))
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.client.ConfirmCallback(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != bridge.PaymentPaid || !moneyEq(got.Received, usd("10.00")) {
			t.Fatalf("topped up: %+v", got)
		}
	})
	t.Run("overpaid", func(t *testing.T) {
		id := create()
		if err := e.sim.Overpay(id); err != nil {
			t.Fatal(err)
		}
		if got := state(id).Status; got != bridge.PaymentPaid {
			t.Fatalf("status api: got %s, want paid", got)
		}
		ev, err := e.client.VerifyCallback(http.Header{"Content-Type": {"application/json"}}, e.rc.next(t))
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.client.ConfirmCallback(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != bridge.PaymentOverpaid || !moneyEq(got.Received, usd("11.00")) || !moneyEq(got.Amount, usd("10.00")) {
			t.Fatalf("overpaid: %+v", got)
		}
	})
	t.Run("unknown id", func(t *testing.T) {
		if got := state("NoSuchPayment").Status; got != bridge.PaymentExpired {
			t.Fatalf("got %s, want expired", got)
		}
	})
}

func TestUnderpaidCallbackConfirmsPending(t *testing.T) {
	ctx := context.Background()
	e := startSim(t, func(s *streampaysim.Config, _ *Config, _ *gateway.Options) {
		s.CallbackOnUnderpay = true
	})
	gp, err := e.client.CreatePayment(ctx, usdRequest("20"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Underpay(gp.GatewayID); err != nil {
		t.Fatal(err)
	}
	ev, err := e.client.VerifyCallback(http.Header{"Content-Type": {"application/json"}}, e.rc.next(t))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Claimed.Status != bridge.PaymentUnderpaid || !moneyEq(ev.Claimed.Received, usd("18")) {
		t.Fatalf("claimed: %+v", ev.Claimed)
	}
	got, err := e.client.ConfirmCallback(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != bridge.PaymentPending || !got.Received.IsZero() {
		t.Fatalf("confirmed: got %+v, want pending with nothing received (status api not completed)", got)
	}
}

func TestErrCallbackStatusMeansPaid(t *testing.T) {
	ctx := context.Background()
	e := startSim(t, func(s *streampaysim.Config, _ *Config, _ *gateway.Options) {
		s.ShowErrCallback = true
		s.RetryInterval = time.Hour // one failed attempt, then wait
	})
	e.rc.failFirst = 1
	gp, err := e.client.CreatePayment(ctx, usdRequest("5"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.PayExact(gp.GatewayID); err != nil {
		t.Fatal(err)
	}
	body := e.rc.next(t)
	waitFor(t, func() bool { return len(e.sim.Callbacks()) == 1 })
	if sp, _ := e.sim.Payment(gp.GatewayID); sp.Status != StatusErrCallback {
		t.Fatalf("simulator status: got %q, want ERR_CALLBACK", sp.Status)
	}
	ev, err := e.client.VerifyCallback(http.Header{"Content-Type": {"application/json"}}, body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.client.ConfirmCallback(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != bridge.PaymentPaid {
		t.Fatalf("got %s, want paid", got.Status)
	}
}

func TestCreateRequests(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		native  bool
		money   bridge.Money
		wantErr error
		field   string
		asked   bridge.Money
	}{
		{"usd", false, usd("15.89"), nil, "amount_usd", usd("15.89")},
		{"eur", false, bridge.Money{Amount: dec("9.5"), Currency: "EUR"}, nil, "amount_eur", bridge.Money{Amount: dec("9.5"), Currency: "EUR"}},
		{"lower-case currency", false, bridge.Money{Amount: dec("1"), Currency: "usd"}, nil, "amount_usd", usd("1")},
		{"gbp refused", false, bridge.Money{Amount: dec("5"), Currency: "GBP"}, bridge.ErrCurrency, "", bridge.Money{}},
		{"gbp as token when opted in", true, bridge.Money{Amount: dec("0.02"), Currency: "GBP"}, nil, "amount", bridge.Money{Amount: dec("0.02"), Currency: "STRM"}},
		{"usd stays usd when opted in", true, usd("3"), nil, "amount_usd", usd("3")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startSim(t, func(_ *streampaysim.Config, c *Config, _ *gateway.Options) {
				c.NativeTokenAmounts = tt.native
				c.NativeToken = "STRM"
			})
			r := usdRequest("1")
			r.Amount = tt.money
			gp, err := e.client.CreatePayment(ctx, r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), "GBP") {
					t.Fatalf("got %v, want %v naming GBP", err, tt.wantErr)
				}
				if n := e.sim.CreateCalls(); n != 0 {
					t.Fatalf("%d create calls reached the gateway, want 0", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !moneyEq(gp.Amount, tt.asked) {
				t.Errorf("asked: got %v, want %v", gp.Amount, tt.asked)
			}
			sp, _ := e.sim.Payment(gp.GatewayID)
			if sp.AmountField != tt.field {
				t.Errorf("amount field: got %q, want %q", sp.AmountField, tt.field)
			}
			u, err := url.Parse(sp.ReturnURL)
			if err != nil || u.Query().Get(RefParam) != "wcb-42-1" || u.Query().Get("key") != "wc_order_abc" {
				t.Errorf("return_url %q lacks the reference or the original query", sp.ReturnURL)
			}
		})
	}
}

func TestCapabilities(t *testing.T) {
	for _, native := range []bool{false, true} {
		c, err := New(Config{ClientID: "id", SecretKey: "s", NativeTokenAmounts: native, NativeToken: "STRM"}, gateway.Options{})
		if err != nil {
			t.Fatal(err)
		}
		caps := c.Capabilities()
		want := "[USD EUR]"
		if native {
			want = "[]"
		}
		if !caps.Callbacks || caps.BatchSize != 0 || strings.Join([]string{fmtList(caps.Currencies)}, "") != want {
			t.Errorf("native=%v: got %+v, want callbacks, no batch, currencies %s", native, caps, want)
		}
		if c.Name() != "streampay" {
			t.Errorf("name %q", c.Name())
		}
	}
}

func fmtList(s []string) string { return "[" + strings.Join(s, " ") + "]" }

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"ok with defaults", Config{ClientID: "id", SecretKey: "s"}, nil},
		{"everything wrong", Config{CreateURL: "ftp://x", StatusURL: "not a url", NativeTokenAmounts: true},
			[]string{"gateways.streampay.client_id", "gateways.streampay.secret_key", "gateways.streampay.create_url", "gateways.streampay.status_url", "gateways.streampay.native_token"}},
		{"client id with slash", Config{ClientID: "a/b", SecretKey: "s"}, []string{"gateways.streampay.client_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.cfg.Validate()
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors %v, want %d", len(errs), errs, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(errs[i].Error(), w+":") {
					t.Errorf("error %d: got %q, want prefix %q", i, errs[i], w)
				}
			}
		})
	}
	if _, err := New(Config{}, gateway.Options{}); err == nil {
		t.Error("New accepted an empty config")
	}
}

func TestErrorsNeverCarryCredentials(t *testing.T) {
	ctx := context.Background()
	// A gateway that echoes everything it got, including the path.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"bad request for ` + r.URL.Path + ` key ` + testSecret + `"}`))
	}))
	defer echo.Close()
	cfg := Config{ClientID: testClientID, SecretKey: testSecret, CreateURL: echo.URL, StatusURL: echo.URL}
	c, err := New(cfg, gateway.Options{RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	e := startSim(t)
	e.sim.FailNext(4, http.StatusServiceUnavailable) // the first try and its 3 retries
	unapproved, err := New(Config{ClientID: "not-approved-client", SecretKey: testSecret, CreateURL: e.cfg.CreateURL, StatusURL: e.cfg.StatusURL}, gateway.Options{RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	unreachable, err := New(Config{ClientID: testClientID, SecretKey: testSecret, CreateURL: closed.URL, StatusURL: closed.URL}, gateway.Options{RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}

	errs := map[string]error{}
	_, errs["echo create"] = c.CreatePayment(ctx, usdRequest("1"))
	_, errs["echo status"] = c.PaymentState(ctx, "abc")
	_, errs["503 status"] = e.client.PaymentState(ctx, "abc")
	_, errs["403 create"] = unapproved.CreatePayment(ctx, usdRequest("1"))
	_, errs["unreachable create"] = unreachable.CreatePayment(ctx, usdRequest("1"))
	_, errs["unreachable status"] = unreachable.PaymentState(ctx, "abc")
	_, errs["currency"] = e.client.CreatePayment(ctx, bridge.CreatePaymentRequest{Amount: bridge.Money{Amount: decimal.NewFromInt(1), Currency: "JPY"}, ReturnURL: "https://x"})
	for name, err := range errs {
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		for _, s := range []string{testSecret, testClientID, "not-approved-client"} {
			if strings.Contains(err.Error(), s) || strings.Contains(bridge.ErrorMessage(err), s) {
				t.Errorf("%s: error %q contains a credential", name, err)
			}
		}
	}
	var ge *gateway.Error
	if !errors.As(errs["403 create"], &ge) || ge.StatusCode != http.StatusForbidden || !strings.Contains(ge.Error(), "not approved") {
		t.Errorf("403: got %v, want the gateway's status and message", errs["403 create"])
	}
	if !errors.As(errs["echo create"], &ge) || ge.StatusCode != http.StatusBadRequest || !strings.Contains(ge.Message, "[redacted]") {
		t.Errorf("echo: got %v, want http 400 with the credential redacted", errs["echo create"])
	}
	if bridge.ErrorCode(errs["503 status"]) != bridge.EUNAVAILABLE || bridge.ErrorCode(errs["403 create"]) != bridge.EGATEWAY {
		t.Errorf("codes: 503 -> %s, 403 -> %s", bridge.ErrorCode(errs["503 status"]), bridge.ErrorCode(errs["403 create"]))
	}
}

func TestConfigRedacted(t *testing.T) {
	cfg := Config{ClientID: testClientID, SecretKey: testSecret}
	var buf strings.Builder
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "streampay", cfg)
	for name, s := range map[string]string{"slog": buf.String(), "%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg)} {
		if strings.Contains(s, testSecret) || strings.Contains(s, testClientID) {
			t.Errorf("%s output carries a credential: %s", name, s)
		}
		if !strings.Contains(s, "redacted") {
			t.Errorf("%s output does not say the secret is redacted: %s", name, s)
		}
	}
}

func TestStatusAnswerVariants(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		code    int
		body    string
		want    bridge.PaymentStatus
		wantErr bool
	}{
		// not_found is NotFound: expired only after the payment's expiry
		// (the core decides); a 404 counts only when it names the payment.
		{"not_found as 200", 200, `{"status":"not_found"}`, bridge.PaymentExpired, false},
		{"not_found as 200 with its expiry", 200, `{"payment_id":"P1","status":"not_found","expiry_at":"2030-01-01T00:00:00+00:00"}`, bridge.PaymentExpired, false},
		{"not_found as 404 naming the payment", 404, `{"payment_id":"P1","status":"not_found"}`, bridge.PaymentExpired, false},
		{"404 naming another payment", 404, `{"payment_id":"P2","status":"not_found"}`, "", true},
		{"404 json without a payment", 404, `{"status":"not_found"}`, "", true},
		{"404 empty", 404, ``, "", true},
		{"404 json error", 404, `{"error":"payment not found"}`, "", true},
		{"404 html page (wrong base url)", 404, `<html><body>Not Found</body></html>`, "", true},
		{"completed", 200, `{"payment_id":"P1","status":"completed","transaction_hash":"TX","display_amount_usd":1.5,"network":"mainnet"}`, bridge.PaymentPaid, false},
		{"err callback", 200, `{"payment_id":"P1","status":"ERR_CALLBACK"}`, bridge.PaymentPaid, false},
		{"unknown status", 200, `{"payment_id":"P1","status":"refunded"}`, "", true},
		{"other payment", 200, `{"payment_id":"P2","status":"pending"}`, "", true},
		{"html", 200, `<html>oops</html>`, "", true},
		{"400", 400, `{"message":"bad id"}`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.Path != "/payment/P1" {
					t.Errorf("got %s %s", r.Method, r.URL.Path)
				}
				w.WriteHeader(tt.code)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, err := New(Config{ClientID: "id", SecretKey: "s", CreateURL: srv.URL, StatusURL: srv.URL}, gateway.Options{RetryMax: -1})
			if err != nil {
				t.Fatal(err)
			}
			st, err := c.PaymentState(ctx, "P1")
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %+v, want error", st)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != tt.want || st.GatewayID != "P1" {
				t.Fatalf("got %+v, want %s", st, tt.want)
			}
			if tt.name == "completed" && (st.TxRef != "TX" || st.Test || !moneyEq(st.Amount, usd("1.5")) || st.NotFound || st.KeepPolling) {
				t.Fatalf("completed: %+v", st)
			}
			if st.NotFound != strings.Contains(tt.body, "not_found") {
				t.Fatalf("NotFound = %v for %s", st.NotFound, tt.body)
			}
			if tt.name == "not_found as 200 with its expiry" && !st.ExpiresAt.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
				t.Fatalf("expiry %v, want the answer's own", st.ExpiresAt)
			}
			if tt.name == "err callback" && (!st.KeepPolling || st.Attention != ErrCallbackAttention) {
				t.Fatalf("ERR_CALLBACK: %+v, want KeepPolling and the attention text", st)
			}
		})
	}
}

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
