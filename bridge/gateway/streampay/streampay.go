package streampay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway"
)

// Name is the gateway's short name.
const Name = "streampay"

// Title is how order notes and pages name the gateway.
const Title = "StreamPay"

// MethodTitle is the payment method's default title at checkout, as the
// plugin names it.
const MethodTitle = "Crypto (StreamPay)"

// Documented base URLs: creation and status live on different hosts.
const (
	DefaultCreateURL = "https://pay.streampayments.app/api/v1"
	DefaultStatusURL = "https://streampayments.app/api/v1"
)

// RefParam is the return_url query parameter that carries our reference:
// StreamPay has no order-id field, and it echoes return_url in the status
// API, so the reference survives the round trip.
const RefParam = "wcbridge_ref"

// Status values of the PaymentObject.
const (
	StatusPending     = "pending"
	StatusCompleted   = "completed"
	StatusNotFound    = "not_found"    // expired (or unknown)
	StatusErrCallback = "ERR_CALLBACK" // paid; callback delivery failing
)

// Config is the streampay section of the sidecar's configuration.
type Config struct {
	ClientID  string `yaml:"client_id"`  // "API Integration Client ID"; goes in the URL path
	SecretKey string `yaml:"secret_key"` // verifies callbacks only
	CreateURL string `yaml:"create_url"` // default DefaultCreateURL
	StatusURL string `yaml:"status_url"` // default DefaultStatusURL
	// NativeTokenAmounts sends orders in currencies other than USD and EUR
	// as the native-token `amount`: the shop then prices its products in
	// the token (its WooCommerce currency is the token). Off by default.
	NativeTokenAmounts bool `yaml:"native_token_amounts"`
	// NativeToken labels native-token amounts (e.g. "STRM"); label only.
	NativeToken string `yaml:"native_token"`
}

// LogValue redacts the secret when the config is logged.
func (c Config) LogValue() slog.Value {
	secret := ""
	if c.SecretKey != "" {
		secret = "[redacted]"
	}
	return slog.GroupValue(
		slog.String("client_id", redactID(c.ClientID)),
		slog.String("secret_key", secret),
		slog.String("create_url", c.CreateURL),
		slog.String("status_url", c.StatusURL),
		slog.Bool("native_token_amounts", c.NativeTokenAmounts),
		slog.String("native_token", c.NativeToken),
	)
}

// String redacts the secret, so a config printed with %v or %+v leaks
// nothing.
func (c Config) String() string {
	return c.LogValue().String()
}

// redactID keeps a client id recognisable in logs without spelling it out:
// whoever has it can create payments for the shop.
func redactID(s string) string {
	if len(s) <= 4 {
		return strings.Repeat("*", len(s))
	}
	return s[:4] + "…"
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.CreateURL == "" {
		c.CreateURL = DefaultCreateURL
	}
	if c.StatusURL == "" {
		c.StatusURL = DefaultStatusURL
	}
	c.CreateURL = strings.TrimRight(c.CreateURL, "/")
	c.StatusURL = strings.TrimRight(c.StatusURL, "/")
	return c
}

// Validate reports every problem of the config at once.
func (c Config) Validate() []error {
	const p = "gateways." + Name + "."
	c = c.WithDefaults()
	var errs []error
	if strings.TrimSpace(c.ClientID) == "" {
		errs = append(errs, errors.New(p+"client_id: required"))
	} else if strings.ContainsAny(c.ClientID, "/?#% ") {
		errs = append(errs, errors.New(p+"client_id: must not contain '/', '?', '#', '%' or spaces"))
	}
	if c.SecretKey == "" {
		errs = append(errs, errors.New(p+"secret_key: required (callbacks cannot be verified without it)"))
	}
	for _, u := range []struct{ field, v string }{{"create_url", c.CreateURL}, {"status_url", c.StatusURL}} {
		pu, err := url.Parse(u.v)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			errs = append(errs, fmt.Errorf("%s%s: must be an absolute http(s) url", p, u.field))
		}
	}
	if c.NativeTokenAmounts && strings.TrimSpace(c.NativeToken) == "" {
		errs = append(errs, errors.New(p+"native_token: required when native_token_amounts is true"))
	}
	return errs
}

// Client talks to StreamPay. It implements bridge.Gateway.
type Client struct {
	cfg  Config
	http *gateway.Client
}

var _ bridge.Gateway = (*Client)(nil)

// New returns a client for cfg, which must be valid.
func New(cfg Config, opts gateway.Options) (*Client, error) {
	cfg = cfg.WithDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("streampay config: %w", errors.Join(errs...))
	}
	return &Client{cfg: cfg, http: gateway.NewClient(Name, opts)}, nil
}

