package cryptocloudsim

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/wcbridge/wcbridge/bridge/gateway/simkit"
)

// Config configures a Simulator.
type Config struct {
	APIKey    string
	ShopID    string
	SecretKey string // signs postback tokens
	// PublicURL is the simulator's own base URL, used for pay links
	// ({PublicURL}/pay/{id}). Set it once the server listens (SetPublicURL).
	PublicURL string
	// CallbackURL is the project's "Notification URL"; empty: no postbacks.
	CallbackURL    string
	PostbackFormat PostbackFormat // json (default) or form
	TokenClaim     TokenClaim     // default ClaimBareID
	// SuccessURL and FailURL are the project's redirect URLs; the pay page
	// sends the customer there (CryptoCloud has no per-invoice return URL).
	SuccessURL, FailURL string
	// RetryInterval and MaxAttempts shape postback redelivery after a non-2xx
	// answer. CryptoCloud's schedule is undocumented: default every minute
	// for an hour (61 attempts).
	RetryInterval time.Duration
	MaxAttempts   int
	// PostbackOnPartial also sends a postback when an invoice becomes
	// partial (as a merchant's manual confirmation of a partial one would).
	PostbackOnPartial bool
	// TestMode marks every invoice test_mode: true.
	TestMode        bool
	DefaultLifetime time.Duration // default 24h, as in the documented example
	// Now and NewID make the simulator deterministic in tests.
	Now   func() time.Time
	NewID func() string // 8 upper-case alphanumerics
	// HTTPClient sends postbacks; default a client with a 10s timeout.
	HTTPClient *http.Client
}

// DefaultConfig returns a configuration good for a demo.
func DefaultConfig() Config {
	return Config{
		APIKey:          "sim-api-key",
		ShopID:          "SimShop00000001",
		SecretKey:       "sim-secret-key",
		PublicURL:       "http://127.0.0.1:8091",
		PostbackFormat:  FormatJSON,
		TokenClaim:      ClaimBareID,
		RetryInterval:   time.Minute,
		MaxAttempts:     61,
		DefaultLifetime: 24 * time.Hour,
	}
}

// usdRates converts the simulator's fiats to USD (illustrative, fixed).
var usdRates = map[string]string{
	"USD": "1", "EUR": "1.08", "GBP": "1.27", "AUD": "0.66", "CAD": "0.73", "AED": "0.2723",
	"TRY": "0.031", "CNY": "0.138", "HKD": "0.128", "IDR": "0.000063", "INR": "0.012",
	"JPY": "0.0067", "PHP": "0.0175", "SGD": "0.74", "THB": "0.028", "VND": "0.00004",
	"MYR": "0.21", "RUB": "0.011", "UAH": "0.024", "UZS": "0.00008", "KGS": "0.0114",
	"KZT": "0.0021", "AMD": "0.0026", "AZN": "0.588", "BYN": "0.31",
}

// Simulator is an in-memory CryptoCloud API v2 with a hosted pay page and a
// postback sender, for tests and demos. It is an http.Handler.
type Simulator struct {
	simkit.Faults // FailNext, FailNextCreate, Hang

	mux *http.ServeMux

	mu       sync.Mutex
	cfg      Config
	invoices map[string]*simInvoice // by bare id
	order    []string
	requests map[string]int
	lastBody map[string]sentBody
	sender   *simkit.Sender
}

type sentBody struct {
	contentType string
	body        []byte
}

type simInvoice struct {
	id                  string // bare
	created, expiry     time.Time
	finished            time.Time
	orderID             string
	fiat                string
	amountFiat          decimal.Decimal
	amountUSD           decimal.Decimal
	receivedUSD         decimal.Decimal
	status              string
	availableCurrencies []string
	test                bool
	postbacks           int
}

// Payment is a snapshot of a simulated invoice.
type Payment struct {
	ID          string // with INV-
	OrderID     string
	Status      string
	Fiat        string
	AmountFiat  decimal.Decimal
	AmountUSD   decimal.Decimal
	ReceivedUSD decimal.Decimal
	ExpiresAt   time.Time
	Coins       []string // add_fields.available_currencies; empty: any
	Postbacks   int      // postback jobs started for it
}

// PostbackKind selects a genuine or a deliberately broken postback.
type PostbackKind string

