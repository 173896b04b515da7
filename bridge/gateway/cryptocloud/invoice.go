package cryptocloud

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Invoice statuses as the API reports them in "status".
const (
	StatusCreated  = "created"
	StatusPaid     = "paid"
	StatusPartial  = "partial"
	StatusOverpaid = "overpaid"
	StatusCanceled = "canceled"
)

// timeLayout is CryptoCloud's timestamp format: UTC without a zone, the
// fraction optional (examples show both).
const timeLayout = "2006-01-02 15:04:05.999999999"

var bareID = regexp.MustCompile(`^[A-Za-z0-9]{4,32}$`)

// NormalizeID returns an invoice id with the INV- prefix that the API uses in
// uuid fields; postbacks and pay links name invoices without it.
func NormalizeID(id string) (string, error) {
	id = strings.TrimSpace(id)
	bare := strings.TrimPrefix(strings.TrimPrefix(id, "INV-"), "inv-")
	if !bareID.MatchString(bare) {
		return "", fmt.Errorf("invalid invoice id %q", truncate(id, 40))
	}
	return "INV-" + strings.ToUpper(bare), nil
}

// BareID returns an invoice id without the INV- prefix.
func BareID(id string) string {
	n, err := NormalizeID(id)
	if err != nil {
		return id
	}
	return strings.TrimPrefix(n, "INV-")
}

// Invoice is an invoice object as create, merchant/info and postbacks carry
// it. Unknown fields are ignored; amounts stay json.Number (the API sends
// floats) until they become decimals.
type Invoice struct {
	UUID          string          `json:"uuid"`
	Created       string          `json:"created"`
	Address       string          `json:"address"`
	ExpiryDate    string          `json:"expiry_date"`
	DateFinished  string          `json:"date_finished"`
	Amount        json.Number     `json:"amount"`
	AmountUSD     json.Number     `json:"amount_usd"`
	AmountInFiat  json.Number     `json:"amount_in_fiat"`
	Received      json.Number     `json:"received"`
	ReceivedUSD   json.Number     `json:"received_usd"`
	FiatCurrency  string          `json:"fiat_currency"`
	Status        string          `json:"status"`
	InvoiceStatus string          `json:"invoice_status"`
	OrderID       string          `json:"order_id"`
	Link          string          `json:"link"`
	TestMode      bool            `json:"test_mode"`
	TxList        json.RawMessage `json:"tx_list"`
	Currency      *struct {
		Code     string `json:"code"`
		Fullcode string `json:"fullcode"`
	} `json:"currency"`
}

// decodeJSON decodes strictly enough for money: numbers stay json.Number.
func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

// envelope is every v2 answer: {"status":"success"|"error","result":...}.
// Message and Detail catch the v1-style {"message":"Unauthenticated."} and
// {"detail":...} answers.
type envelope struct {
	Status  string          `json:"status"`
	Result  json.RawMessage `json:"result"`
	Message string          `json:"message"`
	Detail  string          `json:"detail"`
}

// errorMessage flattens an error result {"key": "message", ...} into
// "key: message; ..." in a stable order.
func errorMessage(result json.RawMessage) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(result, &m); err != nil || len(m) == 0 {
		var s string
		if json.Unmarshal(result, &s) == nil {
			return s
		}
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		var s string
		if json.Unmarshal(m[k], &s) != nil {
			s = string(m[k])
		}
		parts = append(parts, k+": "+s)
	}
	return strings.Join(parts, "; ")
}

// parseDecimal turns an optional JSON number into a decimal; ok is false
// when the field was absent or null.
func parseDecimal(field string, n json.Number) (d decimal.Decimal, ok bool, err error) {
	if n == "" {
		return decimal.Zero, false, nil
	}
	d, err = decimal.NewFromString(string(n))
	if err != nil {
		return decimal.Zero, false, fmt.Errorf("field %s: not a number", field)
	}
	return d, true, nil
}

// parseTime reads CryptoCloud's UTC timestamps; RFC 3339 is accepted too.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.ParseInLocation(timeLayout, s, time.UTC); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("bad timestamp %q", truncate(s, 40))
}

// firstTx returns the first transaction hash of tx_list when it is a list of
// strings or of objects with a hash field; its shape is not documented.
func firstTx(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil || len(list) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(list[0], &s) == nil {
		return s
	}
	var o struct {
		Hash   string `json:"hash"`
		TxHash string `json:"tx_hash"`
		TxID   string `json:"txid"`
	}
	if json.Unmarshal(list[0], &o) == nil {
		for _, v := range []string{o.Hash, o.TxHash, o.TxID} {
			if v != "" {
				return v
			}
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
