package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge/pluginsig"
	"github.com/wcbridge/wcbridge/woo/wootest"
)

// captured is a signed request as an eavesdropper would keep it.
type captured struct {
	method, path string
	body         []byte
	signed       pluginsig.Signed
}

func capture(t *testing.T, method, path string, v any) captured {
	t.Helper()
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	return captured{method, path, body, pluginsig.Sign([]byte(testSecret), time.Now(), method, path, body)}
}

// sendTo sends the captured request, byte for byte, to base.
func (c captured) sendTo(t *testing.T, base string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(c.method, base+c.path, bytes.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	c.signed.Set(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	faultCounts.badInputs.Add(1)
	return resp.StatusCode, out
}

// TestAbuseReplayedRequests: a signed request sent again within its
// signature window is refused with 401 replayed, on the replica that saw it
// and, for requests that change something, on every other replica; a
// replayed settings change cannot undo a newer one.
func TestAbuseReplayedRequests(t *testing.T) {
	wootest.RequireReal(t, "two sidecars share the request ids they saw through the database; on the embedded engine the second sidecar did not see the first one's checkout request id")
	h := newFaultHarness(t, withoutEnv("WCBRIDGE_GATEWAYS_CRYPTOCLOUD_"))
	h.startSidecar(nil)
	r1, r2 := h.sidecars[0].url, h.sidecars[1].url

	older := capture(t, "PUT", "/v1/settings", map[string]any{"settings": map[string]string{"payments.lifetime": "2h"}})
	if status, body := older.sendTo(t, r1); status != http.StatusOK {
		t.Fatalf("first PUT: %d %v", status, body)
	}
	newer := capture(t, "PUT", "/v1/settings", map[string]any{"settings": map[string]string{"payments.lifetime": "3h"}})
	if status, body := newer.sendTo(t, r2); status != http.StatusOK {
		t.Fatalf("second PUT: %d %v", status, body)
	}
	for name, base := range map[string]string{"replica 1 (saw it)": r1, "replica 2": r2} {
		if status, body := older.sendTo(t, base); status != http.StatusUnauthorized || errorCode(body) != "replayed" {
			t.Errorf("older settings change replayed to %s: %d %v, want 401 replayed", name, status, body)
		}
	}
	stored, err := h.sidecars[0].app.Store.Settings(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := stored.Values["payments.lifetime"]; got != "3h" {
		t.Fatalf("payments.lifetime = %q after the replay, want the newer 3h", got)
	}

	// A checkout and a re-check: refused the second time, on either replica.
	id, key := h.order("streampay", usd("10.00"))
	checkout := capture(t, "POST", "/v1/checkout", map[string]any{"order_id": id, "gateway": "streampay", "order_key": key,
		"return_url": "http://shop.test/r", "cancel_url": "http://shop.test/c"})
	if status, body := checkout.sendTo(t, r1); status != http.StatusOK {
		t.Fatalf("checkout: %d %v", status, body)
	}
	recheck := capture(t, "POST", "/v1/orders/"+itoa(id)+"/recheck", map[string]any{})
	if status, body := recheck.sendTo(t, r2); status != http.StatusOK {
		t.Fatalf("recheck: %d %v", status, body)
	}
	for _, c := range []captured{checkout, recheck} {
		for _, base := range []string{r1, r2} {
			if status, body := c.sendTo(t, base); status != http.StatusUnauthorized || errorCode(body) != "replayed" {
				t.Errorf("%s %s replayed to %s: %d %v, want 401 replayed", c.method, c.path, base, status, body)
			}
		}
	}
	// A read is refused again by the replica that answered it.
	status := capture(t, "GET", "/v1/status", nil)
	if code, body := status.sendTo(t, r1); code != http.StatusOK {
		t.Fatalf("status: %d %v", code, body)
	}
	if code, body := status.sendTo(t, r1); code != http.StatusUnauthorized || errorCode(body) != "replayed" {
		t.Errorf("GET /v1/status replayed: %d %v, want 401 replayed", code, body)
	}
	// The ids are kept only while the signature could be accepted: the
	// retention pass removes them afterwards.
	if n := h.woo.Count(t, "wcbridge_requests", "expires_at > NOW() - INTERVAL 1 DAY"); n < 4 {
		t.Errorf("%d request ids recorded, want the 4 requests that change something", n)
	}
}