const (
	PostbackGenuine     PostbackKind = "genuine"
	PostbackExpired     PostbackKind = "expired-token"
	PostbackWrongSecret PostbackKind = "wrong-secret"
	PostbackTampered    PostbackKind = "tampered"  // invoice_id changed after signing
	PostbackDuplicate   PostbackKind = "duplicate" // the last body sent, byte for byte
	PostbackNoToken     PostbackKind = "no-token"
)

// New returns a simulator; Close stops its postback sender.
func New(cfg Config) *Simulator {
	def := DefaultConfig()
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = def.RetryInterval
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = def.MaxAttempts
	}
	if cfg.DefaultLifetime <= 0 {
		cfg.DefaultLifetime = def.DefaultLifetime
	}
	if cfg.PostbackFormat == "" {
		cfg.PostbackFormat = FormatJSON
	}
	if cfg.TokenClaim == "" {
		cfg.TokenClaim = ClaimBareID
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = randomID
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	s := &Simulator{cfg: cfg, invoices: map[string]*simInvoice{}, requests: map[string]int{}, lastBody: map[string]sentBody{},
		sender: simkit.NewSender(cfg.HTTPClient, cfg.Now)}
	m := http.NewServeMux()
	m.HandleFunc("POST "+pathCreate, s.api(s.handleCreate))
	m.HandleFunc("POST /v2/invoice/merchant/info", s.api(s.handleInfo))
	m.HandleFunc("POST /v2/invoice/merchant/canceled", s.api(s.handleCancel))
	m.HandleFunc("POST /v2/invoice/merchant/list", s.api(s.handleList))
	m.HandleFunc("GET /pay/{id}", s.handlePayPage)
	m.HandleFunc("POST /pay/{id}", s.handlePayForm)
	simkit.Controls(m, s)
	s.mux = m
	return s
}

func randomID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

var _ simkit.Simulator = (*Simulator)(nil)

// Name is the gateway's short name.
func (s *Simulator) Name() string { return "cryptocloud" }

// ServeHTTP serves the API, the pay page and the control endpoints.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close stops postback delivery and waits for it.
func (s *Simulator) Close() { s.sender.Close() }

// SetPublicURL sets the base of pay links.
func (s *Simulator) SetPublicURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.PublicURL = strings.TrimRight(u, "/")
}

// SetCallbackURL sets the project's notification URL.
func (s *Simulator) SetCallbackURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.CallbackURL = u
}

// SetTestMode sets whether new invoices are made in the project's test mode.
func (s *Simulator) SetTestMode(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.TestMode = on
}

// CreateCalls counts create requests that reached the simulator, failed
// ones included.
func (s *Simulator) CreateCalls() int { return s.Requests(pathCreate) }

// Requests counts API requests that reached the simulator, by path.
func (s *Simulator) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

// errorBody is CryptoCloud's error shape.
func errorBody(key, msg string) map[string]any {
	return map[string]any{"status": "error", "result": map[string]string{key: msg}}
}

func writeJSON(w http.ResponseWriter, code int, v any) { simkit.WriteJSON(w, code, v) }

// api wraps an API handler with counting, failure injection, delay and auth.
func (s *Simulator) api(h func(w http.ResponseWriter, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests[r.URL.Path]++
		key := s.cfg.APIKey
		s.mu.Unlock()
		fail, ok := s.Intercept(r.Context(), r.URL.Path == pathCreate)
		if !ok {
			return
		}
		if fail != 0 {
			writeJSON(w, fail, errorBody("detail", "simulated failure"))
			return
		}
		if r.Header.Get("Authorization") != "Token "+key || key == "" {
			writeJSON(w, http.StatusUnauthorized, errorBody("authorization", "Unauthorized request."))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody("validate_error", "body unreadable"))
			return
		}
		h(w, body)
	}
}

type simCreate struct {
	ShopID    string          `json:"shop_id"`
	Amount    json.RawMessage `json:"amount"`
	Currency  string          `json:"currency"`
	OrderID   string          `json:"order_id"`
	Email     string          `json:"email"`
	AddFields *struct {
		TimeToPay *struct {
			Hours   int `json:"hours"`
			Minutes int `json:"minutes"`
		} `json:"time_to_pay"`
		AvailableCurrencies []string `json:"available_currencies"`
	} `json:"add_fields"`
}

// parseAmount accepts a JSON number or a numeric string, as the docs allow.
func parseAmount(raw json.RawMessage) (decimal.Decimal, bool) {
	s := strings.TrimSpace(string(raw))
	if strings.HasPrefix(s, `"`) {
		if json.Unmarshal(raw, &s) != nil {
			return decimal.Zero, false
		}
	}
	d, err := decimal.NewFromString(s)
	if err != nil || !d.IsPositive() {
		return decimal.Zero, false
	}
	return d, true
}

