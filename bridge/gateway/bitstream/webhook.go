package bitstream

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
)

// Webhooks, as Copperx documents them for the API Bitstream's is
// (docs.copperx.io, integrate-payments/webhooks-and-events and
// webhook/webhook-event-object): a
// JSON POST {"id","apiVersion","created","object","type","data":{"object":
// <checkout session>}} for checkout_session.completed, .expired and
// .canceled, with header x-webhook-signature = hex HMAC-SHA256 of the raw
// body keyed with the webhook secret from the dashboard. A header
// x-webhook-token carries the secret itself; it proves nothing a copy of
// one request would not, and is never relied on.

// Header names.
const (
	HeaderSignature = "X-Webhook-Signature"
	HeaderToken     = "X-Webhook-Token" // the secret itself: ignored
)

// Event types of checkout sessions.
const (
	EventCompleted = "checkout_session.completed"
	EventExpired   = "checkout_session.expired"
	EventCanceled  = "checkout_session.canceled"
)

// Errors returned by VerifyWebhook. Nothing of a webhook that fails counts.
// Each matches bridge.ErrSignature with errors.Is (401), but
// ErrWebhookMalformed, which is genuinely signed and matches
// bridge.ErrMalformed instead (400).
var (
	// ErrNoWebhookSecret: gateways.bitstream.webhook_secret is not set, so no
	// webhook can be authenticated (polling carries on).
	ErrNoWebhookSecret = fmt.Errorf("%w: no webhook secret configured", bridge.ErrSignature)
	// ErrWebhookNotSigned: no x-webhook-signature header.
	ErrWebhookNotSigned = fmt.Errorf("%w (%w)", bridge.ErrSignature, bridge.ErrNotSigned)
	// ErrWebhookMismatch: the signature does not match the body and secret.
	ErrWebhookMismatch = fmt.Errorf("%w: signature mismatch", bridge.ErrSignature)
	// ErrWebhookMalformed: correctly signed, but not an event about a
	// checkout session.
	ErrWebhookMalformed = fmt.Errorf("%w: signed, but not an event about a checkout session", bridge.ErrMalformed)
)

// Event is a webhook's envelope; Data.Object is the checkout session.
type Event struct {
	ID         string      `json:"id"`
	APIVersion string      `json:"apiVersion"`
	Created    json.Number `json:"created"` // milliseconds since the epoch
	Object     string      `json:"object"`
	Type       string      `json:"type"`
	Data       struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

// SignWebhook returns the x-webhook-signature of body: lower-case hex
// HMAC-SHA256 keyed with secret.
func SignWebhook(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhook checks signature against the raw body in constant time,
// then parses the event and its checkout session. Hex of either case is
// accepted; anything else does not match.
func VerifyWebhook(body []byte, signature, secret string) (*Event, *session, error) {
	if secret == "" {
		return nil, nil, ErrNoWebhookSecret
	}
	signature = strings.TrimSpace(signature)
	if signature == "" {
		return nil, nil, ErrWebhookNotSigned
	}
	got, err := hex.DecodeString(signature)
	if err != nil || len(got) != sha256.Size {
		return nil, nil, ErrWebhookMismatch
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return nil, nil, ErrWebhookMismatch
	}
	var ev Event
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&ev); err != nil {
		return nil, nil, fmt.Errorf("%w: not a JSON event", ErrWebhookMalformed)
	}
	if !strings.HasPrefix(ev.Type, "checkout_session.") || len(ev.Data.Object) == 0 {
		return nil, nil, fmt.Errorf("%w: event type %q is not about a checkout session", ErrWebhookMalformed, truncate(ev.Type, 40))
	}
	s, err := parseSession(ev.Data.Object)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrWebhookMalformed, err)
	}
	if strings.ContainsAny(s.ID, "/?#") || len(s.ID) > 191 {
		return nil, nil, fmt.Errorf("%w: bad session id", ErrWebhookMalformed)
	}
	return &ev, s, nil
}

// SignedEvent builds a webhook body about a session object as Bitstream
// sends it, and its signature: for tests of receivers.
func SignedEvent(typ string, session []byte, secret string) (body []byte, signature string) {
	body = []byte(fmt.Sprintf(`{"id":"evt-%d","apiVersion":"2023-01-11","created":%d,"object":"checkoutSession","type":%q,"data":{"object":%s}}`,
		time.Now().UnixNano(), time.Now().UnixMilli(), typ, strings.TrimSpace(string(session))))
	return body, SignWebhook(body, secret)
}
