package streampay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway"
)

var sampleCallback = Callback{
	PaymentID:         "LqaUrQimtgTe9iF3Knv8Ld",
	Amount:            "0.16638",
	AmountUSD:         "1.00",
	ReceivedAmount:    "0.16638",
	ReceivedAmountUSD: "1.00",
	CurrentDateTime:   "2022-08-10T21:52:41+00:00",
}

// TestSignKnownVector pins the documented formula against an independently
// computed hash of the literal string.
func TestSignKnownVector(t *testing.T) {
	lit := "Amount=0.16638;AmountUsd=1.00;CurrentDateTime=2022-08-10T21:52:41+00:00;PaymentID=LqaUrQimtgTe9iF3Knv8Ld;ReceivedAmount=0.16638;ReceivedAmountUsd=1.00;SecretKey=topsecret"
	if got := SigningString(sampleCallback, "topsecret"); got != lit {
		t.Fatalf("signing string:\n got %s\nwant %s", got, lit)
	}
	sum := sha256.Sum256([]byte(lit))
	if got, want := Sign(sampleCallback, "topsecret"), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("sign: got %s, want %s", got, want)
	}
}

// mutate decodes a signed payload into a map, changes it, re-encodes it.
func mutate(t *testing.T, body []byte, fn func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyCallbackVectors(t *testing.T) {
	const secret = "topsecret"
	good := SignedPayload(sampleCallback, secret)
	sig := Sign(sampleCallback, secret)
	tests := []struct {
		name   string
		body   []byte
		secret string
		want   error // nil: accepted
	}{
		{"valid", good, secret, nil},
		{"valid upper-case hex", mutate(t, good, func(m map[string]any) { m["signature"] = strings.ToUpper(sig) }), secret, nil},
		{"valid with unknown extra field", mutate(t, good, func(m map[string]any) { m["extra"] = "x" }), secret, nil},
		{"old current_datetime still valid (no window documented)", SignedPayload(func() Callback {
			c := sampleCallback
			c.CurrentDateTime = "2020-01-01T00:00:00+00:00"
			return c
		}(), secret), secret, nil},
		{"wrong secret", SignedPayload(sampleCallback, "other"), secret, ErrMismatch},
		{"empty secret configured", good, "", ErrNoSecret},
		{"tampered received_amount_usd", mutate(t, good, func(m map[string]any) { m["received_amount_usd"] = "100.00" }), secret, ErrMismatch},
		{"tampered payment_id", mutate(t, good, func(m map[string]any) { m["payment_id"] = "Other" }), secret, ErrMismatch},
		{"re-formatted amount", mutate(t, good, func(m map[string]any) { m["amount_usd"] = "1.0" }), secret, ErrMismatch},
		{"amount as number", mutate(t, good, func(m map[string]any) { m["amount_usd"] = 1.00 }), secret, ErrMalformed},
		{"signature not hex", mutate(t, good, func(m map[string]any) { m["signature"] = "zz" + sig[2:] }), secret, ErrMismatch},
		{"signature truncated", mutate(t, good, func(m map[string]any) { m["signature"] = sig[:62] }), secret, ErrMismatch},
		{"signature empty", mutate(t, good, func(m map[string]any) { m["signature"] = "" }), secret, ErrNotSigned},
		{"signature missing", mutate(t, good, func(m map[string]any) { delete(m, "signature") }), secret, ErrNotSigned},
		{"not json", []byte("payment_id=x&signature=y"), secret, ErrMalformed},
		{"json array", []byte(`[1,2]`), secret, ErrMalformed},
		{"trailing data", append(append([]byte{}, good...), []byte(` {}`)...), secret, ErrMalformed},
		{"empty body", nil, secret, ErrMalformed},
		{"negative amount signed", SignedPayload(func() Callback {
			c := sampleCallback
			c.ReceivedAmountUSD = "-1"
			return c
		}(), secret), secret, ErrSignedMalformed},
		{"non-decimal amount signed", SignedPayload(func() Callback {
			c := sampleCallback
			c.AmountUSD = "1e400x"
			return c
		}(), secret), secret, ErrSignedMalformed},
		{"empty payment id signed", SignedPayload(func() Callback {
			c := sampleCallback
			c.PaymentID = ""
			return c
		}(), secret), secret, ErrSignedMalformed},
	}
	for _, f := range []string{"payment_id", "amount", "amount_usd", "received_amount", "received_amount_usd", "current_datetime"} {
		tests = append(tests, struct {
			name   string
			body   []byte
			secret string
			want   error
		}{"missing " + f, mutate(t, good, func(m map[string]any) { delete(m, f) }), secret, ErrMissingField})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cb, err := VerifyCallbackBody(tt.body, tt.secret)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v, want accepted", err)
				}
				if cb.PaymentID == "" {
					t.Fatalf("accepted without payment id: %+v", cb)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			// Only a genuinely signed callback is "malformed"; anything
			// else is unauthenticated.
			if tt.want == ErrSignedMalformed {
				if !errors.Is(err, bridge.ErrMalformed) || errors.Is(err, bridge.ErrSignature) || bridge.ErrorCode(err) != bridge.EINVALID {
					t.Fatalf("%v does not match bridge.ErrMalformed alone", err)
				}
				return
			}
			if !errors.Is(err, bridge.ErrSignature) || bridge.ErrorCode(err) != bridge.EUNAUTHORIZED {
				t.Fatalf("%v does not match bridge.ErrSignature", err)
			}
		})
	}
	if !errors.Is(ErrNotSigned, bridge.ErrNotSigned) {
		t.Error("ErrNotSigned does not match bridge.ErrNotSigned")
	}
}