func (s *Simulator) handleCreate(w http.ResponseWriter, body []byte) {
	var req simCreate
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody("validate_error", "Invalid JSON."))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.ShopID == "" || req.ShopID != s.cfg.ShopID {
		writeJSON(w, http.StatusBadRequest, errorBody("shop_id", "Shop not found."))
		return
	}
	amount, ok := parseAmount(req.Amount)
	if !ok {
		writeJSON(w, http.StatusBadRequest, errorBody("amount", "Enter a valid amount greater than 0."))
		return
	}
	if req.Currency == "" {
		req.Currency = "USD"
	}
	if !supportedCurrency(req.Currency) {
		writeJSON(w, http.StatusBadRequest, errorBody("currency", "Currency not supported."))
		return
	}
	now := s.cfg.Now().UTC()
	life := s.cfg.DefaultLifetime
	inv := &simInvoice{orderID: req.OrderID, fiat: req.Currency,
		amountFiat: amount, status: StatusCreated, created: now, test: s.cfg.TestMode}
	if req.AddFields != nil {
		if t := req.AddFields.TimeToPay; t != nil && (t.Hours > 0 || t.Minutes > 0) {
			if t.Hours < 0 || t.Minutes < 0 {
				writeJSON(w, http.StatusBadRequest, errorBody("time_to_pay", "Invalid time to pay."))
				return
			}
			life = time.Duration(t.Hours)*time.Hour + time.Duration(t.Minutes)*time.Minute
		}
		inv.availableCurrencies = req.AddFields.AvailableCurrencies
	}
	inv.expiry = now.Add(life)
	rate := decimal.RequireFromString(usdRates[req.Currency])
	inv.amountUSD = amount.Mul(rate).Round(2)
	if !inv.amountUSD.IsPositive() {
		inv.amountUSD = decimal.New(1, -2)
	}
	for {
		inv.id = strings.ToUpper(s.cfg.NewID())
		if _, dup := s.invoices[inv.id]; !dup {
			break
		}
	}
	s.invoices[inv.id] = inv
	s.order = append(s.order, inv.id)
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "result": s.invoiceJSON(inv, true)})
}

// num writes a decimal as a JSON number the way CryptoCloud's floats look.
type num decimal.Decimal

func (n num) MarshalJSON() ([]byte, error) {
	s := decimal.Decimal(n).String()
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return []byte(s), nil
}

// refresh applies expiry lazily; callers hold s.mu.
func (s *Simulator) refresh(inv *simInvoice) {
	if (inv.status == StatusCreated || inv.status == StatusPartial) && !s.cfg.Now().Before(inv.expiry) {
		inv.status = StatusCanceled
	}
}

// invoiceJSON renders an invoice; callers hold s.mu.
func (s *Simulator) invoiceJSON(inv *simInvoice, creation bool) map[string]any {
	s.refresh(inv)
	invoiceStatus := "start"
	switch inv.status {
	case StatusPaid, StatusOverpaid:
		invoiceStatus = "success"
	case StatusCanceled:
		invoiceStatus = "canceled"
	}
	m := map[string]any{
		"uuid":               "INV-" + inv.id,
		"created":            formatTime(inv.created),
		"address":            "",
		"expiry_date":        formatTime(inv.expiry),
		"side_commission":    "client",
		"side_commission_cc": "merchant",
		"amount":             num(inv.amountUSD),
		"amount_usd":         num(inv.amountUSD),
		"amount_in_fiat":     num(inv.amountFiat),
		"fee":                num(decimal.Zero),
		"fee_usd":            num(decimal.Zero),
		"service_fee":        num(decimal.Zero),
		"service_fee_usd":    num(decimal.Zero),
		"type_payments":      "crypto",
		"fiat_currency":      inv.fiat,
		"status":             inv.status,
		"invoice_status":     invoiceStatus,
		"is_email_required":  false,
		"link":               s.cfg.PublicURL + "/pay/" + inv.id,
		"invoice_id":         nil,
		"currency": map[string]any{"id": 4, "code": "USDT", "fullcode": "USDT_TRC20",
			"network": map[string]any{"code": "TRC20", "id": 4, "icon": "", "fullname": "Tron"},
			"name":    "Tether", "is_email_required": false, "stablecoin": true, "order": 1},
		"project":   map[string]any{"id": 1, "name": "Simulated shop", "fail": s.cfg.FailURL, "success": s.cfg.SuccessURL, "logo": nil},
		"test_mode": inv.test,
	}
	if !creation {
		m["received"] = num(inv.receivedUSD)
		m["received_usd"] = num(inv.receivedUSD)
		m["order_id"] = inv.orderID
		if !inv.finished.IsZero() {
			m["date_finished"] = formatTime(inv.finished)
		}
	}
	return m
}

