package bitstream

import (
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
)

func mustRead(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// FuzzVerifyCallback: only a body signed with the webhook secret passes,
// whatever the headers say.
func FuzzVerifyCallback(f *testing.F) {
	event := []byte(mustRead(f, "testdata/documented_event.json"))
	f.Add(event, SignWebhook(event, testWebhookSecret), testWebhookSecret)
	f.Add(event, "", testWebhookSecret)
	f.Add([]byte(`{"type":"checkout_session.completed","data":{"object":{"id":"s"}}}`), "00", "")
	f.Add([]byte("id=s&status=paid"), "", "")
	c, err := New(Config{APIKey: testKey, WebhookSecret: testWebhookSecret}, fastOpts())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, signature, token string) {
		ev, err := c.VerifyCallback(http.Header{"Content-Type": {"application/json"}, HeaderSignature: {signature}, HeaderToken: {token}}, body)
		signed := strings.EqualFold(strings.TrimSpace(signature), SignWebhook(body, testWebhookSecret))
		switch {
		case err == nil && !signed:
			t.Fatalf("accepted a webhook not signed with the secret: %+v", ev)
		case err != nil && !errors.Is(err, bridge.ErrSignature) && !(signed && errors.Is(err, bridge.ErrMalformed)):
			t.Fatalf("refusal %v is neither a signature error nor a signed malformed webhook", err)
		case err == nil && (ev.GatewayID == "" || ev.Gateway != Name):
			t.Fatalf("accepted event without a session: %+v", ev)
		}
	})
}

// FuzzParseSession feeds arbitrary answers through the parser and the status
// mapping: no panic, and a paid status only with the money there.
func FuzzParseSession(f *testing.F) {
	f.Add([]byte(mustRead(f, "testdata/documented_session.json")))
	f.Add([]byte(mustRead(f, "testdata/session_paid.golden.json")))
	f.Add([]byte(mustRead(f, "testdata/session_underpaid_expired.golden.json")))
	f.Add([]byte(`{"id":"s","currency":"usdc","amountTotal":1e400,"paymentIntent":{"amountReceived":"9"}}`))
	f.Add([]byte(`{"id":"s","currency":"usdc","amountTotal":"10","paymentStatus":"paid","paymentIntent":{"amountReceived":"10","transactions":[1,{"hash":"0xab"}]}}`))
	c, err := New(Config{APIKey: testKey}, fastOpts())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := parseSession(body)
		if err != nil {
			return
		}
		st, err := c.state(s)
		if err != nil {
			return
		}
		if st.Amount.Amount.IsNegative() || st.Received.Amount.IsNegative() ||
			(!st.Received.IsZero() && st.Amount.Currency != st.Received.Currency) {
			t.Fatalf("inconsistent amounts %v / %v", st.Amount, st.Received)
		}
		complete := s.PaymentStatus == "paid" || s.Status == "complete"
		switch st.Status {
		case bridge.PaymentPaid:
			// With amounts: exactly the total. Without: a complete, paid
			// session the gateway vouches for.
			if st.Received.IsZero() && !(s.Status == "complete" && s.PaymentStatus == "paid") ||
				!st.Received.IsZero() && (st.Received.Amount.Cmp(st.Amount.Amount) != 0 || !complete) {
				t.Fatalf("paid with %v of %v (%s/%s)", st.Received, st.Amount, s.Status, s.PaymentStatus)
			}
		case bridge.PaymentOverpaid:
			if st.Received.Amount.Cmp(st.Amount.Amount) <= 0 || !complete {
				t.Fatalf("overpaid with %v of %v", st.Received, st.Amount)
			}
		case bridge.PaymentUnderpaid:
			if st.Received.IsZero() && s.Status != "incomplete" ||
				!st.Received.IsZero() && (!st.Received.Amount.IsPositive() || st.Received.Amount.Cmp(st.Amount.Amount) >= 0) {
				t.Fatalf("underpaid with %v of %v (%s)", st.Received, st.Amount, s.Status)
			}
		case bridge.PaymentPending, bridge.PaymentExpired, bridge.PaymentCancelled:
		default:
			t.Fatalf("status %q is not a gateway status", st.Status)
		}
	})
}

// FuzzToUnits: never less than the amount, less than one unit more.
func FuzzToUnits(f *testing.F) {
	f.Add("25.99", 8)
	f.Add("0.0000001", 6)
	f.Add("1e-30", 18)
	f.Add("123456789.123456789123456789", 18)
	f.Fuzz(func(t *testing.T, s string, scale int) {
		d, err := decimal.NewFromString(s)
		if err != nil || scale < 0 || scale > maxUnitDecimals || d.Exponent() < -1000 || d.Exponent() > 1000 {
			return
		}
		u, err := ToUnits(d, scale)
		if err != nil {
			if d.IsPositive() {
				t.Fatalf("ToUnits(%s, %d): %v", s, scale, err)
			}
			return
		}
		if u.Sign() <= 0 {
			t.Fatalf("ToUnits(%s) = %s, not positive", s, u)
		}
		back := FromUnits(u, scale)
		if back.LessThan(d) || back.Sub(d).GreaterThanOrEqual(decimal.New(1, int32(-scale))) {
			t.Fatalf("ToUnits(%s, %d) = %s, back %s: want at least the amount, less than a unit more", s, scale, u, back)
		}
		if _, err := parseUnits(u.String()); err != nil && len(u.String()) <= 80 {
			t.Fatalf("parseUnits(%s): %v", u, err)
		}
	})
}
