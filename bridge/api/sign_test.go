package api

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
)

// The vector in docs/plugin-api.md; the PHP plugin tests the same one.
func TestSignatureVector(t *testing.T) {
	got := Signature([]byte("wcbridge-test-secret-0123456789abcdef"), 1766300000, "POST", "/v1/checkout", []byte(`{"order_id":123,"gateway":"streampay"}`))
	want := "v1=e339ace4d3299a7df5a8ea3d1f5de4fc2cf2c50de59b35a106d8eaa7f5f181ca"
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	secret := []byte("wcbridge-test-secret-0123456789abcdef")
	now := time.Unix(1766300000, 0)
	body := []byte(`{"order_id":123}`)
	good := Signature(secret, now.Unix(), "POST", "/v1/checkout", body)
	tests := []struct {
		name                  string
		secret                []byte
		ts, sig, method, path string
		body                  []byte
		want                  error
	}{
		{"valid", secret, "1766300000", good, "POST", "/v1/checkout", body, nil},
		{"valid upper-case hex", secret, "1766300000", "V1=" + strings.ToUpper(good[3:]), "POST", "/v1/checkout", body, nil},
		{"wrong secret", []byte("another-secret-0123456789abcdef012"), "1766300000", good, "POST", "/v1/checkout", body, bridge.ErrSignature},
		{"tampered body", secret, "1766300000", good, "POST", "/v1/checkout", []byte(`{"order_id":124}`), bridge.ErrSignature},
		{"other path", secret, "1766300000", good, "POST", "/v1/orders/123/recheck", body, bridge.ErrSignature},
		{"other method", secret, "1766300000", good, "PUT", "/v1/checkout", body, bridge.ErrSignature},
		{"stale", secret, "1766299000", Signature(secret, 1766299000, "POST", "/v1/checkout", body), "POST", "/v1/checkout", body, bridge.ErrTooOld},
		{"future", secret, "1766301000", Signature(secret, 1766301000, "POST", "/v1/checkout", body), "POST", "/v1/checkout", body, bridge.ErrTooOld},
		{"no signature", secret, "1766300000", "", "POST", "/v1/checkout", body, bridge.ErrNotSigned},
		{"no timestamp", secret, "", good, "POST", "/v1/checkout", body, bridge.ErrNotSigned},
		{"garbage timestamp", secret, "yesterday", good, "POST", "/v1/checkout", body, bridge.ErrNotSigned},
		{"empty secret fails closed", nil, "1766300000", Signature(nil, now.Unix(), "POST", "/v1/checkout", body), "POST", "/v1/checkout", body, bridge.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.ts, tt.sig, tt.method, tt.path, tt.body, now, 5*time.Minute)
			if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":          "203.0.113.7",
		"::ffff:203.0.113.7":   "203.0.113.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64", // one host's /64 is one client
		"not an address":       "not an address",
	} {
		if got := clientKey(in); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", in, got, want)
		}
	}
}
