package bitstreamsim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/wcbridge/wcbridge/bridge/gateway/simkit"
)

// Webhook event types of checkout sessions (docs.copperx.io, webhooks).
const (
	EventCompleted = "checkout_session.completed"
	EventExpired   = "checkout_session.expired"
	EventCanceled  = "checkout_session.canceled"
)

// Headers of a webhook: the HMAC-SHA256 of the body keyed by the webhook
// secret, and the secret itself (as Copperx sends it; it proves nothing).
const (
	headerSignature = "X-Webhook-Signature"
	headerToken     = "X-Webhook-Token"
)

// signWebhook is the lower-case hex HMAC-SHA256 of body keyed by secret.
func signWebhook(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

type signedEvent struct {
	body []byte
	typ  string
}

// simEvent is the webhook envelope (docs.copperx.io, webhook event object):
// created is milliseconds since the epoch.
type simEvent struct {
	ID         string `json:"id"`
	APIVersion string `json:"apiVersion"`
	Created    int64  `json:"created"`
	Object     string `json:"object"`
	Type       string `json:"type"`
	Data       struct {
		Object *simObject `json:"object"`
	} `json:"data"`
}

// sendEventLocked queues the event about ss for delivery, signed, retried
// every WebhookRetry until a 2xx or WebhookAttempts. Callers hold s.mu.
func (s *Simulator) sendEventLocked(ss *simSession, typ string) {
	if s.cfg.WebhookURL == "" {
		return
	}
	ev := simEvent{ID: s.cfg.NewID(), APIVersion: "2023-01-11", Created: s.now().UnixMilli(), Object: "checkoutSession", Type: typ}
	ev.Data.Object = s.object(ss)
	body, err := json.Marshal(ev)
	if err != nil {
		return
	}
	s.last[ss.id] = signedEvent{body: body, typ: typ}
	post := webhookPost(s.cfg.WebhookURL, body, signWebhook(body, s.cfg.WebhookSecret), s.cfg.WebhookSecret)
	s.webhooks.Start(simkit.Job{
		ID: ss.id, Kind: "event", Event: typ,
		Retry: simkit.Retry{Interval: s.cfg.WebhookRetry, MaxAttempts: s.cfg.WebhookAttempts},
		Build: func() (simkit.Post, error) { return post, nil },
	})
}

// webhookPost is a webhook request with the given signature and token
// (each left out when "").
func webhookPost(url string, body []byte, signature, token string) simkit.Post {
	h := http.Header{}
	if signature != "" {
		h.Set(headerSignature, signature)
	}
	if token != "" {
		h.Set(headerToken, token)
	}
	return simkit.Post{URL: url, ContentType: "application/json", Header: h, Body: body}
}

// Callbacks returns the webhook delivery log.
func (s *Simulator) Callbacks() []simkit.Delivery { return s.webhooks.Deliveries() }

// SetCallbackURL sets where webhooks go ("" stops sending new ones).
func (s *Simulator) SetCallbackURL(u string) { s.SetWebhookURL(u) }

// SetWebhookURL sets where webhooks go ("" stops sending new ones).
func (s *Simulator) SetWebhookURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.WebhookURL = u
}

// ErrNoWebhook is returned by the send controls before any webhook was sent
// for the session.
var ErrNoWebhook = errors.New("simulator: no webhook sent yet for the session")

// SendDuplicate re-sends the session's last genuine webhook verbatim, once.
func (s *Simulator) SendDuplicate(id string) (int, error) {
	return s.sendVariant(id, "duplicate", func(b []byte, secret string) ([]byte, string, string) {
		return b, signWebhook(b, secret), secret
	})
}

// SendForged sends, once, the session's last webhook signed with another
// secret.
func (s *Simulator) SendForged(id string) (int, error) {
	return s.sendVariant(id, "forged", func(b []byte, secret string) ([]byte, string, string) {
		return b, signWebhook(b, secret+"-other"), secret + "-other"
	})
}

// SendTampered sends, once, the session's last webhook with its status
// changed to complete and paid after it was signed.
func (s *Simulator) SendTampered(id string) (int, error) {
	return s.sendVariant(id, "tampered", func(b []byte, secret string) ([]byte, string, string) {
		sig := signWebhook(b, secret)
		t := bytes.Replace(b, []byte(`"paymentStatus":"unpaid"`), []byte(`"paymentStatus":"paid"`), 1)
		t = bytes.Replace(t, []byte(`"status":"expired"`), []byte(`"status":"complete"`), 1)
		return t, sig, secret
	})
}

// SendTokenOnly sends, once, the session's last webhook with the genuine
// x-webhook-token (the secret itself) and no signature: the token alone
// proves nothing and must not be relied on.
func (s *Simulator) SendTokenOnly(id string) (int, error) {
	return s.sendVariant(id, "token-only", func(b []byte, secret string) ([]byte, string, string) {
		return b, "", secret
	})
}

func (s *Simulator) sendVariant(id, kind string, build func(body []byte, secret string) (body2 []byte, signature, token string)) (int, error) {
	s.mu.Lock()
	url, secret := s.cfg.WebhookURL, s.cfg.WebhookSecret
	last, ok := s.last[id]
	s.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrNoWebhook, id)
	}
	if url == "" {
		return 0, errors.New("simulator: no webhook url")
	}
	body, sig, token := build(last.body, secret)
	return s.webhooks.Send(id, kind, last.typ, 1, webhookPost(url, body, sig, token)), nil
}
