package main

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge/store"
)

// fieldsOf returns error.fields of an error answer.
func fieldsOf(body map[string]any) map[string]any {
	e, _ := body["error"].(map[string]any)
	f, _ := e["fields"].(map[string]any)
	return f
}

// TestSettingsEndpointsOperatorOnly: no gateway endpoint can be set from
// WordPress, pinned or not, and none is offered there.
func TestSettingsEndpointsOperatorOnly(t *testing.T) {
	h := newHarness(t, withoutEnv("WCBRIDGE_GATEWAYS_CRYPTOCLOUD_"))
	c := h.client()
	before := h.snapshot()
	if len(endpointPaths) < 5 {
		t.Fatalf("endpoint fields: %v, want every gateway's URLs and paths", endpointPaths)
	}
	for path := range endpointPaths {
		for _, v := range []string{"http://169.254.169.254/latest/meta-data", "https://evil.example/api"} {
			status, body := c.do("PUT", "/v1/settings", map[string]any{"settings": map[string]string{path: v}})
			if status != http.StatusBadRequest || fieldsOf(body)[path] == nil {
				t.Errorf("PUT %s=%s: %d %v; want 400 naming the field", path, v, status, body)
			}
		}
	}
	if d := before.diff(h.snapshot()); d != "" {
		t.Errorf("refused endpoint settings changed: %s", d)
	}
	status, body := c.do("GET", "/v1/settings", nil)
	if status != http.StatusOK {
		t.Fatal(status, body)
	}
	for path := range endpointPaths {
		if _, ok := body["settings"].(map[string]any)[path]; ok {
			t.Errorf("GET /v1/settings offers %s", path)
		}
	}
	// A value stored by an older version is ignored, not used.
	h.woo.Exec(t, "INSERT INTO {p}wcbridge_settings (name, value, updated_at) VALUES ('gateways.cryptocloud.base_url', 'https://evil.example', NOW())")
	h.woo.Exec(t, "INSERT INTO {p}wcbridge_settings (name, value, updated_at) VALUES ('#version', '1', NOW()) ON DUPLICATE KEY UPDATE value = value + 1")
	rt := h.sidecars[0].app.Runtime
	if err := rt.Reload(h.ctx); err != nil {
		t.Fatal(err)
	}
	if got := rt.Current().Gateways.CryptoCloud.BaseURL; got != "" {
		t.Errorf("a stored endpoint from WordPress is in force: %q", got)
	}
}

// TestSettingsBounds sends every setting WordPress can set values without
// bounds: each is refused with 400 naming the field, and nothing is stored.
func TestSettingsBounds(t *testing.T) {
	h := newHarness(t, withoutEnv("WCBRIDGE_GATEWAYS_"))
	c := h.client()
	before := h.snapshot()
	n := 0
	cfg := DefaultConfig()
	for _, f := range cfg.fields() {
		if !settable(f.Path) {
			continue
		}
		bad := []string{strings.Repeat("x", 5000), "a\nb", "a\x00b", "\xff\xfe"}
		switch f.Value.Kind() {
		case reflect.Slice:
			bad = append(bad, strings.TrimSuffix(strings.Repeat("BTC,", 100), ","), strings.Repeat("B", 40))
		case reflect.Map:
			var kv []string
			for i := range 100 {
				kv = append(kv, fmt.Sprintf("t%d=6", i))
			}
			bad = append(bad, strings.Join(kv, ","), strings.Repeat("t", 40)+"=6")
		case reflect.Int64:
			if f.Value.Type() == reflect.TypeOf(time.Duration(0)) {
				bad = append(bad, "-1s", "2562047h", "99999999999h")
			}
		}
		for _, v := range bad {
			status, body := c.do("PUT", "/v1/settings", map[string]any{"settings": map[string]string{f.Path: v}})
			n++
			if status != http.StatusBadRequest || errorCode(body) != "invalid" || fieldsOf(body)[f.Path] == nil {
				t.Errorf("PUT %s=%.40q: %d %v; want 400 invalid naming the field", f.Path, v, status, body)
			}
		}
	}
	if d := before.diff(h.snapshot()); d != "" {
		t.Errorf("%d out-of-bounds settings changed: %s", n, d)
	}
	t.Logf("%d out-of-bounds settings refused", n)
}

