package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway/cryptocloud"
	"github.com/wcbridge/wcbridge/bridge/gateway/cryptocloud/cryptocloudsim"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay/streampaysim"
	"github.com/wcbridge/wcbridge/bridge/pluginsig"
)

// sqlish are strings that would do harm if any of them reached SQL as text.
var sqlish = []string{
	"' OR 1=1 --",
	"1; DROP TABLE wp_posts",
	`"; DROP TABLE wp_wcbridge_payments; --`,
	"1' UNION SELECT option_value FROM wp_options --",
	"\x00' OR ''='",
	"wc_order_' OR 'a'='a",
}

// abuseReq is one hostile request and how it is to be sent.
type abuseReq struct {
	name   string
	method string
	path   string // as sent (escaped)
	body   []byte
	ct     string
	// sign: "" unsigned, "ok" signed correctly, "stale", "future", "forged"
	sign string
	// signPath overrides the path that is signed (a signature for another URL)
	signPath string
}

// send sends r and returns the status and the raw answer.
func (r abuseReq) send(t *testing.T, base string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(r.method, base+r.path, bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("%s: %v", r.name, err)
	}
	if r.ct != "" {
		req.Header.Set("Content-Type", r.ct)
	}
	ts, secret := time.Now().Unix(), []byte(testSecret)
	switch r.sign {
	case "stale":
		ts -= 3600
	case "future":
		ts += 3600
	case "forged":
		secret = []byte("wcbridge-forged-secret-0123456789abcdef")
	}
	if r.sign != "" {
		p := r.path
		if r.signPath != "" {
			p = r.signPath
		}
		id := pluginsig.NewRequestID()
		req.Header.Set(pluginsig.HeaderTimestamp, fmt.Sprint(ts))
		req.Header.Set(pluginsig.HeaderRequestID, id)
		req.Header.Set(pluginsig.HeaderSignature, pluginsig.Signature(secret, ts, id, r.method, p, r.body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", r.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	faultCounts.badInputs.Add(1)
	return resp.StatusCode, b
}

// checkRejected asserts a clear 4xx with a machine-readable error.
func checkRejected(t *testing.T, name string, status int, raw []byte, want ...int) {
	t.Helper()
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Errorf("%s: answer %d is not a JSON error: %q", name, status, raw)
		return
	}
	ok := status >= 400 && status < 500
	if len(want) > 0 {
		ok = false
		for _, w := range want {
			ok = ok || status == w
		}
	}
	if !ok || body.Error.Code == "" || body.Error.Message == "" {
		if len(raw) > 300 {
			raw = append(raw[:300:300], "..."...)
		}
		t.Errorf("%s: %d %s, want a 4xx %v with error.code and error.message", name, status, raw, want)
	}
}

func jsonBody(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// TestAbuseBadInput sends hostile requests to every endpoint: each must get
// a clear 4xx with error.code and a message, and change nothing.
func TestAbuseBadInput(t *testing.T) {
	h := newFaultHarness(t)
	base := h.sidecars[0].url
	// A paid order, a pending order with a live payment and an untouched one,
	// so "changes nothing" covers every kind of row.
	paid, paidKey := h.order("streampay", usd("10.00"))
	if err := h.sims.StreamPay.PayExact(gatewayPaymentID(h.checkout(paid, paidKey, "streampay"))); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(paid, bridge.StatusProcessing, 10*time.Second)
	h.waitDelivered(10 * time.Second)
	pending, pendingKey := h.order("cryptocloud", usd("12.00"))
	ccID := gatewayPaymentID(h.checkout(pending, pendingKey, "cryptocloud"))
	fresh, freshKey := h.order("bitstream", usd("14.00"))
	before := h.snapshot()

	checkout := func(mod func(m map[string]any)) []byte {
		m := map[string]any{"order_id": fresh, "gateway": "bitstream", "order_key": freshKey,
			"return_url": "http://shop.test/r", "cancel_url": "http://shop.test/c"}
		mod(m)
		return jsonBody(m)
	}
	good := checkout(func(map[string]any) {})
	var reqs []abuseReq
	add := func(r abuseReq) {
		if r.method == "" {
			r.method = "POST"
		}
		reqs = append(reqs, r)
	}

	// Signatures on every plugin endpoint.
	plugin := []struct{ method, path string }{
		{"POST", "/v1/checkout"}, {"GET", fmt.Sprintf("/v1/orders/%d/payment", pending)},
		{"POST", fmt.Sprintf("/v1/orders/%d/recheck", pending)}, {"POST", fmt.Sprintf("/v1/orders/%d/cancel-payments", pending)},
		{"GET", "/v1/status"},
		{"GET", "/v1/settings"}, {"PUT", "/v1/settings"},
	}
	for _, e := range plugin {
		var body []byte
		switch e.path {
		case "/v1/checkout":
			body = good
		case "/v1/settings":
			if e.method == "PUT" {
				body = jsonBody(map[string]any{"settings": map[string]string{"orders.on_expired": "leave_pending"}})
			}
		}
		for _, sign := range []string{"", "forged", "stale", "future"} {
			add(abuseReq{name: fmt.Sprintf("%s %s signed=%q", e.method, e.path, sign), method: e.method, path: e.path, body: body, ct: "application/json", sign: sign})
		}
		add(abuseReq{name: e.method + " " + e.path + " signed for another path", method: e.method, path: e.path, body: body, ct: "application/json", sign: "ok", signPath: "/v1/elsewhere"})
		add(abuseReq{name: e.method + " " + e.path + " oversized", method: e.method, path: e.path, body: bytes.Repeat([]byte("x"), 1<<20+10), ct: "application/json", sign: "ok"})
	}

	// Checkout: malformed, wrong content type, unknown gateway and order,
	// SQL in every field.
	for name, b := range map[string][]byte{
		"malformed":        []byte(`{"order_id":`),
		"two values":       append(append([]byte{}, good...), "{}"...),
		"array":            []byte(`[1,2,3]`),
		"empty":            nil,
		"null":             []byte(`null`),
		"unknown field":    checkout(func(m map[string]any) { m["amount"] = "0.01" }),
		"order id string":  checkout(func(m map[string]any) { m["order_id"] = "abc" }),
		"order id huge":    []byte(strings.Replace(string(good), fmt.Sprintf(`"order_id":%d`, fresh), `"order_id":99999999999999999999`, 1)),
		"order id float":   []byte(strings.Replace(string(good), fmt.Sprintf(`"order_id":%d`, fresh), `"order_id":1.5`, 1)),
		"order id zero":    checkout(func(m map[string]any) { m["order_id"] = 0 }),
		"order id -1":      checkout(func(m map[string]any) { m["order_id"] = -1 }),
		"unknown order":    checkout(func(m map[string]any) { m["order_id"] = 99999999 }),
		"unknown gateway":  checkout(func(m map[string]any) { m["gateway"] = "paypal" }),
		"other method":     checkout(func(m map[string]any) { m["gateway"] = "streampay" }),
		"wrong key":        checkout(func(m map[string]any) { m["order_key"] = "wc_order_nope" }),
		"huge key":         checkout(func(m map[string]any) { m["order_key"] = strings.Repeat("k", 5000) }),
		"javascript url":   checkout(func(m map[string]any) { m["return_url"] = "javascript:alert(1)" }),
		"relative url":     checkout(func(m map[string]any) { m["cancel_url"] = "/cart" }),
		"paid order":       checkout(func(m map[string]any) { m["order_id"], m["order_key"], m["gateway"] = paid, paidKey, "streampay" }),
		"deep nesting":     []byte(strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)),
		"invalid utf8 key": checkout(func(m map[string]any) { m["order_key"] = "\xff\xfe" }),
	} {
		add(abuseReq{name: "checkout " + name, path: "/v1/checkout", body: b, ct: "application/json", sign: "ok"})
	}
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/xml", "application/json-patch+json; charset=utf-8", "garbage/;;"} {
		add(abuseReq{name: "checkout content type " + ct, path: "/v1/checkout", body: good, ct: ct, sign: "ok"})
	}
	for _, s := range sqlish {
		for _, field := range []string{"gateway", "order_key", "return_url", "cancel_url"} {
			add(abuseReq{name: fmt.Sprintf("checkout %s=%q", field, s), path: "/v1/checkout", ct: "application/json", sign: "ok",
				body: checkout(func(m map[string]any) { m[field] = s })})
		}
		add(abuseReq{name: fmt.Sprintf("checkout order_id=%q", s), path: "/v1/checkout", ct: "application/json", sign: "ok",
			body: checkout(func(m map[string]any) { m["order_id"] = s })})
		add(abuseReq{name: fmt.Sprintf("checkout field name %q", s), path: "/v1/checkout", ct: "application/json", sign: "ok",
			body: checkout(func(m map[string]any) { m[s] = "x" })})
	}

	// Path parameters.
	for _, id := range []string{"abc", "-1", "0", "99999999999999999999", "1.5", "1e3", "0x10", url.PathEscape("' OR 1=1 --"), url.PathEscape("1; DROP TABLE wp_posts"), "%00"} {
		for _, op := range []struct{ method, suffix string }{{"GET", "payment"}, {"POST", "recheck"}, {"POST", "cancel-payments"}} {
			add(abuseReq{name: fmt.Sprintf("%s /v1/orders/%s/%s", op.method, id, op.suffix), method: op.method,
				path: "/v1/orders/" + id + "/" + op.suffix, body: []byte(`{}`), ct: "application/json", sign: "ok"})
		}
	}
	for _, id := range []string{"99999999", fmt.Sprint(fresh + 1000)} {
		add(abuseReq{name: "GET unknown order " + id, method: "GET", path: "/v1/orders/" + id + "/payment", sign: "ok"})
	}
	add(abuseReq{name: "unknown route", method: "GET", path: "/v1/orders", sign: "ok"})
	add(abuseReq{name: "wrong method on status", method: "DELETE", path: "/v1/status", sign: "ok"})
	add(abuseReq{name: "status with SQL query", method: "GET", path: "/v1/status?x=" + url.QueryEscape("' OR 1=1 --"), sign: "forged"})

	// Settings: malformed, unknown and locked keys, SQL, huge numbers, too
	// many decimals.
	settings := func(kv map[string]string) []byte { return jsonBody(map[string]any{"settings": kv}) }
	for name, b := range map[string][]byte{
		"malformed":           []byte(`{"settings":{`),
		"not an object":       []byte(`{"settings":["a"]}`),
		"number value":        []byte(`{"settings":{"payments.lifetime":5}}`),
		"unknown key":         settings(map[string]string{"payments.free": "yes"}),
		"dsn":                 settings(map[string]string{"database.dsn": "root@tcp(evil:3306)/x"}),
		"shared secret":       settings(map[string]string{"plugin.shared_secret": strings.Repeat("a", 40)}),
		"huge tolerance":      settings(map[string]string{"payments.underpaid_tolerance_percent": "99999999999999999999999999999999999999"}),
		"exponent tolerance":  settings(map[string]string{"payments.underpaid_tolerance_percent": "1e400"}),
		"negative fixed":      settings(map[string]string{"payments.underpaid_tolerance_fixed": "-0.01"}),
		"huge lifetime":       settings(map[string]string{"payments.lifetime": "99999999999h"}),
		"gateway url javascr": settings(map[string]string{"gateways.cryptocloud.base_url": "javascript:alert(1)"}),
	} {
		add(abuseReq{name: "settings " + name, method: "PUT", path: "/v1/settings", body: b, ct: "application/json", sign: "ok"})
	}
	for _, s := range sqlish {
		for _, k := range []string{"orders.on_expired", "payments.underpaid_tolerance_percent", "payments.underpaid_tolerance_fixed", "payments.lifetime", "woocommerce.paid_status", "gateways.cryptocloud.base_url"} {
			add(abuseReq{name: fmt.Sprintf("settings %s=%q", k, s), method: "PUT", path: "/v1/settings", body: settings(map[string]string{k: s}), ct: "application/json", sign: "ok"})
		}
		add(abuseReq{name: fmt.Sprintf("settings key %q", s), method: "PUT", path: "/v1/settings", body: settings(map[string]string{s: "1"}), ct: "application/json", sign: "ok"})
	}

	// Callbacks: unknown gateways, forged, malformed, oversized, wrong types.
	forgedSP := streampay.SignedPayload(streampay.Callback{PaymentID: "x", Amount: "10", AmountUSD: "20.00",
		ReceivedAmount: "10", ReceivedAmountUSD: "20.00", CurrentDateTime: time.Now().UTC().Format(time.RFC3339)}, "not-the-secret")
	tok, _ := cryptocloud.SignToken("not-the-secret", ccID, cryptocloud.ClaimBareID, time.Now().Add(time.Minute))
	_, forgedCC, _ := cryptocloud.EncodePostback(cryptocloud.PostbackPayload{Status: "success", InvoiceID: ccID, AmountCrypto: decimal.RequireFromString("1"), Currency: "BTC"}, tok, cryptocloud.FormatJSON)
	for _, g := range []string{"paypal", "STREAMPAY", "streampay%00", url.PathEscape("' OR 1=1 --"), url.PathEscape("1; DROP TABLE wp_posts"), "bitstream"} {
		add(abuseReq{name: "callback to gateway " + g, path: "/v1/callbacks/" + g, body: forgedSP, ct: "application/json"})
	}
	for gw, forged := range map[string][]byte{"streampay": forgedSP, "cryptocloud": forgedCC} {
		cbs := map[string]abuseReq{
			"forged":         {body: forged, ct: "application/json"},
			"empty":          {ct: "application/json"},
			"malformed":      {body: []byte(`{"payment_id":`), ct: "application/json"},
			"array":          {body: []byte(`[]`), ct: "application/json"},
			"oversized":      {body: bytes.Repeat([]byte("x"), 70<<10), ct: "application/json"},
			"text/plain":     {body: forged, ct: "text/plain"},
			"xml":            {body: []byte(`<?xml version="1.0"?><callback><payment_id>1</payment_id></callback>`), ct: "application/xml"},
			"form":           {body: []byte("payment_id=" + url.QueryEscape("' OR 1=1 --")), ct: "application/x-www-form-urlencoded"},
			"deep nesting":   {body: []byte(strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)), ct: "application/json"},
			"invalid utf8":   {body: []byte("{\"payment_id\":\"\xff\xfe\"}"), ct: "application/json"},
			"huge number":    {body: []byte(`{"payment_id":"x","received_amount_usd":1e999999,"signature":"00"}`), ct: "application/json"},
			"null signature": {body: []byte(`{"payment_id":"x","signature":null,"token":null}`), ct: "application/json"},
		}
		for _, s := range sqlish {
			cbs["sql "+s] = abuseReq{body: jsonBody(map[string]string{"payment_id": s, "invoice_id": s, "token": s, "signature": s, "status": s, "amount_usd": s}), ct: "application/json"}
		}
		for name, r := range cbs {
			r.name, r.path = "callback "+gw+" "+name, "/v1/callbacks/"+gw
			add(r)
		}
	}
	// Health endpoints take no input; wrong methods still get a clear 4xx.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		add(abuseReq{name: "POST " + p, path: p, body: []byte(`' OR 1=1 --`), ct: "application/json"})
	}

	for _, r := range reqs {
		status, raw := r.send(t, base)
		checkRejected(t, r.name, status, raw)
	}
	// The health endpoints still answer, with SQL in the query string too.
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/healthz?x=" + url.QueryEscape("' OR 1=1 --")} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s after the abuse: %d", p, resp.StatusCode)
		}
	}
	time.Sleep(300 * time.Millisecond) // let any background work show itself
	if d := before.diff(h.snapshot()); d != "" {
		t.Errorf("%d rejected requests changed the database: %s", len(reqs), d)
	}
	t.Logf("%d hostile requests, all rejected, nothing changed", len(reqs))
	// Refused plugin requests are logged once a minute with a count, not
	// one line each.
	if n := strings.Count(h.logs.String(), `msg="plugin request rejected"`); n > 2 {
		t.Errorf("%d log lines for refused plugin requests, want at most one a minute", n)
	}
	// The shop still works afterwards.
	if err := h.sims.Bitstream.PayExact(gatewayPaymentID(h.checkout(fresh, freshKey, "bitstream"))); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(fresh, bridge.StatusProcessing, 10*time.Second)
}

