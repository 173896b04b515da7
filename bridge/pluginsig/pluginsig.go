// Package pluginsig is the signature the sidecar and the WordPress plugin put
// on their requests to each other (docs/plugin-api.md): pure functions over
// the method, path, body, timestamp and request id.
package pluginsig

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
)

// Header names of the plugin API's signature (docs/plugin-api.md).
const (
	HeaderTimestamp = "X-WCBridge-Timestamp"
	HeaderRequestID = "X-WCBridge-Request-Id"
	HeaderSignature = "X-WCBridge-Signature"
)

// requestIDPattern is what a request id may look like: 16 to 64 letters,
// digits, '-' or '_' (a UUID or 32 hex characters fit).
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)

// NewRequestID returns a fresh random request id (32 hex characters).
func NewRequestID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// Signature returns the v2 signature of a request: HMAC-SHA256 over
// timestamp, request id, method, path with query, and body, joined by line
// feeds. The request id inside the signature is what makes a captured
// request refusable when it comes again.
func Signature(secret []byte, timestamp int64, requestID, method, path string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%d\n%s\n%s\n%s\n", timestamp, requestID, strings.ToUpper(method), path)
	m.Write(body)
	return "v2=" + hex.EncodeToString(m.Sum(nil))
}

// Signed is what a signed request carries in its headers.
type Signed struct {
	Timestamp string
	RequestID string
	Signature string
}

// SignedFrom reads the signing headers.
func SignedFrom(h http.Header) Signed {
	return Signed{Timestamp: h.Get(HeaderTimestamp), RequestID: h.Get(HeaderRequestID), Signature: h.Get(HeaderSignature)}
}

// Sign signs a request made at now with a fresh request id.
func Sign(secret []byte, now time.Time, method, path string, body []byte) Signed {
	id := NewRequestID()
	ts := now.Unix()
	return Signed{Timestamp: strconv.FormatInt(ts, 10), RequestID: id, Signature: Signature(secret, ts, id, method, path, body)}
}

// Set writes the signing headers.
func (s Signed) Set(h http.Header) {
	h.Set(HeaderTimestamp, s.Timestamp)
	h.Set(HeaderRequestID, s.RequestID)
	h.Set(HeaderSignature, s.Signature)
}

// Verify checks a request's signing headers against its raw bytes. The
// timestamp must be within window of now, either way; the request id must be
// well formed (whether it was seen before is the caller's to check, after
// this). Errors are the core's ErrNotSigned, ErrTooOld and ErrSignature.
func Verify(secret []byte, s Signed, method, path string, body []byte, now time.Time, window time.Duration) error {
	if len(secret) == 0 {
		return bridge.ErrSignature // fail closed
	}
	if s.Timestamp == "" || s.Signature == "" || s.RequestID == "" {
		return bridge.ErrNotSigned
	}
	ts, err := strconv.ParseInt(s.Timestamp, 10, 64)
	if err != nil || !requestIDPattern.MatchString(s.RequestID) {
		return bridge.ErrNotSigned
	}
	if d := now.Sub(time.Unix(ts, 0)); d > window || d < -window {
		return bridge.ErrTooOld
	}
	want := Signature(secret, ts, s.RequestID, method, path, body)
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(strings.TrimSpace(s.Signature)))) {
		return bridge.ErrSignature
	}
	return nil
}

// Expires is when a request signed at the timestamp can no longer be
// accepted, so its id need not be remembered longer.
func (s Signed) Expires(window time.Duration) time.Time {
	ts, _ := strconv.ParseInt(s.Timestamp, 10, 64)
	return time.Unix(ts, 0).Add(window)
}
