package cryptocloud

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway"
)

// FuzzVerifyCallback: whatever the body, verification never panics, and
// anything it accepts carries a token that is genuinely signed with the
// secret and names the invoice it claims.
func FuzzVerifyCallback(f *testing.F) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, format := range []PostbackFormat{FormatJSON, FormatForm} {
		ct, body, err := NewSignedPostback(PostbackPayload{Status: "success", InvoiceID: "ABCD1234", AmountCrypto: dec("1.5"),
			Currency: "BTC", OrderID: "wc-1", InvoiceInfo: json.RawMessage(`{"uuid":"INV-ABCD1234","status":"paid"}`)}, testSecret, ClaimBareID, format, now)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ct, body)
	}
	f.Add("application/json", []byte(`{"invoice_id":"X","token":"eyJhbGciOiJub25lIn0.eyJleHAiOjk5OTk5OTk5OTl9."}`))
	f.Add("", []byte("token=a.b.c&invoice_id=ABCD1234"))
	f.Add("application/json", []byte(`{"invoice_info":"{\"uuid\":1}"}`))

	c, err := New(testConfig("http://127.0.0.1:1"), fastOptions)
	if err != nil {
		f.Fatal(err)
	}
	c.Now = func() time.Time { return now }
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		ev, err := c.VerifyCallback(http.Header{"Content-Type": {ct}}, body)
		if err != nil {
			if ev != nil {
				t.Fatal("rejected callback returned an event")
			}
			if errors.Is(err, bridge.ErrMalformed) {
				// "Malformed" is said only of a postback whose token is genuine.
				pf, perr := parsePostback(ct, body)
				if perr != nil || pf.Token == "" {
					t.Fatalf("malformed said of a postback without a readable token: %v", perr)
				}
				if _, err := jwt.Parse(pf.Token, func(*jwt.Token) (any, error) { return []byte(testSecret), nil },
					jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithLeeway(time.Minute)); err != nil {
					t.Fatalf("malformed said of a postback whose token is not genuine: %v", err)
				}
			} else if !errors.Is(err, bridge.ErrSignature) && !errors.Is(err, bridge.ErrNotSigned) && !errors.Is(err, bridge.ErrTooOld) {
				t.Fatalf("error %v is neither unauthenticated nor malformed", err)
			}
			return
		}
		f, err := parsePostback(ct, body)
		if err != nil {
			t.Fatalf("accepted a body that does not parse: %v", err)
		}
		claims := jwt.MapClaims{}
		if _, err := jwt.ParseWithClaims(f.Token, claims, func(*jwt.Token) (any, error) { return []byte(testSecret), nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithLeeway(time.Minute)); err != nil {
			t.Fatalf("accepted a token not signed with the secret: %v", err)
		}
		for _, name := range []string{"id", "uuid"} {
			if s, ok := claims[name].(string); ok && BareID(s) != BareID(ev.GatewayID) {
				t.Fatalf("accepted token for %s as %s", s, ev.GatewayID)
			}
		}
	})
}

// FuzzParseInvoice: any status answer decodes or fails cleanly.
func FuzzParseInvoice(f *testing.F) {
	for _, s := range []string{
		`{"status":"success","result":[{"uuid":"INV-ABCD1234","status":"paid","amount_usd":1.5,"received_usd":"1.5","expiry_date":"2026-01-01 00:00:00"}]}`,
		`{"status":"error","result":{"authorization":"Unauthorized request."}}`,
		`{"status":"success","result":[{"uuid":"INV-ABCD1234","status":"partial","amount_usd":1e400,"tx_list":[{"hash":"0x1"}]}]}`,
		`{"status":"success","result":{}}`,
	} {
		f.Add([]byte(s), 200)
	}
	c, err := New(testConfig("http://127.0.0.1:1"), fastOptions)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, code int) {
		var invs []Invoice
		resp := &gateway.Response{StatusCode: code, Body: body}
		if err := c.result("payment status", resp, &invs); err != nil {
			return
		}
		for i := range invs {
			st, err := c.state(&invs[i])
			if err != nil {
				continue
			}
			if st.Amount.Currency != "USD" || st.Received.Currency != "USD" || !strings.HasPrefix(st.GatewayID, "INV-") {
				t.Fatalf("state = %+v", st)
			}
		}
	})
}