func TestVerifyCallbackIgnoresContentType(t *testing.T) {
	c, err := New(Config{ClientID: "id", SecretKey: "topsecret"}, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	body := SignedPayload(sampleCallback, "topsecret")
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "", "text/plain"} {
		if _, err := c.VerifyCallback(http.Header{"Content-Type": {ct}}, body); err != nil {
			t.Errorf("%q: %v", ct, err)
		}
	}
	if _, err := c.VerifyCallback(http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte("payment_id=x&signature=y")); !errors.Is(err, bridge.ErrSignature) {
		t.Errorf("form body: got %v, want rejected", err)
	}
}

func TestClaimedClassification(t *testing.T) {
	c, err := New(Config{ClientID: "id", SecretKey: "k"}, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ asked, received string }{{"10.00", "10"}, {"10", "9.99"}, {"10", "10.01"}, {"0.5", "0"}}
	want := []bridge.PaymentStatus{bridge.PaymentPaid, bridge.PaymentUnderpaid, bridge.PaymentOverpaid, bridge.PaymentUnderpaid}
	for i, tt := range tests {
		cb := sampleCallback
		cb.AmountUSD, cb.ReceivedAmountUSD = tt.asked, tt.received
		ev, err := c.VerifyCallback(http.Header{"Content-Type": {"application/json"}}, SignedPayload(cb, "k"))
		if err != nil {
			t.Fatal(err)
		}
		if ev.Claimed.Status != want[i] || !moneyEq(ev.Claimed.Amount, usd(tt.asked)) || !moneyEq(ev.Claimed.Received, usd(tt.received)) {
			t.Errorf("%s of %s: got %+v, want %s", tt.received, tt.asked, ev.Claimed, want[i])
		}
		if ev.Raw["received_amount_usd"] != tt.received || ev.Raw["signature"] != "" {
			t.Errorf("raw: %v", ev.Raw)
		}
	}
}

