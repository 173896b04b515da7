package bitstream

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/wcbridge/wcbridge/bridge"
)

// Bitstream documents no callbacks, so every "callback" is unauthenticated:
// whatever it looks like, even signed the way Stripe signs, it is refused.
func TestVerifyCallbackRefusesEverything(t *testing.T) {
	_, srv, _ := startSim(t, nil)
	c := newTestClient(t, srv.URL, nil, fastOpts())
	stripeLike := `{"type":"checkout.session.completed","data":{"object":{"id":"6bce7b07-825f-454e-bea8-3a2bb04a570b","paymentStatus":"paid","status":"complete"}}}`
	mac := hmac.New(sha256.New, []byte(testKey))
	mac.Write([]byte("1700000000." + stripeLike))
	vectors := []struct{ name, contentType, body string }{
		{"empty", "application/json", ""},
		{"session object as posted", "application/json", `{"id":"s","status":"complete","paymentStatus":"paid"}`},
		{"stripe-like event", "application/json", stripeLike},
		{"stripe-like event signed with the api key", "application/json", fmt.Sprintf(`{"signature":"t=1700000000,v1=%s","payload":%s}`, hex.EncodeToString(mac.Sum(nil)), stripeLike)},
		{"form", "application/x-www-form-urlencoded", "id=s&status=paid"},
		{"binary", "application/octet-stream", "\x00\xff\x10"},
		{"documented session", "application/json", mustRead(t, "testdata/documented_session.json")},
	}
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			ev, err := c.VerifyCallback(http.Header{"Content-Type": {v.contentType}}, []byte(v.body))
			if ev != nil || !errors.Is(err, bridge.ErrSignature) || !errors.Is(err, ErrNoCallbacks) {
				t.Fatalf("VerifyCallback = %v, %v; want nil and ErrSignature", ev, err)
			}
			if err.Error() != "unauthorized: signature invalid: bitstream sends no callbacks" {
				t.Fatalf("message %q", err)
			}
		})
	}
	ev := &bridge.CallbackEvent{Gateway: Name, GatewayID: "s", Claimed: bridge.GatewayState{Status: bridge.PaymentPaid}}
	st, err := c.ConfirmCallback(context.Background(), ev)
	if st != nil || !errors.Is(err, bridge.ErrSignature) {
		t.Fatalf("ConfirmCallback = %v, %v; want refusal", st, err)
	}
	if bridge.ErrorCode(err) != bridge.EUNAUTHORIZED {
		t.Fatalf("code %s", bridge.ErrorCode(err))
	}
}