// TestAbuseSignedHostileCallbacks sends correctly signed callbacks whose
// fields are hostile: SQL in the ids, huge amounts, amounts with too many
// decimals. The signature is genuine, so a callback naming no payment we
// know is kept as a hint (it may overtake its own checkout) and answered
// 200; but nothing about any order or payment may change, and the amounts a
// callback claims never count.
func TestAbuseSignedHostileCallbacks(t *testing.T) {
	h := newFaultHarness(t)
	base := h.sidecars[0].url
	id, key := h.order("cryptocloud", usd("25.00"))
	ccID := gatewayPaymentID(h.checkout(id, key, "cryptocloud"))
	spOrder, spKey := h.order("streampay", usd("25.00"))
	spID := gatewayPaymentID(h.checkout(spOrder, spKey, "streampay"))
	h.sims.StreamPay.SetCallbackURL("")
	h.sims.CryptoCloud.SetCallbackURL("")
	before := h.snapshot()
	ccSecret, spSecret := cryptocloudsim.DefaultConfig().SecretKey, streampaysim.DefaultConfig().SecretKey
	n := 0
	for _, amount := range []string{"99999999999999999999999999999999999999.99", "0.0000000000000000000000000000000001", "1e400", "-1", "1000000000000000000000000"} {
		// A CryptoCloud postback for the real, unpaid invoice: only the
		// invoice id is signed, the amount is hearsay.
		tok, err := cryptocloud.SignToken(ccSecret, ccID, cryptocloud.ClaimBareID, time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range []cryptocloud.PostbackFormat{cryptocloud.FormatJSON, cryptocloud.FormatForm} {
			var body []byte
			ct := "application/json"
			if format == cryptocloud.FormatJSON {
				body = []byte(fmt.Sprintf(`{"status":"success","invoice_id":%q,"amount_crypto":%s,"currency":"BTC","order_id":"wc1","token":%q}`, strings.TrimPrefix(ccID, "INV-"), amount, tok))
			} else {
				ct = "application/x-www-form-urlencoded"
				body = []byte(url.Values{"status": {"success"}, "invoice_id": {strings.TrimPrefix(ccID, "INV-")}, "amount_crypto": {amount}, "currency": {"BTC"}, "token": {tok}}.Encode())
			}
			status, raw := post(t, base+"/v1/callbacks/cryptocloud", ct, body)
			n++
			if status != http.StatusOK {
				checkRejected(t, fmt.Sprintf("signed postback amount_crypto=%s (%s)", amount, format), status, raw)
			}
		}
		// A StreamPay callback for the real, unpaid payment claiming it all.
		cb := streampay.Callback{PaymentID: spID, Amount: amount, AmountUSD: amount, ReceivedAmount: amount, ReceivedAmountUSD: amount,
			CurrentDateTime: time.Now().UTC().Format(time.RFC3339)}
		status, raw := post(t, base+"/v1/callbacks/streampay", "application/json", streampay.SignedPayload(cb, spSecret))
		n++
		if status != http.StatusOK {
			checkRejected(t, "signed streampay callback amount="+amount, status, raw)
		}
	}
	for _, s := range sqlish {
		cb := streampay.Callback{PaymentID: s, Amount: "1", AmountUSD: "1", ReceivedAmount: "1", ReceivedAmountUSD: "1", CurrentDateTime: time.Now().UTC().Format(time.RFC3339)}
		status, raw := post(t, base+"/v1/callbacks/streampay", "application/json", streampay.SignedPayload(cb, spSecret))
		n++
		if status != http.StatusOK {
			checkRejected(t, fmt.Sprintf("signed streampay callback payment_id=%q", s), status, raw)
		}
		tok, err := cryptocloud.SignToken(ccSecret, "ABCD1234", cryptocloud.ClaimNone, time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		body := jsonBody(map[string]string{"status": s, "invoice_id": s, "currency": s, "order_id": s, "token": tok})
		status, raw = post(t, base+"/v1/callbacks/cryptocloud", "application/json", body)
		n++
		if status != http.StatusOK {
			checkRejected(t, fmt.Sprintf("signed cryptocloud postback with invoice_id=%q", s), status, raw)
		}
	}
	faultCounts.callbacks.Add(int64(n))
	faultCounts.badInputs.Add(int64(n))
	// Let the workers confirm what they kept with the gateways.
	time.Sleep(1500 * time.Millisecond)
	after := h.snapshot()
	for _, k := range []string{"verified callbacks", "callbacks"} { // kept as hints, by design
		delete(before.counts, k)
		delete(after.counts, k)
	}
	if d := before.diff(after); d != "" {
		t.Errorf("%d signed hostile callbacks changed: %s", n, d)
	}
	for _, oid := range []int64{id, spOrder} {
		if st := h.orderStatus(oid); st != bridge.StatusPending {
			t.Errorf("order %d is %s after hostile callbacks, want pending", oid, st)
		}
		if notes := h.notes(oid); len(notes) != 0 {
			t.Errorf("order %d has notes after hostile callbacks: %q", oid, notes)
		}
	}
	if rows := h.woo.Rows(t, "SELECT status, received FROM {p}wcbridge_payments WHERE status <> 'pending' OR received <> 0"); len(rows) != 0 {
		t.Errorf("payments changed by claimed amounts: %v", rows)
	}
	// WooCommerce's tables are intact and the payments still settle for real.
	if n := h.woo.Count(t, "posts", "1=1"); n == 0 {
		t.Fatal("wp_posts is empty")
	}
	h.sims.CryptoCloud.SetCallbackURL(base + "/v1/callbacks/cryptocloud")
	if err := h.sims.CryptoCloud.PayExact(ccID); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
}

// TestAbuseSettingsAmounts pushes amounts no shop means from WordPress: a
// fixed underpayment tolerance beyond any order total, and tolerances with
// more decimals than any amount column keeps (DECIMAL(36,18)). Each must be
// refused with 400 naming the field, and nothing stored.
func TestAbuseSettingsAmounts(t *testing.T) {
	h := newFaultHarness(t)
	c := h.client()
	for _, tc := range []struct{ key, value, why string }{
		{"payments.underpaid_tolerance_fixed", "99999999999999999999999999999999999999", "a fixed tolerance of 1e38 makes every underpayment count as paid"},
		{"payments.underpaid_tolerance_fixed", "1e30", "a fixed tolerance of 1e30 makes every underpayment count as paid"},
		{"payments.underpaid_tolerance_fixed", "0.0000000000000000000000000000001", "31 decimals: more than the 18 any amount column keeps"},
		{"payments.underpaid_tolerance_percent", "1.00000000000000000000000000000000001", "35 decimals: more than the 18 any amount column keeps"},
	} {
		before := h.snapshot()
		status, body := c.do("PUT", "/v1/settings", map[string]any{"settings": map[string]string{tc.key: tc.value}})
		faultCounts.badInputs.Add(1)
		e, _ := body["error"].(map[string]any)
		fields, _ := e["fields"].(map[string]any)
		if status != http.StatusBadRequest || errorCode(body) != bridge.EINVALID || fields[tc.key] == nil {
			t.Errorf("PUT /v1/settings {%q: %q}: answered %d (error %v); want 400 invalid with error.fields[%q] (%s)",
				tc.key, tc.value, status, e, tc.key, tc.why)
		}
		if d := before.diff(h.snapshot()); d != "" {
			t.Errorf("PUT /v1/settings {%q: %q} changed: %s", tc.key, tc.value, d)
		}
		// Put the default back so the next case starts clean.
		h.woo.Exec(t, "DELETE FROM {p}wcbridge_settings")
		h.sidecars[0].app.Runtime.Reload(h.ctx)
	}
}