// TestSimulatorCallbackVariants sends every kind of callback the simulator
// can forge to the shop and checks which the client accepts.
func TestSimulatorCallbackVariants(t *testing.T) {
	ctx := context.Background()
	e := startSim(t)
	gp, err := e.client.CreatePayment(ctx, usdRequest("7.50"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.PayExact(gp.GatewayID); err != nil {
		t.Fatal(err)
	}
	genuine := e.rc.next(t)
	if _, err := e.client.VerifyCallback(http.Header{"Content-Type": {"application/json"}}, genuine); err != nil {
		t.Fatalf("genuine: %v", err)
	}
	tests := []struct {
		name   string
		send   func(string) (int, error)
		accept bool
	}{
		{"duplicate", e.sim.SendDuplicate, true},
		{"stale", e.sim.SendStale, true},
		{"forged", e.sim.SendForged, false},
		{"tampered", e.sim.SendTampered, false},
		{"wrong secret", e.sim.SendWrongSecret, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err := tt.send(gp.GatewayID)
			if err != nil || code != 200 {
				t.Fatalf("send: %d %v", code, err)
			}
			body := e.rc.next(t)
			ev, err := e.client.VerifyCallback(http.Header{"Content-Type": {"application/json"}}, body)
			if tt.accept != (err == nil) {
				t.Fatalf("accepted=%v (err %v), want %v", err == nil, err, tt.accept)
			}
			if tt.name == "duplicate" && string(body) != string(genuine) {
				t.Errorf("duplicate differs from the original")
			}
			if err == nil && ev.GatewayID != gp.GatewayID {
				t.Errorf("event for %q", ev.GatewayID)
			}
		})
	}
	// The genuine delivery is logged asynchronously, once its answer is in.
	waitFor(t, func() bool { return len(e.sim.Callbacks()) == 6 })
	kinds := map[string]int{}
	for _, d := range e.sim.Callbacks() {
		kinds[d.Kind]++
	}
	if kinds["callback"] != 1 || kinds["forged"] != 1 || kinds["duplicate"] != 1 {
		t.Errorf("delivery log kinds: %v", kinds)
	}
}

func FuzzVerifyCallback(f *testing.F) {
	const secret = "fuzz-secret"
	good := SignedPayload(sampleCallback, secret)
	f.Add(good)
	f.Add(SignedPayload(sampleCallback, "other"))
	f.Add([]byte(`{"payment_id":"x","signature":"00"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		cb, err := VerifyCallbackBody(body, secret)
		if errors.Is(err, bridge.ErrMalformed) {
			// "Malformed" only for a genuine signature over unusable fields.
			c, perr := ParseCallback(body)
			want := sha256.Sum256([]byte(SigningString(c, secret)))
			got, herr := hex.DecodeString(c.Signature)
			if perr != nil || herr != nil || string(got) != string(want[:]) {
				t.Fatalf("malformed said of a payload not signed with the secret: %q", body)
			}
			return
		}
		if err != nil {
			if !errors.Is(err, bridge.ErrSignature) {
				t.Fatalf("error %v does not match bridge.ErrSignature", err)
			}
			return
		}
		// Accepted: it must carry the genuine signature of exactly the
		// fields it claims.
		want := sha256.Sum256([]byte(SigningString(cb, secret)))
		got, herr := hex.DecodeString(cb.Signature)
		if herr != nil || string(got) != string(want[:]) {
			t.Fatalf("accepted a payload not signed with the secret: %q", body)
		}
		if _, err := VerifyCallbackBody(body, ""); err == nil {
			t.Fatal("accepted with an empty secret")
		}
	})
}

func FuzzParseCallback(f *testing.F) {
	f.Add(SignedPayload(sampleCallback, "k"))
	f.Add([]byte(`{"payment_id":1}`))
	f.Add([]byte(`{"payment_id":"\u0000","amount":"","amount_usd":"","received_amount":"","received_amount_usd":"","current_datetime":"","signature":"a"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		cb, err := ParseCallback(body)
		if err != nil {
			if !errors.Is(err, bridge.ErrSignature) {
				t.Fatalf("error %v does not match bridge.ErrSignature", err)
			}
			return
		}
		if cb.Signature == "" {
			t.Fatalf("parsed without signature: %q", body)
		}
		// Round trip: re-encoding the parsed fields parses to the same.
		b, _ := json.Marshal(cb)
		again, err := ParseCallback(b)
		if err != nil || again != cb {
			t.Fatalf("round trip: %+v vs %+v (%v)", again, cb, err)
		}
	})
}

func FuzzNumString(f *testing.F) {
	for _, s := range []string{`"1.00"`, `1.00`, `null`, `"x"`, `1e3`, `-0`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var n NumString
		if err := json.Unmarshal(b, &n); err != nil {
			return
		}
		_, _ = n.Decimal()
	})
}
