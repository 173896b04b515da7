package bitstream

import (
	"errors"
	"strings"
	"testing"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings, one per expected error, in order
	}{
		{"defaults with key", Config{APIKey: "k"}, nil},
		{"missing key", Config{}, []string{"gateways.bitstream.api_key: required"}},
		{"everything wrong at once", Config{
			BaseURL:      "ftp://x",
			StatusPath:   "checkout/sessions",
			Currency:     "do ge",
			UnitDecimals: 40,
			CurrencyMap:  map[string]string{"usd": "usdc", "EUR": "EUR-C"},
		}, []string{
			"gateways.bitstream.api_key",
			"gateways.bitstream.base_url",
			"gateways.bitstream.status_path",
			"gateways.bitstream.unit_decimals: 40 is outside 1..36",
			"gateways.bitstream.currency: \"do ge\" is not a token code",
			"gateways.bitstream.currency_map: EUR: \"eur-c\" is not a token code",
		}},
		{"negative unit decimals", Config{APIKey: "k", UnitDecimals: -1}, []string{"gateways.bitstream.unit_decimals: -1"}},
		{"query in base url", Config{APIKey: "k", BaseURL: "https://api.example/api/v1?x=1"}, []string{"gateways.bitstream.base_url"}},
		{"status path climbing out", Config{APIKey: "k", StatusPath: "/../../internal/{id}"}, []string{"gateways.bitstream.status_path: must be a plain path"}},
		{"status path naming a host", Config{APIKey: "k", StatusPath: "//evil.example/{id}"}, []string{"gateways.bitstream.status_path: must be a plain path"}},
		{"status path with a scheme", Config{APIKey: "k", StatusPath: "/x/http://evil.example/{id}"}, []string{"gateways.bitstream.status_path: must be a plain path"}},
		{"status path with userinfo", Config{APIKey: "k", StatusPath: "/@evil.example/{id}"}, []string{"gateways.bitstream.status_path: must be a plain path"}},
		{"status path encoded dots", Config{APIKey: "k", StatusPath: "/%2e%2e/{id}"}, []string{"gateways.bitstream.status_path: must be a plain path"}},
		{"status path with query", Config{APIKey: "k", StatusPath: "/s/{id}?x=1"}, []string{"gateways.bitstream.status_path: must be a plain path"}},
		{"bad iso code", Config{APIKey: "k", CurrencyMap: map[string]string{"US1": "usdc"}}, []string{"gateways.bitstream.currency_map: \"US1\""}},
		{"custom token", Config{APIKey: "k", Currency: "eurc", CurrencyMap: map[string]string{"EUR": ""}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.cfg.Validate()
			if len(errs) != len(tt.want) {
				t.Fatalf("Validate() = %v, want %d errors %v", errs, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want it to contain %q", i, errs[i], w)
				}
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	d := Config{APIKey: "k", Currency: "USDT"}.WithDefaults()
	if d.BaseURL != DefaultBaseURL || d.StatusPath != DefaultStatusPath {
		t.Errorf("base %q path %q, want documented defaults", d.BaseURL, d.StatusPath)
	}
	if d.Currency != "usdt" || d.CurrencyMap["USD"] != "usdt" || len(d.CurrencyMap) != 1 {
		t.Errorf("currency %q map %v, want usdt and {USD: usdt}", d.Currency, d.CurrencyMap)
	}
	if d.UnitDecimals != 8 {
		t.Errorf("unit decimals %d, want 8 (the documented 1 USDC = 100000000)", d.UnitDecimals)
	}
	if !boolOr(d.SendCancelURL, true) || !boolOr(d.SendClientReference, true) {
		t.Error("send_cancel_url and send_client_reference must default to true")
	}
}

func TestNewRefusesInvalidConfig(t *testing.T) {
	_, err := New(Config{BaseURL: "nope"}, gateway.Options{})
	if err == nil || !strings.Contains(err.Error(), "api_key") || !strings.Contains(err.Error(), "base_url") {
		t.Fatalf("New() error = %v, want api_key and base_url named", err)
	}
}

func TestCapabilities(t *testing.T) {
	c, err := New(Config{APIKey: "k", CurrencyMap: map[string]string{"USD": "usdc", "EUR": "usdc"}}, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := c.Capabilities()
	if !got.Callbacks || got.BatchSize != 0 || strings.Join(got.Currencies, ",") != "EUR,USD" {
		t.Fatalf("Capabilities() = %+v, want webhooks, no batch, EUR,USD", got)
	}
	if c.Name() != "bitstream" {
		t.Fatalf("Name() = %q", c.Name())
	}
	if _, ok := any(c).(bridge.BatchGateway); ok {
		t.Fatal("client must not claim batch reads")
	}
	for _, err := range []error{ErrNoWebhookSecret, ErrWebhookNotSigned, ErrWebhookMismatch} {
		if !errors.Is(err, bridge.ErrSignature) {
			t.Fatalf("%v must wrap bridge.ErrSignature", err)
		}
	}
	if !errors.Is(ErrWebhookMalformed, bridge.ErrMalformed) || errors.Is(ErrWebhookMalformed, bridge.ErrSignature) {
		t.Fatal("ErrWebhookMalformed must wrap bridge.ErrMalformed only")
	}
}
