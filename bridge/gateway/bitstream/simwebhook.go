package bitstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// WebhookDelivery is one webhook attempt in the simulator's log.
type WebhookDelivery struct {
	SessionID  string
	Type       string // event type
	Kind       string // "event", "duplicate", "forged", "tampered", "token-only", "unsigned"
	Attempt    int
	StatusCode int    // 0 when no answer arrived
	Err        string // transport error
	Body       []byte
	At         time.Time
}

// webhookSender delivers webhooks in the background and logs each attempt.
type webhookSender struct {
	client *http.Client
	mu     sync.Mutex
	log    []WebhookDelivery
	last   map[string]simSigned // last genuine webhook per session
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

type simSigned struct {
	body []byte
	typ  string
}

func (w *webhookSender) init(c *http.Client) {
	w.client, w.done, w.last = c, make(chan struct{}), map[string]simSigned{}
}

func (w *webhookSender) close() {
	w.once.Do(func() { close(w.done) })
	w.wg.Wait()
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
	url, secret, retry, attempts := s.cfg.WebhookURL, s.cfg.WebhookSecret, s.cfg.WebhookRetry, s.cfg.WebhookAttempts
	w := &s.webhooks
	w.mu.Lock()
	w.last[ss.id] = simSigned{body: body, typ: typ}
	w.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for attempt := 1; attempt <= attempts; attempt++ {
			code := w.deliver(url, WebhookDelivery{SessionID: ss.id, Type: typ, Kind: "event", Attempt: attempt, Body: body, At: time.Now()},
				SignWebhook(body, secret), secret)
			if code >= 200 && code < 300 {
				return
			}
			select {
			case <-w.done:
				return
			case <-time.After(retry):
			}
		}
	}()
}

// deliver POSTs one webhook with the given signature (none when "") and
// token (none when "") and logs the attempt.
func (w *webhookSender) deliver(url string, d WebhookDelivery, signature, token string) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-w.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.Body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		if signature != "" {
			req.Header.Set(HeaderSignature, signature)
		}
		if token != "" {
			req.Header.Set(HeaderToken, token)
		}
		var resp *http.Response
		if resp, err = w.client.Do(req); err == nil {
			resp.Body.Close()
			d.StatusCode = resp.StatusCode
		}
	}
	if err != nil {
		d.Err = err.Error()
	}
	w.mu.Lock()
	w.log = append(w.log, d)
	w.mu.Unlock()
	return d.StatusCode
}

// Webhooks returns the delivery log.
func (s *Simulator) Webhooks() []WebhookDelivery {
	s.webhooks.mu.Lock()
	defer s.webhooks.mu.Unlock()
	return append([]WebhookDelivery(nil), s.webhooks.log...)
}

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
		return b, SignWebhook(b, secret), secret
	})
}

// SendForged sends, once, the session's last webhook signed with another
// secret.
func (s *Simulator) SendForged(id string) (int, error) {
	return s.sendVariant(id, "forged", func(b []byte, secret string) ([]byte, string, string) {
		return b, SignWebhook(b, secret+"-other"), secret + "-other"
	})
}

// SendTampered sends, once, the session's last webhook with its status
// changed to complete and paid after it was signed.
func (s *Simulator) SendTampered(id string) (int, error) {
	return s.sendVariant(id, "tampered", func(b []byte, secret string) ([]byte, string, string) {
		sig := SignWebhook(b, secret)
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
	s.mu.Unlock()
	s.webhooks.mu.Lock()
	last, ok := s.webhooks.last[id]
	s.webhooks.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrNoWebhook, id)
	}
	if url == "" {
		return 0, errors.New("simulator: no webhook url")
	}
	body, sig, token := build(last.body, secret)
	return s.webhooks.deliver(url, WebhookDelivery{SessionID: id, Type: last.typ, Kind: kind, Attempt: 1, Body: body, At: time.Now()}, sig, token), nil
}

// SignedEvent builds a webhook body about a session object as the simulator
// sends it, and its signature: for tests of receivers.
func SignedEvent(typ string, session []byte, secret string) (body []byte, signature string) {
	body = []byte(fmt.Sprintf(`{"id":"evt-%d","apiVersion":"2023-01-11","created":%d,"object":"checkoutSession","type":%q,"data":{"object":%s}}`,
		time.Now().UnixNano(), time.Now().UnixMilli(), typ, strings.TrimSpace(string(session))))
	return body, SignWebhook(body, secret)
}
