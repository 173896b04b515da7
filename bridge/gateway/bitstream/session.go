package bitstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// createRequest is the body of POST /checkout/sessions. Only successUrl and
// lineItems are documented; the rest is sent where configured.
type createRequest struct {
	SuccessURL        string            `json:"successUrl"`
	CancelURL         string            `json:"cancelUrl,omitempty"`
	ExpiresAt         string            `json:"expiresAt,omitempty"`
	ClientReferenceID string            `json:"clientReferenceId,omitempty"`
	Metadata          map[string]string `json:"metadata,omitempty"`
	LineItems         lineItems         `json:"lineItems"`
}

type lineItems struct {
	Data []lineItem `json:"data"`
}

type lineItem struct {
	PriceData priceData `json:"priceData"`
}

type priceData struct {
	Currency    string      `json:"currency"`
	UnitAmount  string      `json:"unitAmount"`
	ProductData productData `json:"productData"`
}

type productData struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// session is the part of the Checkout Session object the client reads. The
// documented object has many more fields; unknown ones are ignored.
type session struct {
	ID                string         `json:"id"`
	URL               string         `json:"url"`
	ExpiresAt         string         `json:"expiresAt"`
	AmountTotal       unitString     `json:"amountTotal"`
	Currency          string         `json:"currency"`
	Status            string         `json:"status"`
	PaymentStatus     string         `json:"paymentStatus"`
	TransactionHash   string         `json:"transactionHash"`
	ClientReferenceID *string        `json:"clientReferenceId"`
	Metadata          map[string]any `json:"metadata"`
	Addresses         []struct {
		Asset struct {
			Currency string      `json:"currency"`
			Decimals json.Number `json:"decimals"`
		} `json:"asset"`
	} `json:"addresses"`
	PaymentIntent *struct {
		Amount         unitString        `json:"amount"`
		AmountReceived unitString        `json:"amountReceived"`
		Currency       string            `json:"currency"`
		Status         string            `json:"status"`
		Transactions   []json.RawMessage `json:"transactions"`
	} `json:"paymentIntent"`
}

// unitString is an amount in smallest units as Bitstream sends it: an
// integer string (documented), tolerated as a bare JSON integer; null is "".
type unitString string

func (u *unitString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*u = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*u = unitString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("amount is neither string nor number")
	}
	*u = unitString(n.String())
	return nil
}

// parseSession decodes a session answer without floats.
func parseSession(body []byte) (*session, error) {
	var s session
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&s); err != nil {
		return nil, fmt.Errorf("decode session: %w", err)
	}
	if strings.TrimSpace(s.ID) == "" {
		return nil, fmt.Errorf("decode session: no id")
	}
	return &s, nil
}

// txHash returns the session's transactionHash (a top-level field once paid,
// per Copperx's plugin), else the hash of the first transaction that has
// one ([ASSUMPTION]: the transaction objects are undocumented; "hash" is the
// usual name).
func (s *session) txHash() string {
	if s.TransactionHash != "" {
		return s.TransactionHash
	}
	if s.PaymentIntent == nil {
		return ""
	}
	for _, raw := range s.PaymentIntent.Transactions {
		var tx struct {
			Hash            string `json:"hash"`
			TransactionHash string `json:"transactionHash"`
		}
		if json.Unmarshal(raw, &tx) != nil {
			continue
		}
		if tx.Hash != "" {
			return tx.Hash
		}
		if tx.TransactionHash != "" {
			return tx.TransactionHash
		}
	}
	return ""
}

// errorMessage extracts the message of an error answer: NestJS-style
// {"statusCode":400,"message":["..."]} or {"message":"..."} ([ASSUMPTION]).
func errorMessage(body []byte) string {
	var e struct {
		Message json.RawMessage `json:"message"`
		Error   json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	for _, raw := range []json.RawMessage{e.Message, e.Error} {
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			return s
		}
		var list []string
		if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
			return strings.Join(list, "; ")
		}
	}
	return ""
}
