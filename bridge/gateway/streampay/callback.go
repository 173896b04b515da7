package streampay

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
)

// MaxCallbackBytes caps the callback body verified; a genuine one is a few
// hundred bytes.
const MaxCallbackBytes = 64 << 10

// Errors returned by VerifyCallback. Each matches bridge.ErrSignature with
// errors.Is, so the bridge treats them alike; ErrNotSigned also matches
// bridge.ErrNotSigned.
var (
	// ErrNotSigned: the callback carries no signature.
	ErrNotSigned = fmt.Errorf("%w (%w)", bridge.ErrSignature, bridge.ErrNotSigned)
	// ErrNoSecret: no secret key is configured, so nothing can be verified.
	ErrNoSecret = fmt.Errorf("%w: no secret key configured", bridge.ErrSignature)
	// ErrMalformed: the body is not the documented JSON object of strings.
	ErrMalformed = fmt.Errorf("%w: malformed callback", bridge.ErrSignature)
	// ErrMissingField: a signed field is absent.
	ErrMissingField = fmt.Errorf("%w: missing field", bridge.ErrSignature)
	// ErrMismatch: the signature does not match the fields and the secret.
	ErrMismatch = fmt.Errorf("%w: signature mismatch", bridge.ErrSignature)
	// ErrSignedMalformed: the signature is genuine but a field is unusable
	// (an empty payment id, an amount that is no decimal). It matches
	// bridge.ErrMalformed, not bridge.ErrSignature.
	ErrSignedMalformed = fmt.Errorf("%w: signed, but a field is unusable", bridge.ErrMalformed)
)

// Callback is the body StreamPay POSTs to the shop's callback URL. All values
// are strings on the wire and are kept verbatim: the signature covers the
// raw text, so nothing may be re-formatted before checking it.
type Callback struct {
	PaymentID         string `json:"payment_id"`
	Amount            string `json:"amount"`              // asked, native token
	AmountUSD         string `json:"amount_usd"`          // asked, USD
	ReceivedAmount    string `json:"received_amount"`     // paid, native token
	ReceivedAmountUSD string `json:"received_amount_usd"` // paid, USD
	CurrentDateTime   string `json:"current_datetime"`    // when it was sent
	Signature         string `json:"signature"`
}

// signedFields lists the callback's fields in the order of the signed
// string; signature is not among them.
var signedFields = []string{"amount", "amount_usd", "current_datetime", "payment_id", "received_amount", "received_amount_usd"}

// SigningString is the documented text whose SHA-256 is the signature:
// "Amount=…;AmountUsd=…;CurrentDateTime=…;PaymentID=…;ReceivedAmount=…;ReceivedAmountUsd=…;SecretKey=…".
func SigningString(c Callback, secret string) string {
	return "Amount=" + c.Amount +
		";AmountUsd=" + c.AmountUSD +
		";CurrentDateTime=" + c.CurrentDateTime +
		";PaymentID=" + c.PaymentID +
		";ReceivedAmount=" + c.ReceivedAmount +
		";ReceivedAmountUsd=" + c.ReceivedAmountUSD +
		";SecretKey=" + secret
}

// Sign returns the lower-case hex signature StreamPay computes for c. It is
// a plain SHA-256 with the secret appended, not an HMAC: that is the
// documented scheme.
func Sign(c Callback, secret string) string {
	sum := sha256.Sum256([]byte(SigningString(c, secret)))
	return hex.EncodeToString(sum[:])
}

// SignedPayload returns c signed with secret and marshalled as StreamPay
// sends it. The simulator and other packages' tests use it to build genuine
// callbacks.
func SignedPayload(c Callback, secret string) []byte {
	c.Signature = Sign(c, secret)
	b, err := json.Marshal(c)
	if err != nil { // a struct of strings always marshals
		panic("streampay: marshal callback: " + err.Error())
	}
	return b
}

