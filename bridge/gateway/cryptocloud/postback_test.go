package cryptocloud

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway/cryptocloud/cryptocloudsim"
)

var vectorNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func signClaims(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func jsonPostback(t *testing.T, fields map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func basePostback(token string) map[string]any {
	return map[string]any{"status": "success", "invoice_id": "89UX09KA", "amount_crypto": json.Number("0.000113"),
		"currency": "BNB", "order_id": "ORDER_93223", "token": token}
}

// TestVerifyPostbackVectors is the token vector table.
func TestVerifyPostbackVectors(t *testing.T) {
	exp := vectorNow.Add(TokenLifetime).Unix()
	good := func(claims jwt.MapClaims) string {
		return signClaims(t, jwt.SigningMethodHS256, []byte(testSecret), claims)
	}
	valid := good(jwt.MapClaims{"id": "89UX09KA", "exp": exp})
	parts := strings.Split(valid, ".")
	forgedPayload := base64.RawURLEncoding.EncodeToString([]byte(`{"id":"89UX09KA","exp":4102444800}`))
	noneTok := signClaims(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"id": "89UX09KA", "exp": exp})

	form := func(token string, mod func(url.Values)) []byte {
		v := url.Values{"status": {"success"}, "invoice_id": {"89UX09KA"}, "amount_crypto": {"0.000113"},
			"currency": {"BNB"}, "order_id": {"ORDER_93223"}, "token": {token},
			"invoice_info": {`{"uuid":"INV-89UX09KA","status":"overpaid","invoice_status":"success","amount":0.000113}`}}
		if mod != nil {
			mod(v)
		}
		return []byte(v.Encode())
	}
	with := func(token string, mod func(map[string]any)) []byte {
		m := basePostback(token)
		if mod != nil {
			mod(m)
		}
		return jsonPostback(t, m)
	}
	const ctJSON, ctForm = "application/json", "application/x-www-form-urlencoded"

	cases := []struct {
		name   string
		ct     string
		body   []byte
		secret string
		want   error // nil: accepted
	}{
		{"valid json", ctJSON, with(valid, nil), testSecret, nil},
		{"valid json charset", ctJSON + "; charset=utf-8", with(valid, nil), testSecret, nil},
		{"valid form", ctForm, form(valid, nil), testSecret, nil},
		{"valid, no content type", "", form(valid, nil), testSecret, nil},
		{"claim id with INV-", ctJSON, with(good(jwt.MapClaims{"id": "INV-89UX09KA", "exp": exp}), nil), testSecret, nil},
		{"claim uuid", ctJSON, with(good(jwt.MapClaims{"uuid": "INV-89UX09KA", "exp": exp}), nil), testSecret, nil},
		{"no id claim", ctJSON, with(good(jwt.MapClaims{"exp": exp}), nil), testSecret, nil},
		{"numeric id claim", ctJSON, with(good(jwt.MapClaims{"id": 13, "exp": exp}), nil), testSecret, nil},
		{"invoice_info as a string in json", ctJSON, with(valid, func(m map[string]any) { m["invoice_info"] = `{"uuid":"INV-89UX09KA","status":"paid"}` }), testSecret, nil},
		{"invoice_id with INV-", ctJSON, with(valid, func(m map[string]any) { m["invoice_id"] = "INV-89UX09KA" }), testSecret, nil},
		{"expired within leeway", ctJSON, with(good(jwt.MapClaims{"id": "89UX09KA", "exp": vectorNow.Add(-20 * time.Second).Unix()}), nil), testSecret, nil},

		{"wrong secret json", ctJSON, with(valid, nil), "another-secret", ErrBadToken},
		{"wrong secret form", ctForm, form(valid, nil), "another-secret", ErrBadToken},
		{"empty secret", ctJSON, with(valid, nil), "", ErrNoSecret},
		{"tampered invoice_id json", ctJSON, with(valid, func(m map[string]any) { m["invoice_id"] = "AAAAAAAA" }), testSecret, ErrIDMismatch},
		{"tampered invoice_id form", ctForm, form(valid, func(v url.Values) { v.Set("invoice_id", "AAAAAAAA") }), testSecret, ErrIDMismatch},
		{"tampered invoice_info string uuid", ctJSON, with(valid, func(m map[string]any) { m["invoice_info"] = `{"uuid":"INV-AAAAAAAA"}` }), testSecret, ErrIDMismatch},
		{"tampered invoice_info uuid", ctForm, form(valid, func(v url.Values) { v.Set("invoice_info", `{"uuid":"INV-AAAAAAAA"}`) }), testSecret, ErrIDMismatch},
		{"tampered token payload", ctJSON, with(parts[0]+"."+forgedPayload+"."+parts[2], nil), testSecret, ErrBadToken},
		{"token for another invoice", ctJSON, with(good(jwt.MapClaims{"uuid": "INV-AAAAAAAA", "exp": exp}), nil), testSecret, ErrIDMismatch},
		{"expired json", ctJSON, with(good(jwt.MapClaims{"id": "89UX09KA", "exp": vectorNow.Add(-time.Minute).Unix()}), nil), testSecret, ErrTokenExpired},
		{"expired form", ctForm, form(good(jwt.MapClaims{"id": "89UX09KA", "exp": vectorNow.Add(-time.Minute).Unix()}), nil), testSecret, ErrTokenExpired},
		{"no exp", ctJSON, with(good(jwt.MapClaims{"id": "89UX09KA"}), nil), testSecret, ErrBadToken},
		{"alg none", ctJSON, with(noneTok, nil), testSecret, ErrBadToken},
		{"alg HS512", ctJSON, with(signClaims(t, jwt.SigningMethodHS512, []byte(testSecret), jwt.MapClaims{"id": "89UX09KA", "exp": exp}), nil), testSecret, ErrBadToken},
		{"missing token json", ctJSON, with("", func(m map[string]any) { delete(m, "token") }), testSecret, ErrNoToken},
		{"missing token form", ctForm, form("", func(v url.Values) { v.Del("token") }), testSecret, ErrNoToken},
		{"missing invoice_id", ctJSON, with(valid, func(m map[string]any) { delete(m, "invoice_id") }), testSecret, ErrSignedMalformed},
		{"not json", ctJSON, []byte("{not json"), testSecret, ErrMalformed},
		{"empty body", ctJSON, nil, testSecret, ErrMalformed},
		{"bad amount", ctJSON, with(valid, func(m map[string]any) { m["amount_crypto"] = "lots" }), testSecret, ErrSignedMalformed},
		{"bad invoice_info", ctJSON, with(valid, func(m map[string]any) { m["invoice_info"] = `{"uuid":` }), testSecret, ErrSignedMalformed},
		{"garbage token", ctJSON, with("abc.def.ghi", nil), testSecret, ErrBadToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := VerifyPostback(tc.ct, tc.body, tc.secret, vectorNow, DefaultTokenLeeway)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if p.InvoiceID != "INV-89UX09KA" || p.OrderID != "ORDER_93223" || !p.AmountCrypto.Equal(dec("0.000113")) || p.Currency != "BNB" {
					t.Errorf("postback = %+v", p)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == ErrSignedMalformed {
				// Genuinely signed, so "malformed", not "signature invalid".
				if !errors.Is(err, bridge.ErrMalformed) || errors.Is(err, bridge.ErrSignature) || bridge.ErrorCode(err) != bridge.EINVALID {
					t.Errorf("%v: want bridge.ErrMalformed alone", err)
				}
				return
			}
			if bridge.ErrorCode(err) != bridge.EUNAUTHORIZED {
				t.Errorf("code = %q, want unauthorized", bridge.ErrorCode(err))
			}
			if p != nil {
				t.Error("rejected postback returned a value")
			}
		})
	}
	if !errors.Is(ErrTokenExpired, bridge.ErrTooOld) || !errors.Is(ErrNoToken, bridge.ErrNotSigned) || !errors.Is(ErrBadToken, bridge.ErrSignature) {
		t.Error("sentinels do not wrap the core ones")
	}
}

func TestSignedPostbackRoundTrip(t *testing.T) {
	for _, format := range []PostbackFormat{FormatJSON, FormatForm} {
		for _, shape := range []TokenClaim{ClaimBareID, ClaimPrefixedID, ClaimUUID, ClaimNone} {
			p := PostbackPayload{Status: "success", InvoiceID: "INV-ABCD1234", AmountCrypto: dec("12.5"), Currency: "USDT_TRC20",
				OrderID: "wc-7", InvoiceInfo: json.RawMessage(`{"uuid":"INV-ABCD1234","status":"paid","amount_usd":12.5,"expiry_date":"2026-03-02 12:00:00"}`)}
			ct, body, err := NewSignedPostback(p, testSecret, shape, format, vectorNow)
			if err != nil {
				t.Fatal(err)
			}
			got, err := VerifyPostback(ct, body, testSecret, vectorNow.Add(4*time.Minute), 0)
			if err != nil {
				t.Errorf("%s/%s: %v", format, shape, err)
				continue
			}
			if got.InvoiceID != "INV-ABCD1234" || got.Info == nil || got.Info.Status != "paid" || !got.ExpiresAt.Equal(vectorNow.Add(TokenLifetime)) {
				t.Errorf("%s/%s: got %+v", format, shape, got)
			}
			if _, err := VerifyPostback(ct, body, testSecret, vectorNow.Add(6*time.Minute), 0); !errors.Is(err, bridge.ErrTooOld) {
				t.Errorf("%s/%s after 6 min: err = %v, want too old", format, shape, err)
			}
		}
	}
}

// receiver is the sidecar's postback endpoint in miniature: verify, then
// confirm through the API.
type receiver struct {
	c       *Client
	mu      sync.Mutex
	fail    int // answer 500 to the first n genuine postbacks
	tokens  []string
	events  []*bridge.CallbackEvent
	states  []*bridge.GatewayState
	rejects []error
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, MaxPostbackBytes+1))
	ev, err := rc.c.VerifyCallback(r.Header, body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err != nil {
		rc.rejects = append(rc.rejects, err)
		http.Error(w, "rejected", http.StatusUnauthorized)
		return
	}
	rc.tokens = append(rc.tokens, postbackToken(r.Header.Get("Content-Type"), body))
	if rc.fail > 0 {
		rc.fail--
		http.Error(w, "busy", http.StatusInternalServerError)
		return
	}
	st, err := rc.c.ConfirmCallback(r.Context(), ev)
	if err != nil {
		rc.rejects = append(rc.rejects, err)
		http.Error(w, "confirm failed", http.StatusServiceUnavailable)
		return
	}
	rc.events = append(rc.events, ev)
	rc.states = append(rc.states, st)
	w.Write([]byte("OK"))
}

