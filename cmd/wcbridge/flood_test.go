package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway/cryptocloud"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay/streampaysim"
)

// forgedCallbacks returns a body forged for each gateway's callback URL: a
// StreamPay callback and a CryptoCloud postback for real payments, signed
// with the wrong secret, and junk for Bitstream.
func forgedCallbacks(t testing.TB, spID, ccID string) map[string][2]string {
	t.Helper()
	sp := streampay.SignedPayload(streampay.Callback{PaymentID: spID, Amount: "10", AmountUSD: "10.00", ReceivedAmount: "10",
		ReceivedAmountUSD: "10.00", CurrentDateTime: time.Now().UTC().Format(time.RFC3339)}, "not-the-secret")
	tok, err := cryptocloud.SignToken("not-the-secret", ccID, cryptocloud.ClaimBareID, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ct, cc, err := cryptocloud.EncodePostback(cryptocloud.PostbackPayload{Status: "success", InvoiceID: ccID, AmountCrypto: decimal.RequireFromString("1"), Currency: "BTC"}, tok, cryptocloud.FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][2]string{
		"streampay":   {"application/json", string(sp)},
		"cryptocloud": {ct, string(cc)},
		"bitstream":   {"application/json", `{"type":"checkout_session.completed","data":{"object":{"id":"x"}}}`},
	}
}

// flood posts n copies of body to url from `workers` goroutines; client(i)
// is the X-Forwarded-For of request i ("" for none). It returns the count
// of each status.
func flood(t testing.TB, url, ct, body string, n, workers int, client func(i int) string) map[int]int {
	t.Helper()
	var mu sync.Mutex
	got := map[int]int{}
	var next atomic.Int64
	var wg sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				req, _ := http.NewRequest("POST", url, strings.NewReader(body))
				req.Header.Set("Content-Type", ct)
				if c := client(i); c != "" {
					req.Header.Set("X-Forwarded-For", c)
				}
				resp, err := hc.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusTooManyRequests && (resp.Header.Get("Retry-After") == "" || !bytes.Contains(raw, []byte(`"rate_limited"`))) {
					t.Errorf("429 without Retry-After or code rate_limited: %s", raw)
				}
				mu.Lock()
				got[resp.StatusCode]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	faultCounts.badInputs.Add(int64(n))
	return got
}

// TestAbuseCallbackFlood floods each callback URL with forged callbacks:
// from many clients behind the trusted proxy (each under its limit: every
// one read and refused), then from one client (429 past its limit). The
// database does not change at all, the status page shows the last
// rejection with its reason and client, the log has a line per gateway, not
// per request, and the shop still takes payments.
func TestAbuseCallbackFlood(t *testing.T) {
	const rateLimit, burst = 20, 40
	h := newFaultHarness(t, withEnv(
		fmt.Sprintf("WCBRIDGE_SERVER_CALLBACK_RATE_LIMIT=%d", rateLimit), fmt.Sprintf("WCBRIDGE_SERVER_CALLBACK_BURST=%d", burst),
		"WCBRIDGE_SERVER_TRUSTED_PROXIES=127.0.0.1"))
	base := h.sidecars[0].url
	spOrder, spKey := h.order("streampay", usd("10.00"))
	spID := gatewayPaymentID(h.checkout(spOrder, spKey, "streampay"))
	ccOrder, ccKey := h.order("cryptocloud", usd("10.00"))
	ccID := gatewayPaymentID(h.checkout(ccOrder, ccKey, "cryptocloud"))
	h.waitDelivered(5 * time.Second)
	before := h.snapshot()
	forged := forgedCallbacks(t, spID, ccID)

	const spread, single = 600, 300
	// Each gateway's flood from one client comes from a client of its own:
	// the limit is per client across the callback URLs, and a client that
	// has spent it on one URL may get no callback read on the next.
	singleClient := map[string]string{"streampay": "203.0.113.9", "cryptocloud": "203.0.113.10", "bitstream": "203.0.113.11"}
	for _, gw := range []string{"streampay", "cryptocloud", "bitstream"} {
		url := base + "/v1/callbacks/" + gw
		ct, body := forged[gw][0], forged[gw][1]
		// 600 forgeries from 150 clients behind the proxy: four each, under
		// every client's burst, so each is read, verified and refused.
		got := flood(t, url, ct, body, spread, 32, func(i int) string { return fmt.Sprintf("198.51.100.%d", i%150+1) })
		if got[http.StatusUnauthorized] != spread {
			t.Errorf("%s, %d forgeries from 150 clients: answers %v, want all 401", gw, spread, got)
		}
		// 300 from one client: past its burst (and what its rate refills
		// meanwhile) the answer is 429, before the body is read.
		start := time.Now()
		got = flood(t, url, ct, body, single, 32, func(int) string { return singleClient[gw] })
		allowed := burst + int(time.Since(start).Seconds()*rateLimit) + 1
		if got[http.StatusTooManyRequests] == 0 || got[http.StatusUnauthorized] > allowed || got[http.StatusUnauthorized]+got[http.StatusTooManyRequests] != single {
			t.Errorf("%s, %d forgeries from one client: answers %v, want at most %d read (401) and the rest 429", gw, single, got, allowed)
		}
	}
	// A client that is not a trusted proxy cannot pick its identity with
	// X-Forwarded-For: every request from it shares one limit.
	h2 := newHarness(t, withEnv("WCBRIDGE_SERVER_CALLBACK_RATE_LIMIT=1", "WCBRIDGE_SERVER_CALLBACK_BURST=5", "WCBRIDGE_SERVER_TRUSTED_PROXIES=192.0.2.1"))
	got := flood(t, h2.sidecars[0].url+"/v1/callbacks/streampay", "application/json", forged["streampay"][1], 50, 8,
		func(i int) string { return fmt.Sprintf("198.51.100.%d", i+1) })
	if got[http.StatusTooManyRequests] < 40 {
		t.Errorf("rotating X-Forwarded-For from an untrusted peer: %v, want 429 past the one shared limit", got)
	}

	// A genuinely signed but unusable callback is "malformed" (400), not
	// "signature invalid".
	malformed := streampay.SignedPayload(streampay.Callback{PaymentID: spID, Amount: "10", AmountUSD: "lots", ReceivedAmount: "10",
		ReceivedAmountUSD: "10.00", CurrentDateTime: time.Now().UTC().Format(time.RFC3339)}, streampaysim.DefaultConfig().SecretKey)
	req, _ := http.NewRequest("POST", base+"/v1/callbacks/streampay", bytes.NewReader(malformed))
	req.Header.Set("X-Forwarded-For", "192.0.2.77")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(raw, []byte("callback malformed")) {
		t.Errorf("signed malformed callback: %d %s, want 400 callback malformed", resp.StatusCode, raw)
	}

	time.Sleep(300 * time.Millisecond) // let any background work show itself
	if d := before.diff(h.snapshot()); d != "" {
		t.Errorf("%d forged callbacks changed the database: %s", 3*(spread+single), d)
	}

	// The status page still says what happened, per gateway.
	status, report := h.client().do("GET", "/v1/status", nil)
	if status != http.StatusOK {
		t.Fatalf("status: %d %v", status, report)
	}
	gws := report["gateways"].(map[string]any)
	// The Bitstream forgery carries no x-webhook-signature at all.
	for gw, wantReason := range map[string]string{"streampay": "malformed", "cryptocloud": "signature invalid", "bitstream": "request not signed"} {
		g := gws[gw].(map[string]any)
		recent, _ := g["recent_rejections"].([]any)
		if g["last_rejected_reason"] != wantReason || g["last_callback_rejected"] == nil || len(recent) == 0 {
			t.Errorf("%s status: last rejected %v %v, %d recent; want %q", gw, g["last_callback_rejected"], g["last_rejected_reason"], len(recent), wantReason)
			continue
		}
		if n, _ := g["callbacks_rejected"].(float64); int(n) < spread {
			t.Errorf("%s: %v callbacks counted rejected, want at least %d", gw, g["callbacks_rejected"], spread)
		}
		if n, _ := g["callbacks_rate_limited"].(float64); n == 0 {
			t.Errorf("%s: no rate-limited callbacks counted", gw)
		}
		last := recent[0].(map[string]any)
		if gw != "streampay" && (last["remote_addr"] != singleClient[gw] || len(last["body_sha256"].(string)) != 64 || last["body_prefix"] == "") {
			t.Errorf("%s last rejection %v: want the client behind the proxy, the body's hash and prefix", gw, last)
		}
	}
	if g := gws["streampay"].(map[string]any); g["recent_rejections"].([]any)[0].(map[string]any)["remote_addr"] != "192.0.2.77" {
		t.Errorf("streampay last rejection from %v, want 192.0.2.77", g["recent_rejections"].([]any)[0])
	}
	// Metrics count them by reason.
	mresp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, want := range []string{`wcbridge_callbacks_rejected_total{gateway="cryptocloud",reason="signature invalid"}`,
		`wcbridge_callbacks_rejected_total{gateway="streampay",reason="malformed"} 1`, `wcbridge_callbacks_total{gateway="bitstream",result="rate_limited"}`} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// One log line per gateway per minute, not one per forgery.
	waitFor(t, "the rejection summaries", 5*time.Second, func() bool { return strings.Count(h.logs.String(), `msg="callbacks rejected"`) >= 3 })
	if n := strings.Count(h.logs.String(), `msg="callbacks rejected"`); n > 3 {
		t.Errorf("%d summary lines for %d forgeries in under a minute, want one per gateway", n, 3*(spread+single))
	}
	if n := strings.Count(h.logs.String(), "signature invalid"); n > 10 {
		t.Errorf("the log names rejections %d times", n)
	}

	// The shop still takes payments.
	if err := h.sims.StreamPay.PayExact(spID); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(spOrder, bridge.StatusProcessing, 10*time.Second)
	t.Logf("%d forged callbacks across 3 callback URLs: nothing written, %d summary log lines", 3*(spread+single), strings.Count(h.logs.String(), `msg="callbacks rejected"`))
}

// slowVerify holds every callback verification until release is closed.
type slowVerify struct {
	bridge.Gateway
	held    *atomic.Int64
	release chan struct{}
}

func (g slowVerify) VerifyCallback(h http.Header, body []byte) (*bridge.CallbackEvent, error) {
	g.held.Add(1)
	<-g.release
	return g.Gateway.VerifyCallback(h, body)
}

// TestAbuseCallbackTurns: only a few callback requests are handled at once
// (4 per CPU, at least 8); one that waits a second for a turn gets 503 and
// the gateway retries, while the plugin's requests are served meanwhile.
func TestAbuseCallbackTurns(t *testing.T) {
	var held atomic.Int64
	release := make(chan struct{})
	h := newHarness(t, withWrap(func(g bridge.Gateway) bridge.Gateway { return slowVerify{g, &held, release} }))
	base := h.sidecars[0].url
	slots := max(8, 4*runtime.GOMAXPROCS(0))
	body := forgedCallbacks(t, "x", "ABCD1234")["streampay"][1]
	var wg sync.WaitGroup
	codes := make(chan int, slots)
	for range slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _ := post(t, base+"/v1/callbacks/streampay", "application/json", []byte(body))
			codes <- status
		}()
	}
	waitFor(t, "every turn taken", 5*time.Second, func() bool { return held.Load() == int64(slots) })
	start := time.Now()
	status, raw := post(t, base+"/v1/callbacks/streampay", "application/json", []byte(body))
	if status != http.StatusServiceUnavailable || !bytes.Contains(raw, []byte("busy")) || time.Since(start) < 900*time.Millisecond {
		t.Errorf("a callback with every turn taken: %d %s after %v, want 503 busy after a second", status, raw, time.Since(start))
	}
	// The plugin is served meanwhile.
	if code, body := h.client().do("GET", "/v1/settings", nil); code != http.StatusOK {
		t.Errorf("plugin request while the callbacks are busy: %d %v", code, body)
	}
	close(release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusUnauthorized {
			t.Errorf("a held forged callback answered %d, want 401", c)
		}
	}
}
