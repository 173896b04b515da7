package cryptocloud

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway"
)

// Name is the gateway's name in configuration, logs and the database.
const Name = "cryptocloud"

// Title is how order notes and pages name the gateway.
const Title = "CryptoCloud"

// MethodTitle is the payment method's default title at checkout, as the
// plugin names it.
const MethodTitle = "Crypto (CryptoCloud)"

var (
	_ bridge.Gateway      = (*Client)(nil)
	_ bridge.BatchGateway = (*Client)(nil)
	_ bridge.Canceler     = (*Client)(nil)
)

// Client talks to CryptoCloud's API v2.
type Client struct {
	cfg  Config
	http *gateway.Client
	base string
	// Now is the clock used for expiry decisions and token checks.
	Now func() time.Time
}

// New returns a client for cfg.
func New(cfg Config, opts gateway.Options) (*Client, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("cryptocloud config: %w", errors.Join(errs...))
	}
	cfg = cfg.WithDefaults()
	return &Client{
		cfg:  cfg,
		http: gateway.NewClient(Name, opts),
		base: strings.TrimRight(cfg.BaseURL, "/"),
		Now:  time.Now,
	}, nil
}

// Name returns "cryptocloud".
func (c *Client) Name() string { return Name }

// Capabilities: postbacks, 100 invoices per status call, the 25 fiats.
func (c *Client) Capabilities() bridge.Capabilities {
	return bridge.Capabilities{Callbacks: true, BatchSize: BatchSize, Currencies: append([]string(nil), Currencies...)}
}

func (c *Client) header() http.Header {
	h := http.Header{}
	h.Set("Authorization", "Token "+c.cfg.APIKey)
	h.Set("Content-Type", "application/json")
	return h
}

// timeToPay is add_fields.time_to_pay.
type timeToPay struct {
	Hours   int `json:"hours"`
	Minutes int `json:"minutes"`
}

type createFields struct {
	TimeToPay           *timeToPay `json:"time_to_pay,omitempty"`
	AvailableCurrencies []string   `json:"available_currencies,omitempty"`
}

// createRequest is the body of POST /v2/invoice/create.
type createRequest struct {
	ShopID    string        `json:"shop_id"`
	Amount    string        `json:"amount"` // major units as a decimal string: the API takes both
	Currency  string        `json:"currency"`
	OrderID   string        `json:"order_id,omitempty"`
	Email     string        `json:"email,omitempty"`
	AddFields *createFields `json:"add_fields,omitempty"`
}

// newCreateRequest builds the create body. The API has no per-invoice
// return or cancel URL (the project's success/fail URLs apply) and no
// description field, so those parts of r are not sent.
func (c *Client) newCreateRequest(r bridge.CreatePaymentRequest) (*createRequest, error) {
	cur := strings.ToUpper(r.Amount.Currency)
	if !supportedCurrency(cur) {
		return nil, fmt.Errorf("cryptocloud create payment: %s: %w", cur, bridge.ErrCurrency)
	}
	if !r.Amount.Amount.IsPositive() {
		return nil, bridge.Errorf(bridge.EINVALID, "cryptocloud create payment: amount must be positive")
	}
	req := &createRequest{
		ShopID: c.cfg.ShopID, Amount: r.Amount.Amount.String(), Currency: cur,
		OrderID: r.OrderRef, Email: r.Email,
	}
	var add createFields
	if r.Lifetime > 0 {
		// Whole minutes, rounded up so the customer never gets less time.
		mins := int((r.Lifetime + time.Minute - 1) / time.Minute)
		add.TimeToPay = &timeToPay{Hours: mins / 60, Minutes: mins % 60}
	}
	add.AvailableCurrencies = c.cfg.AvailableCurrencies
	if add.TimeToPay != nil || len(add.AvailableCurrencies) > 0 {
		req.AddFields = &add
	}
	return req, nil
}