func postbackToken(ct string, body []byte) string {
	f, err := parsePostback(ct, body)
	if err != nil {
		return ""
	}
	return f.Token
}

func (rc *receiver) snapshot() (events []*bridge.CallbackEvent, states []*bridge.GatewayState, rejects []error, tokens []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append(events, rc.events...), append(states, rc.states...), append(rejects, rc.rejects...), append(tokens, rc.tokens...)
}

// startWithReceiver runs simulator, client and receiver wired together.
func startWithReceiver(t *testing.T, cfg cryptocloudsim.Config) (*cryptocloudsim.Simulator, *Client, *receiver) {
	t.Helper()
	sim, c, _ := startSim(t, cfg)
	rc := &receiver{c: c}
	rs := httptest.NewServer(rc)
	t.Cleanup(rs.Close)
	sim.SetCallbackURL(rs.URL)
	return sim, c, rc
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPostbackEndToEnd(t *testing.T) {
	for _, format := range []cryptocloudsim.PostbackFormat{cryptocloudsim.FormatJSON, cryptocloudsim.FormatForm} {
		for _, shape := range []cryptocloudsim.TokenClaim{cryptocloudsim.ClaimBareID, cryptocloudsim.ClaimUUID} {
			t.Run(string(format)+"/"+string(shape), func(t *testing.T) {
				cfg := testSimConfig()
				cfg.PostbackFormat, cfg.TokenClaim = format, shape
				sim, c, rc := startWithReceiver(t, cfg)
				paid := mustCreate(t, c, "wc-1", "40", "USD")
				over := mustCreate(t, c, "wc-2", "40", "USD")
				under := mustCreate(t, c, "wc-3", "40", "USD")
				if err := sim.PayExact(paid.GatewayID); err != nil {
					t.Fatal(err)
				}
				if err := sim.Overpay(over.GatewayID); err != nil {
					t.Fatal(err)
				}
				if err := sim.Underpay(under.GatewayID); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "two confirmed postbacks", func() bool { ev, _, _, _ := rc.snapshot(); return len(ev) == 2 })
				events, states, rejects, _ := rc.snapshot()
				if len(rejects) != 0 {
					t.Errorf("rejected genuine postbacks: %v", rejects)
				}
				got := map[string]bridge.PaymentStatus{}
				for i, ev := range events {
					got[ev.GatewayID] = states[i].Status
					if ev.Claimed.Status != states[i].Status {
						t.Errorf("%s: claimed %s, confirmed %s", ev.GatewayID, ev.Claimed.Status, states[i].Status)
					}
				}
				want := map[string]bridge.PaymentStatus{paid.GatewayID: bridge.PaymentPaid, over.GatewayID: bridge.PaymentOverpaid}
				if len(got) != 2 || got[paid.GatewayID] != want[paid.GatewayID] || got[over.GatewayID] != want[over.GatewayID] {
					t.Errorf("confirmed %v, want %v (no postback for partial)", got, want)
				}
				for _, d := range sim.Callbacks() {
					if strings.HasPrefix(d.ID, "INV-") || strings.Contains(string(d.Body), `"invoice_id":"INV-`) || strings.Contains(string(d.Body), "invoice_id=INV-") {
						t.Errorf("postback invoice_id carries the prefix: %s", d.Body)
					}
				}
			})
		}
	}
}

