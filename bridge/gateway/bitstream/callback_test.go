package bitstream

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/wcbridge/wcbridge/bridge"
)

const testWebhookSecret = "whsec_test_0f1e2d3c4b5a69788796a5b4"

// The documented event envelope (docs.copperx.io, webhook event object)
// around the seed's session, signed as Copperx signs: hex HMAC-SHA256 of the
// raw body with the webhook secret in x-webhook-signature.
func TestVerifyCallbackDocumentedEvent(t *testing.T) {
	c := newTestClient(t, "http://unused.test", func(c *Config) { c.WebhookSecret = testWebhookSecret }, fastOpts())
	body := []byte(mustRead(t, "testdata/documented_event.json"))
	for name, sig := range map[string]string{
		"lower-case hex": SignWebhook(body, testWebhookSecret),
		"upper-case hex": strings.ToUpper(SignWebhook(body, testWebhookSecret)),
	} {
		t.Run(name, func(t *testing.T) {
			ev, err := c.VerifyCallback(http.Header{"Content-Type": {"application/json"}, HeaderSignature: {sig}}, body)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Gateway != Name || ev.GatewayID != "6bce7b07-825f-454e-bea8-3a2bb04a570b" || ev.OrderRef != "" ||
				ev.Raw["type"] != EventCompleted || ev.Raw["event_id"] != "518fa184-194b-40f3-9ce8-33fe668305a7" {
				t.Fatalf("event %+v", ev)
			}
			// The claim is read at 10^-8: 1 USDC asked, nothing received yet.
			if ev.Claimed.Status != bridge.PaymentPending || !ev.Claimed.Amount.Amount.Equal(dec("1")) || ev.Claimed.Amount.Currency != "usdc" {
				t.Fatalf("claimed %+v", ev.Claimed)
			}
		})
	}
}

// Everything that is not signed with the webhook secret is refused, as is
// everything when no secret is configured; the x-webhook-token header (the
// secret itself) is never enough.
func TestVerifyCallbackRefusals(t *testing.T) {
	body := []byte(mustRead(t, "testdata/documented_event.json"))
	good := SignWebhook(body, testWebhookSecret)
	notAboutSession, notAboutSessionSig := []byte(`{"id":"e","type":"invoice.paid","data":{"object":{"id":"inv"}}}`), ""
	notAboutSessionSig = SignWebhook(notAboutSession, testWebhookSecret)
	garbage := []byte(`{"type":"checkout_session.completed","data":{"object":"x"}}`)
	withSecret := newTestClient(t, "http://unused.test", func(c *Config) { c.WebhookSecret = testWebhookSecret }, fastOpts())
	noSecret := newTestClient(t, "http://unused.test", nil, fastOpts())
	tests := []struct {
		name   string
		c      *Client
		header http.Header
		body   []byte
		want   error
	}{
		{"no secret configured", noSecret, http.Header{HeaderSignature: {good}}, body, ErrNoWebhookSecret},
		{"unsigned", withSecret, http.Header{}, body, ErrWebhookNotSigned},
		{"the token alone", withSecret, http.Header{HeaderToken: {testWebhookSecret}}, body, ErrWebhookNotSigned},
		{"the token as the signature", withSecret, http.Header{HeaderSignature: {testWebhookSecret}}, body, ErrWebhookMismatch},
		{"another secret", withSecret, http.Header{HeaderSignature: {SignWebhook(body, "whsec_other")}}, body, ErrWebhookMismatch},
		{"tampered body", withSecret, http.Header{HeaderSignature: {good}}, []byte(strings.Replace(string(body), `"open"`, `"complete"`, 1)), ErrWebhookMismatch},
		{"truncated signature", withSecret, http.Header{HeaderSignature: {good[:40]}}, body, ErrWebhookMismatch},
		{"sha256= prefix", withSecret, http.Header{HeaderSignature: {"sha256=" + good}}, body, ErrWebhookMismatch},
		{"signed, not about a session", withSecret, http.Header{HeaderSignature: {notAboutSessionSig}}, notAboutSession, ErrWebhookMalformed},
		{"signed garbage", withSecret, http.Header{HeaderSignature: {SignWebhook(garbage, testWebhookSecret)}}, garbage, ErrWebhookMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := tc.c.VerifyCallback(tc.header, tc.body)
			// Signed but unusable is malformed (400); anything else 401.
			wantMalformed := tc.want == ErrWebhookMalformed
			if ev != nil || !errors.Is(err, tc.want) || errors.Is(err, bridge.ErrSignature) == wantMalformed ||
				errors.Is(err, bridge.ErrMalformed) != wantMalformed {
				t.Fatalf("VerifyCallback = %v, %v; want %v", ev, err, tc.want)
			}
			if want := map[bool]string{true: bridge.EINVALID, false: bridge.EUNAUTHORIZED}[wantMalformed]; bridge.ErrorCode(err) != want {
				t.Fatalf("code %s, want %s", bridge.ErrorCode(err), want)
			}
			if strings.Contains(err.Error(), testWebhookSecret) {
				t.Fatal("the error names the secret")
			}
		})
	}
}

// ConfirmCallback reads the session back: the webhook's own claim does not
// count.
func TestConfirmCallbackReadsTheSession(t *testing.T) {
	sim, srv, _ := startSim(t, nil)
	c := newTestClient(t, srv.URL, nil, fastOpts())
	gp, err := c.CreatePayment(context.Background(), orderRequest("5"))
	if err != nil {
		t.Fatal(err)
	}
	ev := &bridge.CallbackEvent{Gateway: Name, GatewayID: gp.GatewayID, Claimed: bridge.GatewayState{Status: bridge.PaymentPaid}}
	st, err := c.ConfirmCallback(context.Background(), ev)
	if err != nil || st.Status != bridge.PaymentPending {
		t.Fatalf("unpaid session confirmed as %+v, %v", st, err)
	}
	if err := sim.PayExact(gp.GatewayID); err != nil {
		t.Fatal(err)
	}
	if st, err = c.ConfirmCallback(context.Background(), ev); err != nil || st.Status != bridge.PaymentPaid || st.TxRef == "" {
		t.Fatalf("paid session confirmed as %+v, %v", st, err)
	}
	if _, err := c.ConfirmCallback(context.Background(), &bridge.CallbackEvent{Gateway: Name}); bridge.ErrorCode(err) != bridge.EINVALID {
		t.Fatalf("no session id: %v", err)
	}
}

// SignedEvent builds webhooks a receiver verifies, for the documented
// session, in each event type.
func TestSignedEvent(t *testing.T) {
	c := newTestClient(t, "http://unused.test", func(c *Config) { c.WebhookSecret = testWebhookSecret }, fastOpts())
	session := []byte(mustRead(t, "testdata/documented_session.json"))
	for _, typ := range []string{EventCompleted, EventExpired, EventCanceled} {
		body, sig := SignedEvent(typ, session, testWebhookSecret)
		ev, err := c.VerifyCallback(http.Header{HeaderSignature: {sig}}, body)
		if err != nil || ev.Raw["type"] != typ || ev.GatewayID != "6bce7b07-825f-454e-bea8-3a2bb04a570b" {
			t.Fatalf("%s: %+v, %v", typ, ev, err)
		}
		if _, err := c.VerifyCallback(http.Header{HeaderSignature: {sig}}, append(body, ' ')); !errors.Is(err, ErrWebhookMismatch) {
			t.Fatalf("%s: a changed body verified: %v", typ, err)
		}
	}
}