// CreatePayment creates an invoice. It is retried only when the request
// provably did not reach CryptoCloud (see gateway.CreateRetryPolicy).
func (c *Client) CreatePayment(ctx context.Context, r bridge.CreatePaymentRequest) (*bridge.GatewayPayment, error) {
	const op = "create payment"
	req, err := c.newCreateRequest(r)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("cryptocloud create payment: %w", err)
	}
	u := c.base + "/v2/invoice/create"
	if c.cfg.Locale != "" {
		u += "?locale=" + url.QueryEscape(c.cfg.Locale)
	}
	resp, err := c.http.PostCreate(ctx, op, u, c.header(), body)
	if err != nil {
		return nil, err
	}
	var inv Invoice
	if err := c.result(op, resp, &inv); err != nil {
		return nil, err
	}
	id, err := NormalizeID(inv.UUID)
	if err != nil {
		return nil, c.badAnswer(op, resp, "uuid missing or invalid")
	}
	if inv.Link == "" {
		return nil, c.badAnswer(op, resp, "link missing")
	}
	exp, err := parseTime(inv.ExpiryDate)
	if err != nil {
		return nil, c.badAnswer(op, resp, "expiry_date unreadable")
	}
	st, err := c.state(&inv)
	if err != nil {
		return nil, c.badAnswer(op, resp, err.Error())
	}
	return &bridge.GatewayPayment{GatewayID: id, URL: inv.Link, ExpiresAt: exp, Amount: st.Amount}, nil
}

// CancelPayment cancels an invoice that is still "created" with
// POST /v2/invoice/merchant/canceled
// (https://docs.cryptocloud.plus/en/api-reference-v2/cancel-invoice); an
// invoice that has received money cannot be cancelled and answers
// "Invoice is not created".
func (c *Client) CancelPayment(ctx context.Context, gatewayID string) error {
	const op = "cancel payment"
	id, err := NormalizeID(gatewayID)
	if err != nil {
		return bridge.Errorf(bridge.EINVALID, "cryptocloud %s: %v", op, err)
	}
	body, _ := json.Marshal(map[string]string{"uuid": id})
	// Cancelling twice is harmless, so it is retried like a read.
	resp, err := c.http.PostRead(ctx, op, c.base+"/v2/invoice/merchant/canceled", c.header(), body)
	if err != nil {
		return err
	}
	return c.result(op, resp, nil)
}

// PaymentState reads one invoice.
func (c *Client) PaymentState(ctx context.Context, gatewayID string) (*bridge.GatewayState, error) {
	states, err := c.PaymentStates(ctx, []string{gatewayID})
	if err != nil {
		return nil, err
	}
	st, ok := states[gatewayID]
	if !ok {
		return nil, fmt.Errorf("cryptocloud payment status %s: %w", gatewayID, bridge.ErrPaymentNotFound)
	}
	return st, nil
}

// PaymentStates reads many invoices, BatchSize per call. The map is keyed
// by the ids as given; unknown ids are missing.
func (c *Client) PaymentStates(ctx context.Context, gatewayIDs []string) (map[string]*bridge.GatewayState, error) {
	const op = "payment status"
	byNorm := make(map[string][]string, len(gatewayIDs))
	var uuids []string
	for _, g := range gatewayIDs {
		n, err := NormalizeID(g)
		if err != nil {
			return nil, bridge.Errorf(bridge.EINVALID, "cryptocloud %s: %v", op, err)
		}
		if _, seen := byNorm[n]; !seen {
			uuids = append(uuids, n)
		}
		byNorm[n] = append(byNorm[n], g)
	}
	out := make(map[string]*bridge.GatewayState, len(gatewayIDs))
	for start := 0; start < len(uuids); start += BatchSize {
		chunk := uuids[start:min(start+BatchSize, len(uuids))]
		body, _ := json.Marshal(map[string][]string{"uuids": chunk})
		resp, err := c.http.PostRead(ctx, op, c.base+"/v2/invoice/merchant/info", c.header(), body)
		if err != nil {
			return nil, err
		}
		var invs []Invoice
		if err := c.result(op, resp, &invs); err != nil {
			return nil, err
		}
		for i := range invs {
			st, err := c.state(&invs[i])
			if err != nil {
				return nil, c.badAnswer(op, resp, err.Error())
			}
			for _, g := range byNorm[st.GatewayID] {
				out[g] = st
			}
		}
	}
	return out, nil
}