func TestPostbackOnPartialKnob(t *testing.T) {
	cfg := testSimConfig()
	cfg.PostbackOnPartial = true
	sim, c, rc := startWithReceiver(t, cfg)
	p := mustCreate(t, c, "wc-1", "40", "USD")
	if err := sim.Underpay(p.GatewayID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "partial postback", func() bool { ev, _, _, _ := rc.snapshot(); return len(ev) == 1 })
	_, states, _, _ := rc.snapshot()
	if states[0].Status != bridge.PaymentUnderpaid || !states[0].Received.Amount.Equal(dec("36")) {
		t.Errorf("partial reported as %+v, want underpaid with 36 USD", states[0])
	}
}

func TestPostbackRetriesWithFreshTokens(t *testing.T) {
	var mu sync.Mutex
	clk := &clock{t: time.Now()}
	cfg := testSimConfig()
	cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); clk.Advance(time.Second); return clk.t }
	sim, c, rc := startWithReceiver(t, cfg)
	c.Now = cfg.Now
	rc.fail = 2
	p := mustCreate(t, c, "wc-1", "40", "USD")
	if err := sim.PayExact(p.GatewayID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery after retries", func() bool { return len(sim.Callbacks()) == 3 })
	ds := sim.Callbacks()
	if len(ds) != 3 {
		t.Fatalf("deliveries = %d, want 3", len(ds))
	}
	for i, want := range []int{500, 500, 200} {
		if ds[i].StatusCode != want || ds[i].Attempt != i+1 {
			t.Errorf("delivery %d: attempt %d status %d, want attempt %d status %d", i, ds[i].Attempt, ds[i].StatusCode, i+1, want)
		}
	}
	_, _, _, tokens := rc.snapshot()
	if len(tokens) != 3 || tokens[0] == tokens[1] || tokens[1] == tokens[2] {
		t.Errorf("tokens are not fresh per attempt: %d tokens", len(tokens))
	}
}

