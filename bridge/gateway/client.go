// Package gateway holds what the gateway packages share: one HTTP client built
// on go-retryablehttp with timeouts and the two retry rules (reads and
// creations), and the error type that carries a gateway's status and message
// but never a credential.
package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/wcbridge/wcbridge/bridge"
)

// MaxResponseBytes caps what is read of a gateway's answer.
const MaxResponseBytes = 4 << 20

// Options configures a Client. Zero values take the defaults.
type Options struct {
	Timeout      time.Duration // per attempt; default 15s
	RetryMax     int           // retries after the first attempt; default 3
	RetryWaitMin time.Duration // default 200ms
	RetryWaitMax time.Duration // default 5s
	// Transport replaces the default transport (tests).
	Transport http.RoundTripper
	UserAgent string
}

// Client sends requests to one gateway.
type Client struct {
	name   string
	reads  *retryablehttp.Client
	writes *retryablehttp.Client
	ua     string
}

// NewClient returns a client for the named gateway.
func NewClient(name string, o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.RetryMax == 0 {
		o.RetryMax = 3
	} else if o.RetryMax < 0 {
		o.RetryMax = 0
	}
	if o.RetryWaitMin <= 0 {
		o.RetryWaitMin = 200 * time.Millisecond
	}
	if o.RetryWaitMax <= 0 {
		o.RetryWaitMax = 5 * time.Second
	}
	if o.UserAgent == "" {
		o.UserAgent = "wcbridge"
	}
	mk := func(policy retryablehttp.CheckRetry) *retryablehttp.Client {
		hc := &http.Client{Timeout: o.Timeout}
		if o.Transport != nil {
			hc.Transport = o.Transport
		}
		return &retryablehttp.Client{
			HTTPClient:   hc,
			Logger:       nil, // its messages name full URLs; we log ourselves
			RetryWaitMin: o.RetryWaitMin,
			RetryWaitMax: o.RetryWaitMax,
			RetryMax:     o.RetryMax,
			CheckRetry:   policy,
			Backoff:      retryablehttp.DefaultBackoff, // exponential, honours Retry-After
			ErrorHandler: retryablehttp.PassthroughErrorHandler,
		}
	}
	return &Client{name: name, reads: mk(ReadRetryPolicy), writes: mk(CreateRetryPolicy), ua: o.UserAgent}
}

// Name is the gateway's name, as used in errors.
func (c *Client) Name() string { return c.name }

// ReadRetryPolicy retries reads on connection errors, 429 and 5xx (not 501):
// reading twice is harmless.
func ReadRetryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
}

// CreateRetryPolicy retries a payment creation only when the gateway cannot
// have acted on it: the connection was never made (dial error), or the
// gateway answered 429 (rate limited, not processed). A timeout, a reset
// connection or a 5xx may have created the payment, so they are not retried:
// the caller reports the failure and the customer starts a new attempt, which
// can only reach a payment page the bridge knows.
func CreateRetryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return NotSent(err), nil
	}
	return resp.StatusCode == http.StatusTooManyRequests, nil
}

// NotSent reports whether err proves the request never reached the server.
func NotSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// Response is a gateway's answer, read in full.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Get sends a read request.
func (c *Client) Get(ctx context.Context, op, rawURL string, header http.Header) (*Response, error) {
	return c.do(ctx, c.reads, op, http.MethodGet, rawURL, header, nil)
}

// PostRead sends a POST that only reads (a status query), retried like a read.
func (c *Client) PostRead(ctx context.Context, op, rawURL string, header http.Header, body []byte) (*Response, error) {
	return c.do(ctx, c.reads, op, http.MethodPost, rawURL, header, body)
}

// PostCreate sends a POST that creates something, under CreateRetryPolicy.
func (c *Client) PostCreate(ctx context.Context, op, rawURL string, header http.Header, body []byte) (*Response, error) {
	return c.do(ctx, c.writes, op, http.MethodPost, rawURL, header, body)
}

func (c *Client) do(ctx context.Context, rc *retryablehttp.Client, op, method, rawURL string, header http.Header, body []byte) (*Response, error) {
	var rdr io.Reader
	if body != nil {
		rdr = bytes.NewReader(body)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, rawURL, rdr)
	if err != nil {
		return nil, &Error{Gateway: c.name, Op: op, Message: "bad request url"}
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("User-Agent", c.ua)
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := rc.Do(req)
	if err != nil {
		return nil, &Error{Gateway: c.name, Op: op, Message: transportMessage(err), Temporary: true, Err: stripURL(err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes))
	if err != nil {
		return nil, &Error{Gateway: c.name, Op: op, StatusCode: resp.StatusCode, Message: "reading response failed", Temporary: true, Err: stripURL(err)}
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// stripURL removes the request URL (which may carry a client id) from a
// transport error.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}

func transportMessage(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "gateway did not answer in time"
	case NotSent(err):
		return "gateway unreachable"
	}
	return "connection to gateway failed"
}

// Error is a failed gateway call. Its text carries the gateway's HTTP status
// and message, never a key, secret or full URL.
type Error struct {
	Gateway    string
	Op         string // e.g. "create payment", "payment status"
	StatusCode int    // 0 when no answer arrived
	Message    string // the gateway's message, or what went wrong
	Temporary  bool   // worth retrying later (connection errors, 429, 5xx)
	Err        error
}

func (e *Error) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("%s %s: http %d: %s", e.Gateway, e.Op, e.StatusCode, e.Message)
	}
	return fmt.Sprintf("%s %s: %s", e.Gateway, e.Op, e.Message)
}

// Unwrap exposes the core error code: EUNAVAILABLE when no answer came
// (connection failed, timed out), the gateway said to come back later (429,
// 503) or a proxy in front of it could not reach it (502, 504); else
// EGATEWAY: the gateway itself answered with a failure (e.g. 500, 4xx). The
// transport cause is reachable through Cause.
func (e *Error) Unwrap() error {
	code := bridge.EGATEWAY
	switch e.StatusCode {
	case 0, http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		if e.Temporary {
			code = bridge.EUNAVAILABLE
		}
	}
	return &bridge.Error{Code: code, Message: fmt.Sprintf("%s: %s", e.Gateway, e.publicMessage())}
}

// Cause returns the underlying transport error, if any.
func (e *Error) Cause() error { return e.Err }

func (e *Error) publicMessage() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("%s failed (http %d): %s", e.Op, e.StatusCode, e.Message)
	}
	return fmt.Sprintf("%s failed: %s", e.Op, e.Message)
}

// StatusError builds the Error for a non-2xx answer; msg is the gateway's
// message extracted by the caller (empty: the status text is used).
func StatusError(gateway, op string, statusCode int, msg string) *Error {
	if msg == "" {
		msg = http.StatusText(statusCode)
	}
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return &Error{Gateway: gateway, Op: op, StatusCode: statusCode, Message: msg,
		Temporary: statusCode == http.StatusTooManyRequests || statusCode >= 500}
}

// OK reports whether the status code is 2xx.
func (r *Response) OK() bool { return r.StatusCode >= 200 && r.StatusCode < 300 }