func (s *Simulator) lookup(id string) (*simInvoice, bool) {
	inv, ok := s.invoices[bareID(id)]
	return inv, ok
}

func (s *Simulator) handleInfo(w http.ResponseWriter, body []byte) {
	var req struct {
		UUIDs []string `json:"uuids"`
	}
	if err := json.Unmarshal(body, &req); err != nil || len(req.UUIDs) == 0 {
		writeJSON(w, http.StatusBadRequest, errorBody("uuids", "This field is required."))
		return
	}
	if len(req.UUIDs) > batchSize {
		writeJSON(w, http.StatusBadRequest, errorBody("uuids", "Ensure this field has no more than 100 elements."))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, id := range req.UUIDs {
		if inv, ok := s.lookup(id); ok {
			out = append(out, s.invoiceJSON(inv, false))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "result": out})
}

func (s *Simulator) handleCancel(w http.ResponseWriter, body []byte) {
	var req struct {
		UUID string `json:"uuid"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.UUID == "" {
		writeJSON(w, http.StatusBadRequest, errorBody("validate_error", "uuid is required"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.lookup(req.UUID)
	if ok {
		s.refresh(inv)
	}
	if !ok || inv.status != StatusCreated {
		writeJSON(w, http.StatusBadRequest, errorBody("validate_error", "Invoice is not created"))
		return
	}
	inv.status = StatusCanceled
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "result": []string{"ok"}})
}

func (s *Simulator) handleList(w http.ResponseWriter, body []byte) {
	var req struct {
		Start  string `json:"start"`
		End    string `json:"end"`
		Offset int    `json:"offset"`
		Limit  int    `json:"limit"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody("validate_error", "Invalid JSON."))
		return
	}
	start, err1 := time.ParseInLocation("02.01.2006", req.Start, time.UTC)
	end, err2 := time.ParseInLocation("02.01.2006", req.End, time.UTC)
	if err1 != nil || err2 != nil {
		writeJSON(w, http.StatusBadRequest, errorBody("validate_error", "start and end must be dd.mm.yyyy"))
		return
	}
	if req.Limit <= 0 {
		req.Limit = 10
	}
	if req.Limit > 100 || req.Offset < 0 {
		writeJSON(w, http.StatusBadRequest, errorBody("validate_error", "limit must be at most 100"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []map[string]any
	for _, id := range s.order {
		inv := s.invoices[id]
		if inv.created.Before(start) || !inv.created.Before(end.Add(24*time.Hour)) {
			continue
		}
		all = append(all, s.invoiceJSON(inv, false))
	}
	out := []map[string]any{}
	if req.Offset < len(all) {
		out = all[req.Offset:min(len(all), req.Offset+req.Limit)]
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "result": out})
}

// Pay records a payment of amountUSD (default: what is still missing) and
// moves the invoice to paid, partial or overpaid; a confirmed payment
// triggers a postback.
func (s *Simulator) Pay(id string, amountUSD ...decimal.Decimal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.lookup(id)
	if !ok {
		return simkit.ErrUnknown
	}
	s.refresh(inv)
	if inv.status != StatusCreated && inv.status != StatusPartial {
		return fmt.Errorf("simulator: invoice %s is %s", inv.id, inv.status)
	}
	amt := inv.amountUSD.Sub(inv.receivedUSD)
	if len(amountUSD) > 0 {
		amt = amountUSD[0]
	}
	if !amt.IsPositive() {
		return errors.New("simulator: amount must be positive")
	}
	inv.receivedUSD = inv.receivedUSD.Add(amt)
	switch inv.receivedUSD.Cmp(inv.amountUSD) {
	case -1:
		inv.status = StatusPartial
	case 0:
		inv.status = StatusPaid
	default:
		inv.status = StatusOverpaid
	}
	if inv.status != StatusPartial {
		inv.finished = s.cfg.Now().UTC()
	}
	if inv.status != StatusPartial || s.cfg.PostbackOnPartial {
		s.startPostbackLocked(inv, PostbackGenuine)
	}
	return nil
}

// PayExact pays what is still missing.
func (s *Simulator) PayExact(id string) error { return s.Pay(id) }

// Underpay pays 90% of the invoice.
func (s *Simulator) Underpay(id string) error { return s.payShare(id, "0.9") }

// Overpay pays what is missing plus 10% of the invoice.
func (s *Simulator) Overpay(id string) error { return s.payShare(id, "1.1") }

func (s *Simulator) payShare(id, share string) error {
	s.mu.Lock()
	inv, ok := s.lookup(id)
	var amt decimal.Decimal
	if ok {
		amt = inv.amountUSD.Mul(decimal.RequireFromString(share)).Round(2).Sub(inv.receivedUSD)
	}
	s.mu.Unlock()
	if !ok {
		return simkit.ErrUnknown
	}
	return s.Pay(id, amt)
}

// Expire ends the invoice's lifetime now: unpaid (or partial) it becomes
// canceled.
func (s *Simulator) Expire(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.lookup(id)
	if !ok {
		return simkit.ErrUnknown
	}
	if now := s.cfg.Now().UTC(); inv.expiry.After(now) {
		inv.expiry = now
	}
	s.refresh(inv)
	return nil
}

// Payment returns a snapshot of an invoice.
func (s *Simulator) Payment(id string) (Payment, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.lookup(id)
	if !ok {
		return Payment{}, false
	}
	return s.snapshot(inv), true
}

func (s *Simulator) snapshot(inv *simInvoice) Payment {
	s.refresh(inv)
	return Payment{ID: "INV-" + inv.id, OrderID: inv.orderID, Status: inv.status, Fiat: inv.fiat,
		AmountFiat: inv.amountFiat, AmountUSD: inv.amountUSD, ReceivedUSD: inv.receivedUSD,
		ExpiresAt: inv.expiry, Coins: inv.availableCurrencies, Postbacks: inv.postbacks}
}

// Payments lists every invoice, oldest first.
func (s *Simulator) Payments() []Payment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Payment, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.snapshot(s.invoices[id]))
	}
	return out
}