func TestPostbackGivesUpAfterMaxAttempts(t *testing.T) {
	cfg := testSimConfig()
	cfg.MaxAttempts = 3
	sim, c, rc := startWithReceiver(t, cfg)
	rc.fail = 100
	p := mustCreate(t, c, "wc-1", "40", "USD")
	if err := sim.PayExact(p.GatewayID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "3 attempts", func() bool { return len(sim.Callbacks()) == 3 })
	time.Sleep(3 * cfg.RetryInterval)
	if n := len(sim.Callbacks()); n != 3 {
		t.Errorf("attempts = %d, want 3", n)
	}
}

func TestForgedPostbacksRejected(t *testing.T) {
	cases := []struct {
		kind cryptocloudsim.PostbackKind
		want error
	}{
		{cryptocloudsim.PostbackWrongSecret, ErrBadToken},
		{cryptocloudsim.PostbackExpired, ErrTokenExpired},
		{cryptocloudsim.PostbackTampered, ErrIDMismatch},
		{cryptocloudsim.PostbackNoToken, ErrNoToken},
	}
	for _, format := range []cryptocloudsim.PostbackFormat{cryptocloudsim.FormatJSON, cryptocloudsim.FormatForm} {
		for _, tc := range cases {
			t.Run(string(format)+"/"+string(tc.kind), func(t *testing.T) {
				cfg := testSimConfig()
				cfg.PostbackFormat, cfg.MaxAttempts = format, 1
				sim, c, rc := startWithReceiver(t, cfg)
				p := mustCreate(t, c, "wc-1", "40", "USD")
				if err := sim.SendPostback(p.GatewayID, tc.kind); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "rejection", func() bool { _, _, rj, _ := rc.snapshot(); return len(rj) == 1 && len(sim.Callbacks()) == 1 })
				events, _, rejects, _ := rc.snapshot()
				if len(events) != 0 || !errors.Is(rejects[0], tc.want) {
					t.Errorf("events %d, rejection %v, want %v", len(events), rejects[0], tc.want)
				}
				if ds := sim.Callbacks(); len(ds) != 1 || ds[0].StatusCode != http.StatusUnauthorized || ds[0].Kind != string(tc.kind) {
					t.Errorf("delivery log = %+v", ds)
				}
			})
		}
	}
}

