package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
)

// Header names of the plugin API's signature (docs/plugin-api.md).
const (
	HeaderTimestamp = "X-WCBridge-Timestamp"
	HeaderSignature = "X-WCBridge-Signature"
)

// Signature returns the v1 signature of a request: HMAC-SHA256 over
// timestamp, method, path with query, and body, joined by line feeds.
func Signature(secret []byte, timestamp int64, method, path string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%d\n%s\n%s\n", timestamp, strings.ToUpper(method), path)
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a request's signature headers against its raw bytes. The
// timestamp must be within window of now, either way. Errors are the core's
// ErrNotSigned, ErrTooOld and ErrSignature.
func Verify(secret []byte, timestamp, signature, method, path string, body []byte, now time.Time, window time.Duration) error {
	if len(secret) == 0 {
		return bridge.ErrSignature // fail closed
	}
	if timestamp == "" || signature == "" {
		return bridge.ErrNotSigned
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return bridge.ErrNotSigned
	}
	if d := now.Sub(time.Unix(ts, 0)); d > window || d < -window {
		return bridge.ErrTooOld
	}
	want := Signature(secret, ts, method, path, body)
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(strings.TrimSpace(signature)))) {
		return bridge.ErrSignature
	}
	return nil
}
