package bitstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway"
)

// Client talks to Bitstream's checkout session API.
type Client struct {
	cfg  Config
	http *gateway.Client
	// Now is the clock that dates expiresAt (default time.Now).
	Now func() time.Time
}

var _ bridge.Gateway = (*Client)(nil)

// New returns a client for cfg, which must be valid.
func New(cfg Config, opts gateway.Options) (*Client, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("bitstream config: %w", errors.Join(errs...))
	}
	return &Client{cfg: cfg.WithDefaults(), http: gateway.NewClient(Name, opts), Now: time.Now}, nil
}

// Name returns "bitstream".
func (c *Client) Name() string { return Name }

// Capabilities: signed webhooks (and polling, which carries on without
// them), no batch reads, and only the order currencies in currency_map.
func (c *Client) Capabilities() bridge.Capabilities {
	return bridge.Capabilities{Callbacks: true, BatchSize: 0, Currencies: sortedKeys(c.cfg.CurrencyMap)}
}

func (c *Client) header() http.Header {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+c.cfg.APIKey)
	h.Set("Content-Type", "application/json")
	return h
}

// token returns the token an order currency is priced in.
func (c *Client) token(orderCurrency string) (string, error) {
	tok, ok := c.cfg.CurrencyMap[strings.ToUpper(orderCurrency)]
	if !ok {
		return "", fmt.Errorf("bitstream: order currency %q: %w", orderCurrency, bridge.ErrCurrency)
	}
	return tok, nil
}

// prices reports whether the shop charges in token (currency or a
// currency_map entry): a session in any other token is none of ours.
func (c *Client) prices(token string) bool {
	if token == c.cfg.Currency {
		return true
	}
	for _, t := range c.cfg.CurrencyMap {
		if t == token {
			return true
		}
	}
	return false
}

