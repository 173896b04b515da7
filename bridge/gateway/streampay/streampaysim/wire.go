package streampaysim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// The simulator's own copy of StreamPay's wire shapes, written from the
// documentation (streampay.gitbook.io), not shared with the client.

// Status values of the PaymentObject.
const (
	StatusPending     = "pending"
	StatusCompleted   = "completed"
	StatusNotFound    = "not_found"    // expired (or unknown)
	StatusErrCallback = "ERR_CALLBACK" // paid; callback delivery failing
)

// callback is the body POSTed to the shop: every value a string.
type callback struct {
	PaymentID         string `json:"payment_id"`
	Amount            string `json:"amount"`
	AmountUSD         string `json:"amount_usd"`
	ReceivedAmount    string `json:"received_amount"`
	ReceivedAmountUSD string `json:"received_amount_usd"`
	CurrentDateTime   string `json:"current_datetime"`
	Signature         string `json:"signature"`
}

// sign is the documented signature: the lower-case hex SHA-256 of
// "Amount=…;AmountUsd=…;CurrentDateTime=…;PaymentID=…;ReceivedAmount=…;ReceivedAmountUsd=…;SecretKey=…".
func sign(c callback, secret string) string {
	sum := sha256.Sum256([]byte("Amount=" + c.Amount + ";AmountUsd=" + c.AmountUSD +
		";CurrentDateTime=" + c.CurrentDateTime + ";PaymentID=" + c.PaymentID +
		";ReceivedAmount=" + c.ReceivedAmount + ";ReceivedAmountUsd=" + c.ReceivedAmountUSD +
		";SecretKey=" + secret))
	return hex.EncodeToString(sum[:])
}

// signed returns c signed with secret, as JSON.
func signed(c callback, secret string) []byte {
	c.Signature = sign(c, secret)
	b, _ := json.Marshal(c) // a struct of strings always marshals
	return b
}

// pageObject is the PaymentPageObject the page creation answers; note the
// camelCase keys.
type pageObject struct {
	PaymentID string `json:"paymentID"`
	URL       string `json:"url"`
	ExpiryAt  string `json:"expiryAt"`
}

// paymentObject is the PaymentObject of the status API and the manual
// creation.
type paymentObject struct {
	PaymentID        string       `json:"payment_id"`
	Network          string       `json:"network,omitempty"`
	Status           string       `json:"status"`
	Address          string       `json:"address,omitempty"`
	Addresses        []coinObject `json:"addresses,omitempty"`
	Amount           numString    `json:"amount,omitempty"`
	Name             string       `json:"name,omitempty"`
	Description      string       `json:"description"`
	DisplayAmountUSD numString    `json:"display_amount_usd,omitempty"`
	DisplayAmountEUR numString    `json:"display_amount_eur,omitempty"`
	DisplayAmount    numString    `json:"display_amount,omitempty"`
	LocalCurrency    string       `json:"local_currency,omitempty"`
	ReturnURL        string       `json:"return_url,omitempty"`
	ExpiryAt         string       `json:"expiry_at,omitempty"`
	CreatedAt        string       `json:"created_at,omitempty"`
	ProcessedAt      string       `json:"processed_at,omitempty"`
	TransactionHash  string       `json:"transaction_hash,omitempty"`
	SignerID         string       `json:"signer_id,omitempty"`
}

// coinObject is one accepted coin of a payment.
type coinObject struct {
	Blockchain    string    `json:"blockchain"`
	Address       string    `json:"address"`
	Contract      string    `json:"contract"`
	Token         string    `json:"token"`
	Amount        numString `json:"amount"`
	DisplayAmount numString `json:"displayAmount"`
	Icon          string    `json:"icon"`
}

// numString is a number StreamPay documents as a string.
type numString string

// amountText reads a create request's amount: a JSON string or number, as
// public clients send either, kept as text (never through a float).
func amountText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	text := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return "", err
		}
	} else {
		var n json.Number
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&n); err != nil {
			return "", fmt.Errorf("amount: %w", err)
		}
		text = n.String()
	}
	return text, nil
}