// Name is "streampay".
func (c *Client) Name() string { return Name }

// Capabilities: callbacks, no batch status; USD and EUR unless native-token
// amounts are enabled, which takes any shop currency as the token.
func (c *Client) Capabilities() bridge.Capabilities {
	caps := bridge.Capabilities{Callbacks: true}
	if !c.cfg.NativeTokenAmounts {
		caps.Currencies = []string{"USD", "EUR"}
	}
	return caps
}

// createRequest is the body of POST /payment/{client_id}/page. Exactly one
// of the amount fields is set, as a decimal string in human units.
type createRequest struct {
	AmountUSD   string `json:"amount_usd,omitempty"`
	AmountEUR   string `json:"amount_eur,omitempty"`
	Amount      string `json:"amount,omitempty"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	ReturnURL   string `json:"return_url"`
}

// pageObject is the PaymentPageObject; note the camelCase keys.
type pageObject struct {
	PaymentID string `json:"paymentID"`
	URL       string `json:"url"`
	ExpiryAt  string `json:"expiryAt"`
}

// CreatePayment asks for a hosted payment page. StreamPay's lifetime is not
// settable (10 minutes in the documented example), so r.Lifetime is ignored
// and the returned expiryAt is used.
func (c *Client) CreatePayment(ctx context.Context, r bridge.CreatePaymentRequest) (*bridge.GatewayPayment, error) {
	const op = "create payment"
	body, asked, err := c.createBody(r)
	if err != nil {
		return nil, err
	}
	u := c.cfg.CreateURL + "/payment/" + url.PathEscape(c.cfg.ClientID) + "/page"
	resp, err := c.http.PostCreate(ctx, op, u, jsonHeader(), body)
	if err != nil {
		return nil, err
	}
	if !resp.OK() {
		return nil, c.statusError(op, resp)
	}
	var po pageObject
	if err := json.Unmarshal(resp.Body, &po); err != nil || po.PaymentID == "" || po.URL == "" {
		return nil, &gateway.Error{Gateway: Name, Op: op, StatusCode: resp.StatusCode, Message: "unexpected response: no paymentID or url"}
	}
	exp, err := parseTime(po.ExpiryAt)
	if err != nil {
		return nil, &gateway.Error{Gateway: Name, Op: op, StatusCode: resp.StatusCode, Message: "unexpected response: bad expiryAt"}
	}
	return &bridge.GatewayPayment{GatewayID: po.PaymentID, URL: po.URL, ExpiresAt: exp, Amount: asked}, nil
}

// createBody builds the request body and the amount asked in the unit the
// gateway compares.
func (c *Client) createBody(r bridge.CreatePaymentRequest) ([]byte, bridge.Money, error) {
	amt := r.Amount.Amount
	if !amt.IsPositive() {
		return nil, bridge.Money{}, bridge.Errorf(bridge.EINVALID, "streampay: amount must be positive, got %s", amt)
	}
	req := createRequest{
		Name:        fmt.Sprintf("Order #%d (%s)", r.OrderID, r.OrderRef),
		Description: r.Description,
	}
	ret, err := withRef(r.ReturnURL, r.OrderRef)
	if err != nil {
		return nil, bridge.Money{}, bridge.Errorf(bridge.EINVALID, "streampay: bad return url")
	}
	req.ReturnURL = ret
	cur := strings.ToUpper(r.Amount.Currency)
	asked := bridge.Money{Amount: amt, Currency: cur}
	switch {
	case cur == "USD":
		req.AmountUSD = amt.String()
	case cur == "EUR":
		req.AmountEUR = amt.String()
	case c.cfg.NativeTokenAmounts:
		req.Amount = amt.String()
		asked.Currency = c.cfg.NativeToken
	default:
		return nil, bridge.Money{}, fmt.Errorf("%w: streampay takes USD or EUR, not %q (enable native_token_amounts to price in the token)", bridge.ErrCurrency, r.Amount.Currency)
	}
	// No HTML escaping: the return url's "&" goes out as itself.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(req); err != nil {
		return nil, bridge.Money{}, fmt.Errorf("streampay: encode request: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), asked, nil
}

// withRef adds our reference to the return url's query.
func withRef(raw, ref string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return "", errors.New("bad url")
	}
	q := u.Query()
	q.Set(RefParam, ref)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// refFrom extracts our reference from an echoed return url.
func refFrom(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Query().Get(RefParam)
}

// PaymentObject is StreamPay's full payment description, as returned by
// the status API and the manual create call. Amounts stay strings; the
// deprecated single-coin fields are kept for display only.
type PaymentObject struct {
	PaymentID        string       `json:"payment_id"`
	Network          string       `json:"network,omitempty"`
	Status           string       `json:"status"`
	Address          string       `json:"address,omitempty"`
	Addresses        []CoinObject `json:"addresses,omitempty"`
	Amount           NumString    `json:"amount,omitempty"` // smallest unit of the native token
	Name             string       `json:"name,omitempty"`
	Description      string       `json:"description"`
	DisplayAmountUSD NumString    `json:"display_amount_usd,omitempty"`
	DisplayAmountEUR NumString    `json:"display_amount_eur,omitempty"`
	DisplayAmount    NumString    `json:"display_amount,omitempty"`
	LocalCurrency    string       `json:"local_currency,omitempty"`
	ReturnURL        string       `json:"return_url,omitempty"`
	ExpiryAt         string       `json:"expiry_at,omitempty"`
	CreatedAt        string       `json:"created_at,omitempty"`
	ProcessedAt      string       `json:"processed_at,omitempty"`
	TransactionHash  string       `json:"transaction_hash,omitempty"`
	SignerID         string       `json:"signer_id,omitempty"`
}

// CoinObject is one accepted coin of a payment.
type CoinObject struct {
	Blockchain    string    `json:"blockchain"`
	Address       string    `json:"address"`
	Contract      string    `json:"contract"`
	Token         string    `json:"token"`
	Amount        NumString `json:"amount"` // smallest unit; decimals unreliable in the docs
	DisplayAmount NumString `json:"displayAmount"`
	Icon          string    `json:"icon"`
}

// NumString is a numeric value that StreamPay documents as a string; it
// also accepts a JSON number, keeping its exact text (never a float64).
type NumString string

// UnmarshalJSON accepts "1.00", 1.00 and null.
func (n *NumString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*n = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*n = NumString(s)
		return nil
	}
	var num json.Number
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&num); err != nil {
		return fmt.Errorf("numeric string: %w", err)
	}
	*n = NumString(num.String())
	return nil
}

// Decimal parses the value; ok is false when it is empty or not a decimal.
func (n NumString) Decimal() (d decimal.Decimal, ok bool) {
	d, err := decimal.NewFromString(string(n))
	return d, err == nil
}

// PaymentState reads the payment from the status API. StreamPay documents
// `not_found` for an expired payment, and it is also what the status host
// answers for an id it does not know (yet): creation and status live on two
// hosts. So not_found is reported as NotFound, which the core reads as
// "expired" only after the payment's expiry plus a grace. Whether it comes
// as a 200 body or an HTTP 404 is not documented: a 200 with status
// not_found counts (with its own expiry_at where it has one); a 404 counts
// only when its JSON body names the payment asked for — a 404 of another
// shape (a web server's page, a wrong status_url) is an error.
func (c *Client) PaymentState(ctx context.Context, gatewayID string) (*bridge.GatewayState, error) {
	const op = "payment status"
	if gatewayID == "" {
		return nil, bridge.Errorf(bridge.EINVALID, "streampay: empty payment id")
	}
	resp, err := c.http.Get(ctx, op, c.cfg.StatusURL+"/payment/"+url.PathEscape(gatewayID), jsonHeader())
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotFound {
		var po PaymentObject
		if json.Unmarshal(resp.Body, &po) != nil || po.PaymentID != gatewayID {
			return nil, &gateway.Error{Gateway: Name, Op: op, StatusCode: resp.StatusCode,
				Message: "not found, without naming the payment (check status_url)"}
		}
		st := &bridge.GatewayState{GatewayID: gatewayID, Status: bridge.PaymentExpired, NotFound: true}
		if t, err := parseTime(po.ExpiryAt); err == nil {
			st.ExpiresAt = t
		}
		return st, nil
	}
	if !resp.OK() {
		return nil, c.statusError(op, resp)
	}
	var po PaymentObject
	if err := json.Unmarshal(resp.Body, &po); err != nil {
		return nil, &gateway.Error{Gateway: Name, Op: op, StatusCode: resp.StatusCode, Message: "unexpected response: not a payment object"}
	}
	st, err := stateOf(gatewayID, &po)
	if err != nil {
		return nil, &gateway.Error{Gateway: Name, Op: op, StatusCode: resp.StatusCode, Message: err.Error()}
	}
	return st, nil
}

// ErrCallbackAttention is the payment's last error while StreamPay reports
// ERR_CALLBACK.
const ErrCallbackAttention = "StreamPay reports ERR_CALLBACK: its callbacks do not reach this sidecar " +
	"(check the shop's Callback URL and secret key in StreamPay's dashboard); the payment counts, " +
	"what was received is known only from a callback"

// MapStatus maps a PaymentObject status to the core's. StreamPay has no
// partial or overpaid status: an underpayment stays pending, and whether a
// completed payment was overpaid shows only in the callback's figures.
func MapStatus(s string) (bridge.PaymentStatus, bool) {
	switch s {
	case StatusPending:
		return bridge.PaymentPending, true
	case StatusCompleted, StatusErrCallback:
		return bridge.PaymentPaid, true
	case StatusNotFound:
		return bridge.PaymentExpired, true
	}
	return "", false
}

func stateOf(gatewayID string, po *PaymentObject) (*bridge.GatewayState, error) {
	st, ok := MapStatus(po.Status)
	if !ok {
		return nil, fmt.Errorf("unknown payment status %q", trunc(po.Status, 40))
	}
	if po.PaymentID != "" && po.PaymentID != gatewayID {
		return nil, errors.New("answer is for another payment")
	}
	gs := &bridge.GatewayState{
		GatewayID: gatewayID,
		Status:    st,
		TxRef:     po.TransactionHash,
		OrderRef:  refFrom(po.ReturnURL),
		Test:      po.Network != "" && po.Network != "mainnet",
		NotFound:  po.Status == StatusNotFound,
	}
	if po.Status == StatusErrCallback {
		// Paid, and StreamPay retries its callback every 10 minutes for 3
		// days: keep looking, and tell the shop its callbacks do not arrive.
		gs.KeepPolling = true
		gs.Attention = ErrCallbackAttention
	}
	// The status API's only amount is the display price; what was received
	// is known from the callback alone.
	if d, ok := po.DisplayAmountUSD.Decimal(); ok {
		gs.Amount = bridge.Money{Amount: d, Currency: "USD"}
	}
	if t, err := parseTime(po.ExpiryAt); err == nil {
		gs.ExpiresAt = t
	}
	return gs, nil
}

// VerifyCallback authenticates a callback from its raw body. The content
// type is not checked: StreamPay documents JSON, the body must parse as
// JSON anyway, and the signature, not a header, is what authenticates it.
func (c *Client) VerifyCallback(_ http.Header, body []byte) (*bridge.CallbackEvent, error) {
	cb, err := VerifyCallbackBody(body, c.cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	return event(cb), nil
}

// ConfirmCallback re-reads the payment from the status API, as StreamPay
// recommends: the callback counts only when the API says completed (or
// ERR_CALLBACK, which is completed with delivery failing). The amounts come
// from the verified callback, in USD, since the status API has none.
func (c *Client) ConfirmCallback(ctx context.Context, ev *bridge.CallbackEvent) (*bridge.GatewayState, error) {
	if ev == nil || ev.GatewayID == "" {
		return nil, bridge.Errorf(bridge.EINVALID, "streampay: callback without payment id")
	}
	st, err := c.PaymentState(ctx, ev.GatewayID)
	if err != nil {
		return nil, fmt.Errorf("confirm callback: %w", err)
	}
	if st.Status != bridge.PaymentPaid {
		return st, nil
	}
	st.Amount = ev.Claimed.Amount
	st.Received = ev.Claimed.Received
	st.Status = classify(st.Amount.Amount, st.Received.Amount)
	return st, nil
}

// statusError builds the error for a non-2xx answer; the gateway's message
// is kept but scrubbed of our credentials in case it echoes them.
func (c *Client) statusError(op string, resp *gateway.Response) error {
	msg := errorMessage(resp.Body)
	for _, s := range []string{c.cfg.SecretKey, c.cfg.ClientID} {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return gateway.StatusError(Name, op, resp.StatusCode, trunc(msg, 200))
}

func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json"}}
}

// errorMessage extracts a message from an error answer, whose shape is not
// documented: a JSON "error"/"message" field, else the text itself.
func errorMessage(body []byte) string {
	var m struct {
		Error   any    `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &m) == nil {
		if s, ok := m.Error.(string); ok && s != "" {
			return s
		}
		if m.Message != "" {
			return m.Message
		}
	}
	s := strings.TrimSpace(string(body))
	if strings.HasPrefix(s, "<") { // an HTML error page says nothing useful
		return ""
	}
	return s
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// parseTime reads the documented RFC 3339 timestamps.
func parseTime(s string) (time.Time, error) {
	return time.Parse(time.RFC3339, s)
}