// ParseCallback decodes a callback body without checking its signature.
// Every field must be a JSON string; a missing field is an error. The
// result must not be trusted before VerifyCallbackBody succeeded.
func ParseCallback(body []byte) (Callback, error) {
	var c Callback
	if len(body) > MaxCallbackBytes {
		return c, fmt.Errorf("%w: body over %d bytes", ErrMalformed, MaxCallbackBytes)
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return c, fmt.Errorf("%w: not a json object", ErrMalformed)
	}
	if dec.More() {
		return c, fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	get := func(name string) (string, error) {
		v, ok := raw[name]
		if !ok {
			return "", fmt.Errorf("%w: %s", ErrMissingField, name)
		}
		var s string
		if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
			return "", fmt.Errorf("%w: %s is not a string", ErrMalformed, name)
		}
		return s, nil
	}
	fields := make(map[string]string, len(signedFields))
	for _, name := range signedFields {
		s, err := get(name)
		if err != nil {
			return c, err
		}
		fields[name] = s
	}
	sig, err := get("signature")
	if errors.Is(err, ErrMissingField) || err == nil && sig == "" {
		return c, ErrNotSigned
	} else if err != nil {
		return c, err
	}
	return Callback{
		PaymentID:         fields["payment_id"],
		Amount:            fields["amount"],
		AmountUSD:         fields["amount_usd"],
		ReceivedAmount:    fields["received_amount"],
		ReceivedAmountUSD: fields["received_amount_usd"],
		CurrentDateTime:   fields["current_datetime"],
		Signature:         sig,
	}, nil
}

// VerifyCallbackBody parses body and checks its signature against secret in
// constant time. It fails closed: an empty secret rejects everything. No
// freshness window is documented (current_datetime is the send time of each
// retry), so an old but genuine callback is accepted: a replay is harmless
// because the bridge applies a payment's outcome once and confirms it with
// the status API.
func VerifyCallbackBody(body []byte, secret string) (Callback, error) {
	if secret == "" {
		return Callback{}, ErrNoSecret
	}
	c, err := ParseCallback(body)
	if err != nil {
		return Callback{}, err
	}
	got, err := hex.DecodeString(c.Signature) // accepts upper-case hex too
	if err != nil || len(got) != sha256.Size {
		return Callback{}, fmt.Errorf("%w: signature is not a hex sha-256", ErrMismatch)
	}
	want := sha256.Sum256([]byte(SigningString(c, secret)))
	if subtle.ConstantTimeCompare(got, want[:]) != 1 {
		return Callback{}, ErrMismatch
	}
	if c.PaymentID == "" || strings.TrimSpace(c.PaymentID) != c.PaymentID {
		return Callback{}, fmt.Errorf("%w: bad payment_id", ErrSignedMalformed)
	}
	for _, f := range []struct{ name, v string }{{"amount_usd", c.AmountUSD}, {"received_amount_usd", c.ReceivedAmountUSD}} {
		if _, err := parseAmount(f.v); err != nil {
			return Callback{}, fmt.Errorf("%w: %s: %v", ErrSignedMalformed, f.name, err)
		}
	}
	return c, nil
}

// parseAmount reads a non-negative decimal string.
func parseAmount(s string) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(strings.TrimSpace(s))
	if err != nil {
		return decimal.Decimal{}, errors.New("not a decimal")
	}
	if d.IsNegative() {
		return decimal.Decimal{}, errors.New("negative")
	}
	return d, nil
}

// classify compares what arrived with what was asked, both in USD.
func classify(asked, received decimal.Decimal) bridge.PaymentStatus {
	switch received.Cmp(asked) {
	case 1:
		return bridge.PaymentOverpaid
	case -1:
		return bridge.PaymentUnderpaid
	}
	return bridge.PaymentPaid
}

// event turns a verified callback into the bridge's CallbackEvent.
func event(c Callback) *bridge.CallbackEvent {
	asked, _ := parseAmount(c.AmountUSD)
	received, _ := parseAmount(c.ReceivedAmountUSD)
	return &bridge.CallbackEvent{
		Gateway:   Name,
		GatewayID: c.PaymentID,
		Claimed: bridge.GatewayState{
			GatewayID: c.PaymentID,
			Status:    classify(asked, received),
			Amount:    bridge.Money{Amount: asked, Currency: "USD"},
			Received:  bridge.Money{Amount: received, Currency: "USD"},
		},
		Raw: map[string]string{
			"payment_id":          c.PaymentID,
			"amount":              c.Amount,
			"amount_usd":          c.AmountUSD,
			"received_amount":     c.ReceivedAmount,
			"received_amount_usd": c.ReceivedAmountUSD,
			"current_datetime":    c.CurrentDateTime,
		},
	}
}
