// Package wordpress is the sidecar's outgoing adapter to the WordPress
// plugin: it delivers the outbox's notifications to the plugin's notify
// endpoint, signed with pluginsig.
package wordpress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/pluginsig"
)

// Notifier delivers outbox notifications to the plugin's notify endpoint,
// signed like the plugin's own requests. A few quick retries happen here
// (go-retryablehttp); the outbox retries for as long as it takes.
type Notifier struct {
	URL    func() string // the plugin's notify URL
	Secret func() []byte
	Now    func() time.Time
	client *retryablehttp.Client
}

var (
	_ bridge.Notifier      = (*Notifier)(nil)
	_ bridge.BatchNotifier = (*Notifier)(nil)
)

// NewNotifier returns a notifier with a 10-second timeout per attempt and
// one quick retry: at most about 21 seconds per notification, inside the
// 30-second lease the outbox gives it.
func NewNotifier(notifyURL func() string, secret func() []byte, transport http.RoundTripper) *Notifier {
	hc := &http.Client{Timeout: 10 * time.Second}
	if transport != nil {
		hc.Transport = transport
	}
	n := &Notifier{URL: notifyURL, Secret: secret, Now: time.Now}
	n.client = &retryablehttp.Client{
		HTTPClient: hc, Logger: nil, RetryWaitMin: 500 * time.Millisecond, RetryWaitMax: time.Second, RetryMax: 1,
		CheckRetry: retryablehttp.DefaultRetryPolicy, Backoff: retryablehttp.DefaultBackoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler, PrepareRetry: n.sign,
	}
	return n
}

// Notify posts n; any answer but 2xx with {"ok":true} is an error.
func (n *Notifier) Notify(ctx context.Context, note *bridge.Notification) error {
	resp, body, err := n.post(ctx, note.Payload)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusGone {
		return fmt.Errorf("notify wordpress: %w", bridge.ErrOrderGone)
	}
	if resp.StatusCode/100 == 5 && !restError(body) {
		// Not the plugin's answer: a proxy, a maintenance page, a database
		// error page. WordPress itself is failing.
		return fmt.Errorf("notify wordpress: http %d: %s: %w", resp.StatusCode, snippet(body), bridge.ErrWordPressDown)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("notify wordpress: http %d: %s", resp.StatusCode, snippet(body))
	}
	var ok struct {
		OK bool `json:"ok"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(body), &ok); err != nil || !ok.OK {
		return fmt.Errorf("notify wordpress: unexpected answer: %s", snippet(body))
	}
	return nil
}

// post signs and sends payload to the plugin's notify endpoint and reads
// the answer; a transport failure wraps ErrWordPressDown.
func (n *Notifier) post(ctx context.Context, payload []byte) (*http.Response, []byte, error) {
	raw := n.URL()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, nil, fmt.Errorf("notify url is not configured")
	}
	// Every attempt is signed with its own request id (PrepareRetry signs
	// the retries): the plugin refuses an id it has seen, so a captured
	// notification cannot be sent again.
	ctx = context.WithValue(ctx, signingKey{}, signing{path: u.RequestURI(), body: payload})
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, raw, payload)
	if err != nil {
		return nil, nil, fmt.Errorf("build notification: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := n.sign(req.Request); err != nil {
		return nil, nil, err
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("notify wordpress: %s: %w", transportText(err), bridge.ErrWordPressDown)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, nil
}

// BatchResult is the plugin's answer for one event of a batch
// (docs/plugin-api.md).
type BatchResult struct {
	EventID  string `json:"event_id"`
	OK       bool   `json:"ok"`
	Finished bool   `json:"finished,omitempty"`
	Status   int    `json:"status,omitempty"`
	Code     string `json:"code,omitempty"`
	Message  string `json:"message,omitempty"`
}

// NotifyBatch posts the notifications in one request, {"events": [...]},
// and reads the plugin's answer for each: {"ok": true, "results": [...]}.
// A single notification goes alone, in the format every plugin version
// takes. A plugin that answers a batch 400 takes none (an older version):
// every result is then ErrBatchUnsupported.
func (n *Notifier) NotifyBatch(ctx context.Context, ns []*bridge.Notification) []error {
	errs := make([]error, len(ns))
	all := func(err error) []error {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	if len(ns) == 1 {
		return all(n.Notify(ctx, ns[0]))
	}
	var b bytes.Buffer
	b.WriteString(`{"events":[`)
	for i, note := range ns {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(note.Payload)
	}
	b.WriteString(`]}`)
	resp, body, err := n.post(ctx, b.Bytes())
	if err != nil {
		return all(err)
	}
	switch {
	case resp.StatusCode == http.StatusBadRequest:
		return all(fmt.Errorf("notify wordpress: http 400: %s: %w", snippet(body), bridge.ErrBatchUnsupported))
	case resp.StatusCode/100 == 5 && !restError(body):
		return all(fmt.Errorf("notify wordpress: http %d: %s: %w", resp.StatusCode, snippet(body), bridge.ErrWordPressDown))
	case resp.StatusCode/100 != 2:
		return all(fmt.Errorf("notify wordpress: http %d: %s", resp.StatusCode, snippet(body)))
	}
	var ans struct {
		OK      bool          `json:"ok"`
		Results []BatchResult `json:"results"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(body), &ans); err != nil || !ans.OK {
		return all(fmt.Errorf("notify wordpress: unexpected answer: %s", snippet(body)))
	}
	byEvent := make(map[string]BatchResult, len(ans.Results))
	for _, r := range ans.Results {
		byEvent[r.EventID] = r
	}
	for i, note := range ns {
		r, ok := byEvent[note.EventID]
		switch {
		case !ok:
			errs[i] = fmt.Errorf("notify wordpress: no answer for event %s in the batch", note.EventID)
		case r.OK:
		case r.Status == http.StatusGone:
			errs[i] = fmt.Errorf("notify wordpress: %w", bridge.ErrOrderGone)
		default:
			errs[i] = fmt.Errorf("notify wordpress: event refused: http %d: %s: %s", r.Status, r.Code, snippet([]byte(r.Message)))
		}
	}
	return errs
}

// restError reports whether body is a WordPress REST API error
// ({"code": "...", "message": "...", "data": ...}): WordPress ran and
// answered, so the failure concerns this notification, not WordPress.
func restError(body []byte) bool {
	var e struct {
		Code any `json:"code"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(body), &e); err != nil {
		return false
	}
	code, ok := e.Code.(string)
	return ok && code != ""
}

// signingKey carries what a notification's signature covers in its
// request's context, so each retry can be signed anew.
type signingKey struct{}

type signing struct {
	path string
	body []byte
}

// sign sets fresh signing headers on a notification request.
func (n *Notifier) sign(r *http.Request) error {
	s, ok := r.Context().Value(signingKey{}).(signing)
	if !ok {
		return fmt.Errorf("notify wordpress: request to sign carries no signing data")
	}
	pluginsig.Sign(n.Secret(), n.Now(), http.MethodPost, s.path, s.body).Set(r.Header)
	return nil
}

// transportText drops the request URL from a transport error.
func transportText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

func snippet(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return string(bytes.ToValidUTF8(b, []byte("?")))
}