// result checks the envelope and decodes result into v (nil: ignore it).
func (c *Client) result(op string, resp *gateway.Response, v any) error {
	var env envelope
	if err := decodeJSON(resp.Body, &env); err != nil {
		if !resp.OK() {
			return c.statusError(op, resp.StatusCode, "")
		}
		return c.badAnswer(op, resp, "answer is not json")
	}
	if !resp.OK() || env.Status != "success" {
		code := resp.StatusCode
		if resp.OK() {
			// An error envelope under 200: report it as the refusal it is.
			code = http.StatusBadRequest
		}
		msg := errorMessage(env.Result)
		if msg == "" {
			msg = cmp.Or(env.Message, env.Detail)
		}
		return c.statusError(op, code, msg)
	}
	if v == nil {
		return nil
	}
	if err := decodeJSON(env.Result, v); err != nil {
		return c.badAnswer(op, resp, "result has an unexpected shape")
	}
	return nil
}

// statusError builds the error for a refusal; the gateway's message is kept
// but any echo of our credentials is cut out.
func (c *Client) statusError(op string, code int, msg string) error {
	for _, s := range []string{c.cfg.APIKey, c.cfg.SecretKey} {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return gateway.StatusError(Name, op, code, msg)
}

func (c *Client) badAnswer(op string, resp *gateway.Response, msg string) error {
	return &gateway.Error{Gateway: Name, Op: op, StatusCode: resp.StatusCode, Message: "unexpected answer: " + msg}
}

// state maps an invoice to the core's view.
//
// Amounts: the comparable unit is USD, because received money is reported
// only in the coin (received) and in USD (received_usd). Amount is
// amount_in_fiat when the invoice's fiat is USD, else amount_usd.
func (c *Client) state(inv *Invoice) (*bridge.GatewayState, error) {
	id, err := NormalizeID(inv.UUID)
	if err != nil {
		return nil, err
	}
	if inv.Status == "" {
		return nil, errors.New("status missing")
	}
	exp, err := parseTime(inv.ExpiryDate)
	if err != nil {
		return nil, err
	}
	asked, ok, err := parseDecimal("amount_usd", inv.AmountUSD)
	if err != nil {
		return nil, err
	}
	if fiat, fok, ferr := parseDecimal("amount_in_fiat", inv.AmountInFiat); ferr != nil {
		return nil, ferr
	} else if fok && (inv.FiatCurrency == "USD" || (inv.FiatCurrency == "" && !ok)) {
		asked = fiat
	}
	received, _, err := parseDecimal("received_usd", inv.ReceivedUSD)
	if err != nil {
		return nil, err
	}
	st := &bridge.GatewayState{
		GatewayID: id,
		Status:    mapStatus(inv.Status, exp, received, c.Now()),
		Amount:    bridge.Money{Amount: asked, Currency: "USD"},
		Received:  bridge.Money{Amount: received, Currency: "USD"},
		TxRef:     firstTx(inv.TxList),
		ExpiresAt: exp,
		OrderRef:  inv.OrderID,
		Test:      inv.TestMode,
	}
	if st.Test && !c.cfg.AllowTestMode && st.Status != bridge.PaymentExpired && st.Status != bridge.PaymentCancelled {
		// A test-mode invoice is "paid" without money moving: in production
		// it never counts. The core sees it as pending, and is told why a
		// payment the gateway calls paid does not count, to tell the shop.
		if st.Status.Money() {
			st.NotCounted = NotCountedTestMode
		}
		st.Status = bridge.PaymentPending
	}
	return st, nil
}

// NotCountedTestMode is what the shop is told about a test-mode invoice paid
// while allow_test_mode is off.
const NotCountedTestMode = "paid in test mode: not counted; turn on allow_test_mode to count test payments"

// mapStatus maps CryptoCloud's invoice status to a core status.
//
// "canceled" means either that the invoice ran past expiry_date unpaid or
// that it was cancelled through the API; the API does not say which. The
// heuristic: canceled at or after expiry is expired, before it cancelled.
// A canceled invoice that had received money is reported underpaid, so the
// money is not forgotten. Unknown statuses stay pending.
func mapStatus(status string, expiry time.Time, received decimal.Decimal, now time.Time) bridge.PaymentStatus {
	expired := !expiry.IsZero() && !now.Before(expiry)
	switch status {
	case StatusCreated:
		if expired {
			return bridge.PaymentExpired
		}
		return bridge.PaymentPending
	case StatusPaid:
		return bridge.PaymentPaid
	case StatusPartial:
		return bridge.PaymentUnderpaid
	case StatusOverpaid:
		return bridge.PaymentOverpaid
	case StatusCanceled:
		switch {
		case received.IsPositive():
			return bridge.PaymentUnderpaid
		case expired:
			return bridge.PaymentExpired
		}
		return bridge.PaymentCancelled
	}
	return bridge.PaymentPending
}

// VerifyCallback authenticates a postback (JSON or form) without network.
func (c *Client) VerifyCallback(header http.Header, body []byte) (*bridge.CallbackEvent, error) {
	p, err := VerifyPostback(header.Get("Content-Type"), body, c.cfg.SecretKey, c.Now(), c.cfg.TokenLeeway)
	if err != nil {
		return nil, fmt.Errorf("cryptocloud verify callback: %w", err)
	}
	ev := &bridge.CallbackEvent{
		Gateway:   Name,
		GatewayID: p.InvoiceID,
		OrderRef:  p.OrderID,
		Raw: map[string]string{
			"status": p.Status, "invoice_id": p.InvoiceID, "amount_crypto": p.AmountCrypto.String(),
			"currency": p.Currency, "order_id": p.OrderID, "token_id": p.TokenID,
		},
	}
	// The postback's own claim: "success" means confirmed; invoice_info,
	// when present, says more.
	ev.Claimed = bridge.GatewayState{GatewayID: p.InvoiceID, OrderRef: p.OrderID, Status: bridge.PaymentPending}
	if p.Status == "success" {
		ev.Claimed.Status = bridge.PaymentPaid
	}
	if p.Info != nil {
		ev.Raw["invoice_status"] = p.Info.InvoiceStatus
		ev.Raw["invoice_info.status"] = p.Info.Status
		if st, err := c.state(p.Info); err == nil {
			ev.Claimed = *st
		}
	}
	return ev, nil
}

// ConfirmCallback asks merchant/info for the invoice the postback names and
// returns what the API says; the postback's own amounts never count.
func (c *Client) ConfirmCallback(ctx context.Context, ev *bridge.CallbackEvent) (*bridge.GatewayState, error) {
	if ev == nil || ev.GatewayID == "" {
		return nil, bridge.Errorf(bridge.EINVALID, "cryptocloud confirm callback: no invoice id")
	}
	st, err := c.PaymentState(ctx, ev.GatewayID)
	if err != nil {
		return nil, fmt.Errorf("cryptocloud confirm callback: %w", err)
	}
	return st, nil
}

// ConfirmCallbacks confirms many postbacks with merchant/info, BatchSize
// invoices per call: one state or error per event, as ConfirmCallback
// would give for it alone.
func (c *Client) ConfirmCallbacks(ctx context.Context, evs []*bridge.CallbackEvent) ([]*bridge.GatewayState, []error) {
	states := make([]*bridge.GatewayState, len(evs))
	errs := make([]error, len(evs))
	var ids []string
	for i, ev := range evs {
		if ev == nil || ev.GatewayID == "" {
			errs[i] = bridge.Errorf(bridge.EINVALID, "cryptocloud confirm callback: no invoice id")
			continue
		}
		if _, err := NormalizeID(ev.GatewayID); err != nil {
			errs[i] = bridge.Errorf(bridge.EINVALID, "cryptocloud confirm callback: %v", err)
			continue
		}
		ids = append(ids, ev.GatewayID)
	}
	if len(ids) == 0 {
		return states, errs
	}
	got, err := c.PaymentStates(ctx, ids)
	for i, ev := range evs {
		switch {
		case errs[i] != nil:
		case err != nil:
			errs[i] = fmt.Errorf("cryptocloud confirm callback: %w", err)
		case got[ev.GatewayID] == nil:
			errs[i] = fmt.Errorf("cryptocloud confirm callback: payment status %s: %w", ev.GatewayID, bridge.ErrPaymentNotFound)
		default:
			st := *got[ev.GatewayID]
			states[i] = &st
		}
	}
	return states, errs
}

var _ bridge.BatchConfirmer = (*Client)(nil)