// Callbacks returns the postback delivery log.
func (s *Simulator) Callbacks() []simkit.Delivery { return s.sender.Deliveries() }

// SendPostback starts delivery of a postback of the given kind for the
// invoice, whatever its status (with the usual retries on non-2xx).
func (s *Simulator) SendPostback(id string, kind PostbackKind) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.lookup(id)
	if !ok {
		return simkit.ErrUnknown
	}
	if kind == PostbackDuplicate {
		if _, sent := s.lastBody[inv.id]; !sent {
			return errors.New("simulator: nothing sent yet to duplicate")
		}
	}
	s.startPostbackLocked(inv, kind)
	return nil
}

// startPostbackLocked starts a delivery job; callers hold s.mu. Each
// attempt gets a fresh token, as CryptoCloud documents.
func (s *Simulator) startPostbackLocked(inv *simInvoice, kind PostbackKind) {
	if s.cfg.CallbackURL == "" {
		return
	}
	inv.postbacks++
	id := inv.id
	s.sender.Start(simkit.Job{
		ID: id, Kind: string(kind),
		Retry: simkit.Retry{Interval: s.cfg.RetryInterval, MaxAttempts: s.cfg.MaxAttempts},
		Build: func() (simkit.Post, error) {
			ct, body, target, err := s.buildPostback(id, kind)
			return simkit.Post{URL: target, ContentType: ct, Body: body,
				Header: http.Header{"User-Agent": {"cryptocloud-simulator"}}}, err
		},
	})
}

// buildPostback renders the postback body for one attempt.
func (s *Simulator) buildPostback(id string, kind PostbackKind) (ct string, body []byte, target string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	target = s.cfg.CallbackURL
	if kind == PostbackDuplicate {
		last := s.lastBody[id]
		return last.contentType, last.body, target, nil
	}
	inv := s.invoices[id]
	info, err := json.Marshal(s.invoiceJSON(inv, false))
	if err != nil {
		return "", nil, "", err
	}
	p := postback{Status: "success", InvoiceID: inv.id, AmountCrypto: inv.receivedUSD,
		Currency: "USDT_TRC20", OrderID: inv.orderID, InvoiceInfo: info}
	now := s.cfg.Now()
	secret, exp := s.cfg.SecretKey, now.Add(tokenLifetime)
	switch kind {
	case PostbackWrongSecret:
		secret = "not-" + secret
	case PostbackExpired:
		exp = now.Add(-10 * time.Minute)
	}
	tok := ""
	if kind != PostbackNoToken {
		if tok, err = signToken(secret, inv.id, s.cfg.TokenClaim, exp); err != nil {
			return "", nil, "", err
		}
	}
	if kind == PostbackTampered {
		// Signed for this invoice, delivered as another one's.
		p.InvoiceID = "TAMPERED"
		p.InvoiceInfo = nil
	}
	ct, body, err = p.encode(tok, s.cfg.PostbackFormat)
	if err == nil && kind == PostbackGenuine {
		s.lastBody[id] = sentBody{ct, body}
	}
	return ct, body, target, err
}

