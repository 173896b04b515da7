package pluginsig

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
)

// The vector in docs/plugin-api.md; the PHP plugin tests the same one.
const (
	vectorSecret = "wcbridge-test-secret-0123456789abcdef"
	vectorID     = "7f8c1e2a9b3d4c5e6f708192a3b4c5d6"
	vectorBody   = `{"order_id":123,"gateway":"streampay"}`
	vectorSig    = "v2=e23cadb1f81a4ec45312e3bec135dd8e91f1615f361b4b3cbed27b3b8f559046"
)

func TestSignatureVector(t *testing.T) {
	got := Signature([]byte(vectorSecret), 1766300000, vectorID, "POST", "/v1/checkout", []byte(vectorBody))
	if got != vectorSig {
		t.Fatalf("got %s, want %s", got, vectorSig)
	}
}

func TestVerify(t *testing.T) {
	secret := []byte(vectorSecret)
	now := time.Unix(1766300000, 0)
	body := []byte(vectorBody)
	good := Signed{Timestamp: "1766300000", RequestID: vectorID, Signature: vectorSig}
	with := func(f func(s *Signed)) Signed { s := good; f(&s); return s }
	at := func(ts int64) Signed {
		return Signed{Timestamp: fmt.Sprint(ts), RequestID: vectorID, Signature: Signature(secret, ts, vectorID, "POST", "/v1/checkout", body)}
	}
	tests := []struct {
		name         string
		secret       []byte
		s            Signed
		method, path string
		body         []byte
		want         error
	}{
		{"valid", secret, good, "POST", "/v1/checkout", body, nil},
		{"valid upper-case hex", secret, with(func(s *Signed) { s.Signature = "V2=" + strings.ToUpper(vectorSig[3:]) }), "POST", "/v1/checkout", body, nil},
		{"wrong secret", []byte("another-secret-0123456789abcdef012"), good, "POST", "/v1/checkout", body, bridge.ErrSignature},
		{"tampered body", secret, good, "POST", "/v1/checkout", []byte(`{"order_id":124}`), bridge.ErrSignature},
		{"other path", secret, good, "POST", "/v1/orders/123/recheck", body, bridge.ErrSignature},
		{"other method", secret, good, "PUT", "/v1/checkout", body, bridge.ErrSignature},
		{"other request id", secret, with(func(s *Signed) { s.RequestID = "00000000000000000000000000000000" }), "POST", "/v1/checkout", body, bridge.ErrSignature},
		{"a v1 signature (no request id inside)", secret, with(func(s *Signed) {
			s.Signature = "v1=e339ace4d3299a7df5a8ea3d1f5de4fc2cf2c50de59b35a106d8eaa7f5f181ca"
		}), "POST", "/v1/checkout", body, bridge.ErrSignature},
		{"stale", secret, at(1766299000), "POST", "/v1/checkout", body, bridge.ErrTooOld},
		{"future", secret, at(1766301000), "POST", "/v1/checkout", body, bridge.ErrTooOld},
		{"no signature", secret, with(func(s *Signed) { s.Signature = "" }), "POST", "/v1/checkout", body, bridge.ErrNotSigned},
		{"no timestamp", secret, with(func(s *Signed) { s.Timestamp = "" }), "POST", "/v1/checkout", body, bridge.ErrNotSigned},
		{"no request id", secret, with(func(s *Signed) { s.RequestID = "" }), "POST", "/v1/checkout", body, bridge.ErrNotSigned},
		{"short request id", secret, with(func(s *Signed) { s.RequestID = "abc" }), "POST", "/v1/checkout", body, bridge.ErrNotSigned},
		{"request id with a line feed", secret, with(func(s *Signed) { s.RequestID = vectorID + "\nPOST" }), "POST", "/v1/checkout", body, bridge.ErrNotSigned},
		{"garbage timestamp", secret, with(func(s *Signed) { s.Timestamp = "yesterday" }), "POST", "/v1/checkout", body, bridge.ErrNotSigned},
		{"empty secret fails closed", nil, at(now.Unix()), "POST", "/v1/checkout", body, bridge.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.s, tt.method, tt.path, tt.body, now, 5*time.Minute)
			if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
	// Sign makes a fresh id every time, and what it makes verifies.
	a, b := Sign(secret, now, "POST", "/v1/x", body), Sign(secret, now, "POST", "/v1/x", body)
	if a.RequestID == b.RequestID || Verify(secret, a, "POST", "/v1/x", body, now, time.Minute) != nil {
		t.Fatalf("Sign: %+v %+v", a, b)
	}
}