// CreatePayment creates a checkout session for the order total. The total
// is priced one to one in the mapped token and converted to the API's units
// (10^-unit_decimals of the token) exactly, rounded up where the total has
// more decimals than that.
func (c *Client) CreatePayment(ctx context.Context, r bridge.CreatePaymentRequest) (*bridge.GatewayPayment, error) {
	const op = "create payment"
	tok, err := c.token(r.Amount.Currency)
	if err != nil {
		return nil, err
	}
	scale := c.cfg.UnitDecimals
	units, err := ToUnits(r.Amount.Amount, scale)
	if err != nil {
		return nil, bridge.Errorf(bridge.EINVALID, "bitstream: order total %s in %s: %v", r.Amount.Amount, tok, err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // URLs keep their & as sent
	if err := enc.Encode(c.createRequest(r, tok, units)); err != nil {
		return nil, fmt.Errorf("bitstream %s: encode: %w", op, err)
	}
	body := bytes.TrimSpace(buf.Bytes())
	resp, err := c.http.PostCreate(ctx, op, c.cfg.BaseURL+"/checkout/sessions", c.header(), body)
	if err != nil {
		return nil, err
	}
	if !resp.OK() {
		return nil, c.statusError(op, resp)
	}
	s, err := parseSession(resp.Body)
	if err != nil {
		return nil, c.badAnswer(op, err)
	}
	if s.URL == "" {
		return nil, c.badAnswer(op, errors.New("session has no url"))
	}
	if !strings.EqualFold(s.Currency, tok) {
		return nil, c.badAnswer(op, fmt.Errorf("session currency %q, asked %q", s.Currency, tok))
	}
	total, err := parseUnits(string(s.AmountTotal))
	if err != nil {
		return nil, c.badAnswer(op, err)
	}
	// A different total means Bitstream read the amount differently than we
	// sent it; the customer must not see that page.
	if total.Cmp(units) != 0 {
		return nil, c.badAnswer(op, fmt.Errorf("session total %s units, asked %s", total, units))
	}
	exp, err := parseTime(s.ExpiresAt)
	if err != nil {
		return nil, c.badAnswer(op, err)
	}
	return &bridge.GatewayPayment{
		GatewayID: s.ID,
		URL:       s.URL,
		ExpiresAt: exp,
		Amount:    bridge.Money{Amount: FromUnits(total, scale), Currency: tok},
		UnitScale: scale,
	}, nil
}

func (c *Client) createRequest(r bridge.CreatePaymentRequest, tok string, units *big.Int) createRequest {
	name := r.Description
	if name == "" {
		name = fmt.Sprintf("Order #%d", r.OrderID)
	}
	req := createRequest{
		SuccessURL: r.ReturnURL,
		LineItems: lineItems{Data: []lineItem{{PriceData: priceData{
			Currency:    tok,
			UnitAmount:  units.String(),
			ProductData: productData{Name: name, Description: "Reference " + r.OrderRef},
		}}}},
	}
	if boolOr(c.cfg.SendCancelURL, true) {
		req.CancelURL = r.CancelURL
	}
	if boolOr(c.cfg.SendClientReference, true) {
		req.ClientReferenceID = r.OrderRef
		req.Metadata = map[string]string{"order_id": strconv.FormatInt(r.OrderID, 10)}
	}
	if boolOr(c.cfg.SendExpiresAt, true) && r.Lifetime > 0 {
		req.ExpiresAt = c.Now().UTC().Add(r.Lifetime).Format("2006-01-02T15:04:05.000Z")
	}
	return req
}

// PaymentState reads a session and maps it to a core status
// ([ASSUMPTION]: the read endpoint and most status values are undocumented).
func (c *Client) PaymentState(ctx context.Context, gatewayID string) (*bridge.GatewayState, error) {
	const op = "payment status"
	if gatewayID == "" || strings.ContainsAny(gatewayID, "/?#") {
		return nil, bridge.Errorf(bridge.EINVALID, "bitstream: bad session id")
	}
	u := c.cfg.BaseURL + strings.ReplaceAll(c.cfg.StatusPath, "{id}", url.PathEscape(gatewayID))
	resp, err := c.http.Get(ctx, op, u, c.header())
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("bitstream %s: %w", op, bridge.ErrPaymentNotFound)
	}
	if !resp.OK() {
		return nil, c.statusError(op, resp)
	}
	s, err := parseSession(resp.Body)
	if err != nil {
		return nil, c.badAnswer(op, err)
	}
	if s.ID != gatewayID {
		return nil, c.badAnswer(op, errors.New("answer names another session"))
	}
	st, err := c.state(s)
	if err != nil {
		return nil, c.badAnswer(op, err)
	}
	return st, nil
}

// state maps a session to the core's view.
func (c *Client) state(s *session) (*bridge.GatewayState, error) {
	tok := strings.ToLower(s.Currency)
	if !c.prices(tok) {
		return nil, fmt.Errorf("session currency %q is not a token the shop charges in", truncate(s.Currency, 20))
	}
	dec := c.cfg.UnitDecimals
	total, err := parseUnits(string(s.AmountTotal))
	if err != nil {
		return nil, err
	}
	received := new(big.Int)
	intentStatus := ""
	if pi := s.PaymentIntent; pi != nil {
		if pi.Currency != "" && !strings.EqualFold(pi.Currency, tok) {
			return nil, fmt.Errorf("payment intent currency %q differs from session %q", pi.Currency, tok)
		}
		if received, err = parseUnits(string(pi.AmountReceived)); err != nil {
			return nil, err
		}
		intentStatus = pi.Status
	}
	exp, err := parseTime(s.ExpiresAt)
	if err != nil {
		return nil, err
	}
	st := &bridge.GatewayState{
		GatewayID: s.ID,
		Status:    mapStatus(s.Status, s.PaymentStatus, intentStatus, received, total),
		Amount:    bridge.Money{Amount: FromUnits(total, dec), Currency: tok},
		Received:  bridge.Money{Amount: FromUnits(received, dec), Currency: tok},
		UnitScale: dec,
		TxRef:     s.txHash(),
		ExpiresAt: exp,
		Test:      boolOr(c.cfg.TestMode, c.cfg.BaseURL == DefaultBaseURL),
	}
	if received.Sign() == 0 && st.Status.Money() {
		// Complete (or incomplete) without saying how much arrived: the
		// status counts, the amounts are unknown rather than zero.
		st.Received = bridge.Money{}
		if st.Status == bridge.PaymentPaid {
			st.Amount = bridge.Money{}
		}
	}
	if s.ClientReferenceID != nil {
		st.OrderRef = *s.ClientReferenceID
	}
	return st, nil
}

// mapStatus maps Bitstream's session to a core status. Money received
// decides first: a late payment counts even on an expired or cancelled
// session. Session statuses (Copperx): open, complete, expired, incomplete
// (money received but less than the total), and canceled.
func mapStatus(status, paymentStatus, intentStatus string, received, total *big.Int) bridge.PaymentStatus {
	switch {
	case received.Sign() > 0 && received.Cmp(total) < 0:
		return bridge.PaymentUnderpaid
	case received.Sign() > 0 && (paymentStatus == "paid" || status == "complete"):
		if received.Cmp(total) > 0 {
			return bridge.PaymentOverpaid
		}
		return bridge.PaymentPaid
	case received.Sign() > 0:
		// Everything arrived but Bitstream has not called it paid yet (an
		// open session with a transaction still being confirmed).
		return bridge.PaymentPending
	case status == "incomplete":
		return bridge.PaymentUnderpaid // some money, amount not reported
	case status == "complete" && paymentStatus == "paid":
		return bridge.PaymentPaid // amounts not reported: the gateway vouches
	case status == "expired":
		return bridge.PaymentExpired
	case status == "canceled" || intentStatus == "canceled":
		return bridge.PaymentCancelled
	}
	return bridge.PaymentPending
}

// VerifyCallback authenticates a webhook from its raw body and its
// x-webhook-signature header (constant-time HMAC-SHA256 with the webhook
// secret); x-webhook-token is ignored. Without a configured secret every
// webhook is refused and polling carries on. What the event claims is only a
// hint: ConfirmCallback reads the session back.
func (c *Client) VerifyCallback(header http.Header, body []byte) (*bridge.CallbackEvent, error) {
	ev, s, err := VerifyWebhook(body, header.Get(HeaderSignature), c.cfg.WebhookSecret)
	if err != nil {
		return nil, fmt.Errorf("bitstream verify webhook: %w", err)
	}
	out := &bridge.CallbackEvent{
		Gateway:   Name,
		GatewayID: s.ID,
		Raw:       map[string]string{"event_id": truncate(ev.ID, 64), "type": truncate(ev.Type, 64), "session": s.ID, "status": truncate(s.Status, 32)},
	}
	if s.ClientReferenceID != nil {
		out.OrderRef = *s.ClientReferenceID
	}
	if st, err := c.state(s); err == nil {
		out.Claimed = *st
	} else {
		out.Claimed = bridge.GatewayState{GatewayID: s.ID, Status: bridge.PaymentPending}
	}
	return out, nil
}

// ConfirmCallback reads the session the webhook names from the API: only
// what the API says counts.
func (c *Client) ConfirmCallback(ctx context.Context, ev *bridge.CallbackEvent) (*bridge.GatewayState, error) {
	if ev == nil || ev.GatewayID == "" {
		return nil, bridge.Errorf(bridge.EINVALID, "bitstream confirm webhook: no session id")
	}
	st, err := c.PaymentState(ctx, ev.GatewayID)
	if err != nil {
		return nil, fmt.Errorf("bitstream confirm webhook: %w", err)
	}
	return st, nil
}

// statusError turns a non-2xx answer into a gateway error, with the key
// scrubbed from the gateway's message in case it echoes it.
func (c *Client) statusError(op string, resp *gateway.Response) error {
	return gateway.StatusError(Name, op, resp.StatusCode, c.scrub(errorMessage(resp.Body)))
}

func (c *Client) badAnswer(op string, err error) error {
	return &gateway.Error{Gateway: Name, Op: op, Message: "unexpected answer: " + c.scrub(err.Error())}
}

func (c *Client) scrub(s string) string {
	if c.cfg.APIKey != "" {
		s = strings.ReplaceAll(s, c.cfg.APIKey, "[redacted]")
	}
	return s
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is not RFC 3339", truncate(s, 40))
	}
	return t.UTC(), nil
}