var payBody = template.Must(template.New("pay").Parse(`<p>Invoice <b>{{.ID}}</b> for order <b>{{.OrderID}}</b></p>
<p>Amount: <b>{{.AmountFiat}} {{.Fiat}}</b> ({{.AmountUSD}} USDT_TRC20)</p>
{{if .Coins}}<p>Pay with: {{range $i, $c := .Coins}}{{if $i}}, {{end}}{{$c}}{{end}}</p>{{end}}
<p>Received: {{.ReceivedUSD}} USDT_TRC20 &middot; Status: <b id="status">{{.Status}}</b></p>
{{if .Open}}<p>The invoice expires at {{.ExpiresAt.UTC.Format "15:04:05 UTC, Mon 2 Jan 2006"}}.</p>
{{else if eq .Status "canceled"}}<p id="expired">This invoice was <b>cancelled or expired</b> (it expired at {{.ExpiresAt.UTC.Format "15:04:05 UTC, Mon 2 Jan 2006"}}); it can no longer be paid.</p>{{end}}
{{if eq .Status "partial"}}<p id="partial">Partly paid: {{.ReceivedUSD}} of {{.AmountUSD}} USDT_TRC20 received. Pay the rest before
the invoice expires, or go back to the shop and come back later from your order.</p>{{end}}`))

type payView struct {
	Payment
	Open bool
}

func (s *Simulator) handlePayPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.Payment(r.PathValue("id"))
	if !ok {
		http.Error(w, "invoice not found", http.StatusNotFound)
		return
	}
	s.mu.Lock()
	shop := s.cfg.SuccessURL // CryptoCloud has no per-invoice return address
	s.mu.Unlock()
	v := payView{p, p.Status == StatusCreated || p.Status == StatusPartial}
	var body strings.Builder
	_ = payBody.Execute(&body, v)
	page := simkit.Page{Title: "Invoice " + p.ID, Heading: "CryptoCloud (simulated)", Body: template.HTML(body.String())}
	switch {
	case v.Open && p.Status == StatusPartial:
		page.Buttons = []simkit.Button{{Mode: simkit.Rest, Label: "Pay the rest"}, {Mode: simkit.Expire, Label: "Let it expire"}}
	case v.Open:
		page.Buttons = simkit.StandardButtons(90, 110)
	}
	if p.Status != StatusCreated {
		page.Back = shop
	}
	simkit.WritePage(w, page)
}

// Act does m to invoice id. CryptoCloud cancels an invoice at its expiry,
// so it cannot be paid late; it documents no customer cancel.
func (s *Simulator) Act(id string, m simkit.Mode) error {
	switch m {
	case simkit.Exact, simkit.Rest:
		return s.PayExact(id)
	case simkit.Under:
		return s.Underpay(id)
	case simkit.Over:
		return s.Overpay(id)
	case simkit.Expire:
		return s.Expire(id)
	}
	if _, ok := s.Payment(id); !ok {
		return simkit.ErrUnknown
	}
	return fmt.Errorf("%w: %s", simkit.ErrUnsupported, m)
}

// Show is the invoice's snapshot.
func (s *Simulator) Show(id string) (any, bool) { return s.Payment(id) }

func (s *Simulator) handlePayForm(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	mode, err := simkit.PageMode(r)
	if err == nil {
		err = s.Act(id, mode)
	}
	if err != nil {
		http.Error(w, err.Error(), simkit.ErrorStatus(err))
		return
	}
	p, _ := s.Payment(id)
	s.mu.Lock()
	success, fail := s.cfg.SuccessURL, s.cfg.FailURL
	s.mu.Unlock()
	target := "/pay/" + bareID(id)
	switch {
	case (p.Status == StatusPaid || p.Status == StatusOverpaid) && success != "":
		target = success
	case p.Status == StatusCanceled && fail != "":
		target = fail
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
