package cryptocloudsim

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/shopspring/decimal"
)

// The simulator's own copy of CryptoCloud's wire shapes, written from the
// API v2 documentation (docs.cryptocloud.plus), not shared with the client.

// Invoice statuses as the API reports them in "status".
const (
	StatusCreated  = "created"
	StatusPaid     = "paid"
	StatusPartial  = "partial"
	StatusOverpaid = "overpaid"
	StatusCanceled = "canceled"
)

const pathCreate = "/v2/invoice/create"

// batchSize is the most uuids merchant/info takes at once.
const batchSize = 100

// tokenLifetime is how long a postback token is valid (5 minutes).
const tokenLifetime = 5 * time.Minute

// currencies are the fiats the create-invoice documentation lists.
var currencies = []string{
	"USD", "UZS", "KGS", "KZT", "AMD", "AZN", "BYN", "AUD", "TRY", "AED", "CAD", "CNY", "HKD",
	"IDR", "INR", "JPY", "PHP", "SGD", "THB", "VND", "MYR", "RUB", "UAH", "EUR", "GBP",
}

func supportedCurrency(c string) bool { return slices.Contains(currencies, c) }

// formatTime is CryptoCloud's timestamp: UTC, no zone, microseconds.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000000") }

// bareID is an invoice id without its INV- prefix, upper case.
func bareID(id string) string {
	id = strings.TrimSpace(id)
	return strings.ToUpper(strings.TrimPrefix(strings.TrimPrefix(id, "INV-"), "inv-"))
}

// TokenClaim is the claim shape a postback token names the invoice with
// (the documentation's examples disagree, so each is simulated).
type TokenClaim string

const (
	ClaimBareID     TokenClaim = "id"       // {"id":"XXXXXXXX"} (default)
	ClaimPrefixedID TokenClaim = "id-inv"   // {"id":"INV-XXXXXXXX"}
	ClaimUUID       TokenClaim = "uuid"     // {"uuid":"INV-XXXXXXXX"}
	ClaimNone       TokenClaim = "no-claim" // exp only
)

// signToken is a postback token: an HS256 JWT over the invoice id, valid
// until exp.
func signToken(secret, invoiceID string, shape TokenClaim, exp time.Time) (string, error) {
	claims := jwt.MapClaims{"exp": exp.Unix()}
	switch shape {
	case ClaimBareID, "":
		claims["id"] = bareID(invoiceID)
	case ClaimPrefixedID:
		claims["id"] = "INV-" + bareID(invoiceID)
	case ClaimUUID:
		claims["uuid"] = "INV-" + bareID(invoiceID)
	case ClaimNone:
	default:
		return "", fmt.Errorf("sign token: unknown claim shape %q", shape)
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}

// PostbackFormat is the project setting choosing how postbacks are encoded.
type PostbackFormat string

const (
	FormatJSON PostbackFormat = "json"
	FormatForm PostbackFormat = "form"
)

// postback is what a postback carries besides its token.
type postback struct {
	Status       string
	InvoiceID    string // sent without INV-
	AmountCrypto decimal.Decimal
	Currency     string
	OrderID      string
	InvoiceInfo  json.RawMessage // optional
}

// encode renders p with token in format; it returns the content type and
// the body.
func (p postback) encode(token string, format PostbackFormat) (string, []byte, error) {
	bare := bareID(p.InvoiceID)
	switch format {
	case FormatForm:
		v := url.Values{}
		v.Set("status", p.Status)
		v.Set("invoice_id", bare)
		v.Set("amount_crypto", p.AmountCrypto.String())
		v.Set("currency", p.Currency)
		v.Set("order_id", p.OrderID)
		v.Set("token", token)
		if len(p.InvoiceInfo) > 0 {
			v.Set("invoice_info", string(p.InvoiceInfo))
		}
		return "application/x-www-form-urlencoded", []byte(v.Encode()), nil
	case FormatJSON, "":
		m := map[string]any{
			"status": p.Status, "invoice_id": bare, "amount_crypto": json.Number(p.AmountCrypto.String()),
			"currency": p.Currency, "order_id": p.OrderID, "token": token,
		}
		if len(p.InvoiceInfo) > 0 {
			m["invoice_info"] = p.InvoiceInfo
		}
		b, err := json.Marshal(m)
		return "application/json", b, err
	}
	return "", nil, fmt.Errorf("encode postback: unknown format %q", format)
}