// TestDuplicatePostback: a byte-identical redelivery verifies again (the
// token is still fresh) and confirms the same state: idempotence is the
// store's job, keyed by body hash and invoice.
func TestDuplicatePostback(t *testing.T) {
	sim, c, rc := startWithReceiver(t, testSimConfig())
	p := mustCreate(t, c, "wc-1", "40", "USD")
	if err := sim.SendPostback(p.GatewayID, cryptocloudsim.PostbackDuplicate); err == nil {
		t.Error("duplicate before any postback: no error")
	}
	if err := sim.PayExact(p.GatewayID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first postback", func() bool { ev, _, _, _ := rc.snapshot(); return len(ev) == 1 })
	if err := sim.SendPostback(p.GatewayID, cryptocloudsim.PostbackDuplicate); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "duplicate", func() bool { ev, _, _, _ := rc.snapshot(); return len(ev) == 2 && len(sim.Callbacks()) == 2 })
	ds := sim.Callbacks()
	if len(ds) != 2 || string(ds[0].Body) != string(ds[1].Body) {
		t.Fatalf("duplicate is not byte-identical: %d deliveries", len(ds))
	}
	_, states, _, _ := rc.snapshot()
	if states[0].Status != bridge.PaymentPaid || states[1].Status != bridge.PaymentPaid {
		t.Errorf("states = %s, %s", states[0].Status, states[1].Status)
	}
}

// TestTamperedAmountDoesNotCount: amounts are outside the token, so a body
// with a doctored amount verifies, but confirmation reports the API's truth.
func TestTamperedAmountDoesNotCount(t *testing.T) {
	sim, c, _ := startSim(t, testSimConfig())
	p := mustCreate(t, c, "wc-1", "40", "USD")
	if err := sim.Underpay(p.GatewayID); err != nil {
		t.Fatal(err)
	}
	info := json.RawMessage(`{"uuid":"` + p.GatewayID + `","status":"paid","amount_usd":40.0,"received_usd":40.0,"expiry_date":"2099-01-01 00:00:00"}`)
	ct, body, err := NewSignedPostback(PostbackPayload{Status: "success", InvoiceID: p.GatewayID, AmountCrypto: dec("40"),
		Currency: "USDT_TRC20", OrderID: "wc-1", InvoiceInfo: info}, testSecret, ClaimBareID, FormatJSON, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ev, err := c.VerifyCallback(http.Header{"Content-Type": {ct}}, body)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Claimed.Status != bridge.PaymentPaid {
		t.Errorf("claimed %s", ev.Claimed.Status)
	}
	st, err := c.ConfirmCallback(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != bridge.PaymentUnderpaid || !st.Received.Amount.Equal(dec("36")) {
		t.Errorf("confirmed %s received %s, want underpaid 36 USD", st.Status, st.Received)
	}
}