// TestSettingsReplicasNeverUndoEachOther: three replicas on one database.
// A save through one replica writes only the keys it names, so a save of
// another key through a replica whose copy is stale keeps it; a rotated
// secret never comes back; every replica has every change within the
// documented bound (reconcile.settings_interval plus one read).
func TestSettingsReplicasNeverUndoEachOther(t *testing.T) {
	const interval = 250 * time.Millisecond
	h := newHarness(t, withoutEnv("WCBRIDGE_GATEWAYS_CRYPTOCLOUD_"), withEnv("WCBRIDGE_RECONCILE_SETTINGS_INTERVAL="+interval.String()))
	h.startSidecar(nil)
	h.startSidecar(nil)
	via := func(i int) *pluginClient {
		c := h.client()
		c.base = h.sidecars[i].url
		return c
	}
	put := func(i int, kv map[string]string) {
		t.Helper()
		if status, body := via(i).do("PUT", "/v1/settings", map[string]any{"settings": kv}); status != http.StatusOK {
			t.Fatalf("PUT through replica %d %v: %d %v", i+1, kv, status, body)
		}
	}
	// Every replica has loaded the settings as they are now.
	for _, sc := range h.sidecars {
		sc.app.Runtime.Reload(h.ctx)
	}
	var worst time.Duration
	// everywhere waits until every replica has the change, and records how long it took.
	everywhere := func(what string, since time.Time, ok func(c *Config) bool) {
		t.Helper()
		for i, sc := range h.sidecars {
			waitFor(t, fmt.Sprintf("replica %d to have %s", i+1, what), 10*interval, func() bool { return ok(sc.app.Runtime.Current()) })
		}
		if d := time.Since(since); d > worst {
			worst = d
		}
	}

	// Replica 1 changes the lifetime; replica 2, whose copy is older, saves
	// another key at once.
	start := time.Now()
	put(0, map[string]string{"payments.lifetime": "2h"})
	put(1, map[string]string{"orders.on_late_payment": "on-hold"})
	everywhere("both changes", start, func(c *Config) bool {
		return c.Payments.Lifetime == 2*time.Hour && c.Orders.OnLatePayment == "on-hold"
	})

	// A secret set through replica 1, rotated through replica 3; replica 2
	// saves something else with its stale copy; the old secret never returns.
	cc := map[string]string{"gateways.cryptocloud.enabled": "true", "gateways.cryptocloud.api_key": "cc-key-first",
		"gateways.cryptocloud.shop_id": "Shop000000000001", "gateways.cryptocloud.secret_key": "cc-secret-first"}
	start = time.Now()
	put(0, cc)
	put(2, map[string]string{"gateways.cryptocloud.secret_key": "cc-secret-rotated", "gateways.cryptocloud.api_key": "cc-key-rotated"})
	put(1, map[string]string{"payments.late_payment_grace": "12h"})
	put(1, map[string]string{"gateways.cryptocloud.locale": "en"})
	everywhere("the rotated secret", start, func(c *Config) bool {
		g := c.Gateways.CryptoCloud
		return g.SecretKey == "cc-secret-rotated" && g.APIKey == "cc-key-rotated" && g.Locale == "en" && c.Payments.LatePaymentGrace == 12*time.Hour
	})
	stored, err := h.sidecars[1].app.Store.Settings(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"payments.lifetime": "2h", "orders.on_late_payment": "on-hold", "payments.late_payment_grace": "12h",
		"gateways.cryptocloud.secret_key": "cc-secret-rotated", "gateways.cryptocloud.api_key": "cc-key-rotated", "gateways.cryptocloud.locale": "en"} {
		if got := stored.Values[k]; got != want {
			t.Errorf("stored %s = %q, want %q", k, got, want)
		}
	}
	// Secrets sit encrypted in the shop's database.
	for _, r := range h.woo.Rows(t, "SELECT name, value FROM {p}wcbridge_settings WHERE name LIKE 'gateways.cryptocloud.%'") {
		if IsSecret(r["name"]) && (!store.Sealed(r["value"]) || strings.Contains(r["value"], "cc-")) {
			t.Errorf("%s is stored as %q, want it encrypted", r["name"], r["value"])
		}
	}
	t.Logf("3 replicas, settings_interval %v: every change in force everywhere within %v", interval, worst.Round(time.Millisecond))
}
