package cryptocloud

import (
	"bytes"
	"context"
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

	"github.com/wcbridge/wcbridge/bridge/gateway"
)

// SimulatorConfig configures a Simulator.
type SimulatorConfig struct {
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

// DefaultSimulatorConfig returns a configuration good for a demo.
func DefaultSimulatorConfig() SimulatorConfig {
	return SimulatorConfig{
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
	gateway.Faults // FailNext, FailNextCreate, Hang

	mux *http.ServeMux

	mu         sync.Mutex
	cfg        SimulatorConfig
	invoices   map[string]*simInvoice // by bare id
	order      []string
	requests   map[string]int
	deliveries []Delivery
	lastBody   map[string]sentBody

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
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

// SimPayment is a snapshot of a simulated invoice.
type SimPayment struct {
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

// Delivery is one postback attempt.
type Delivery struct {
	InvoiceID   string // bare, as sent
	Attempt     int
	Kind        PostbackKind
	ContentType string
	Body        []byte
	StatusCode  int // 0 when no answer
	Err         string
	At          time.Time
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

// NewSimulator returns a simulator; Close stops its postback sender.
func NewSimulator(cfg SimulatorConfig) *Simulator {
	def := DefaultSimulatorConfig()
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
	s := &Simulator{cfg: cfg, invoices: map[string]*simInvoice{}, requests: map[string]int{}, lastBody: map[string]sentBody{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	m := http.NewServeMux()
	m.HandleFunc("POST /v2/invoice/create", s.api(s.handleCreate))
	m.HandleFunc("POST /v2/invoice/merchant/info", s.api(s.handleInfo))
	m.HandleFunc("POST /v2/invoice/merchant/canceled", s.api(s.handleCancel))
	m.HandleFunc("POST /v2/invoice/merchant/list", s.api(s.handleList))
	m.HandleFunc("GET /pay/{id}", s.handlePayPage)
	m.HandleFunc("POST /pay/{id}", s.handlePayForm)
	m.HandleFunc("GET /_sim/{id}", s.handleSimGet)
	m.HandleFunc("POST /_sim/{id}/pay", s.handleSimPay)
	m.HandleFunc("POST /_sim/{id}/expire", s.handleSimExpire)
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

// ServeHTTP serves the API, the pay page and the control endpoints.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close stops postback delivery and waits for it.
func (s *Simulator) Close() {
	// Cancel under the lock: startPostbackLocked checks the context under
	// it, so no delivery can be added once Wait runs.
	s.mu.Lock()
	s.cancel()
	s.mu.Unlock()
	s.wg.Wait()
}

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

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// api wraps an API handler with counting, failure injection, delay and auth.
func (s *Simulator) api(h func(w http.ResponseWriter, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests[r.URL.Path]++
		key := s.cfg.APIKey
		s.mu.Unlock()
		fail, ok := s.Intercept(r.Context(), r.URL.Path == "/v2/invoice/create")
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
	inv, ok := s.invoices[BareID(id)]
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
	if len(req.UUIDs) > BatchSize {
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

// ErrSimNotFound is returned by control methods for unknown invoices.
var ErrSimNotFound = errors.New("simulator: no such invoice")

// Pay records a payment of amountUSD (default: what is still missing) and
// moves the invoice to paid, partial or overpaid; a confirmed payment
// triggers a postback.
func (s *Simulator) Pay(id string, amountUSD ...decimal.Decimal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.lookup(id)
	if !ok {
		return ErrSimNotFound
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
		return ErrSimNotFound
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
		return ErrSimNotFound
	}
	if now := s.cfg.Now().UTC(); inv.expiry.After(now) {
		inv.expiry = now
	}
	s.refresh(inv)
	return nil
}

// Payment returns a snapshot of an invoice.
func (s *Simulator) Payment(id string) (SimPayment, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.lookup(id)
	if !ok {
		return SimPayment{}, false
	}
	return s.snapshot(inv), true
}

func (s *Simulator) snapshot(inv *simInvoice) SimPayment {
	s.refresh(inv)
	return SimPayment{ID: "INV-" + inv.id, OrderID: inv.orderID, Status: inv.status, Fiat: inv.fiat,
		AmountFiat: inv.amountFiat, AmountUSD: inv.amountUSD, ReceivedUSD: inv.receivedUSD,
		ExpiresAt: inv.expiry, Coins: inv.availableCurrencies, Postbacks: inv.postbacks}
}

// Payments lists every invoice, oldest first.
func (s *Simulator) Payments() []SimPayment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SimPayment, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.snapshot(s.invoices[id]))
	}
	return out
}

// Callbacks returns the postback delivery log.
func (s *Simulator) Callbacks() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

// SendPostback starts delivery of a postback of the given kind for the
// invoice, whatever its status (with the usual retries on non-2xx).
func (s *Simulator) SendPostback(id string, kind PostbackKind) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.lookup(id)
	if !ok {
		return ErrSimNotFound
	}
	if kind == PostbackDuplicate {
		if _, sent := s.lastBody[inv.id]; !sent {
			return errors.New("simulator: nothing sent yet to duplicate")
		}
	}
	s.startPostbackLocked(inv, kind)
	return nil
}

// startPostbackLocked starts a delivery job; callers hold s.mu.
func (s *Simulator) startPostbackLocked(inv *simInvoice, kind PostbackKind) {
	if s.cfg.CallbackURL == "" || s.ctx.Err() != nil {
		return
	}
	inv.postbacks++
	s.wg.Add(1)
	go s.deliver(inv.id, kind)
}

// deliver sends one postback, retrying on non-2xx; each attempt gets a
// fresh token, as CryptoCloud documents.
func (s *Simulator) deliver(id string, kind PostbackKind) {
	defer s.wg.Done()
	s.mu.Lock()
	interval, attempts := s.cfg.RetryInterval, s.cfg.MaxAttempts
	s.mu.Unlock()
	for attempt := 1; attempt <= attempts; attempt++ {
		ct, body, target, err := s.buildPostback(id, kind)
		d := Delivery{InvoiceID: id, Attempt: attempt, Kind: kind, ContentType: ct, Body: body}
		if err == nil {
			d.StatusCode, err = s.post(target, ct, body)
		}
		if err != nil {
			d.Err = err.Error()
		}
		s.mu.Lock()
		d.At = s.cfg.Now()
		s.deliveries = append(s.deliveries, d)
		s.mu.Unlock()
		if (d.StatusCode >= 200 && d.StatusCode < 300) || attempt == attempts {
			return
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func (s *Simulator) post(target, ct string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("User-Agent", "cryptocloud-simulator")
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, nil
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
	p := PostbackPayload{Status: "success", InvoiceID: inv.id, AmountCrypto: inv.receivedUSD,
		Currency: "USDT_TRC20", OrderID: inv.orderID, InvoiceInfo: info}
	now := s.cfg.Now()
	secret, exp := s.cfg.SecretKey, now.Add(TokenLifetime)
	switch kind {
	case PostbackWrongSecret:
		secret = "not-" + secret
	case PostbackExpired:
		exp = now.Add(-10 * time.Minute)
	}
	tok := ""
	if kind != PostbackNoToken {
		if tok, err = SignToken(secret, inv.id, s.cfg.TokenClaim, exp); err != nil {
			return "", nil, "", err
		}
	}
	if kind == PostbackTampered {
		// Signed for this invoice, delivered as another one's.
		p.InvoiceID = "TAMPERED"
		p.InvoiceInfo = nil
	}
	ct, body, err = EncodePostback(p, tok, s.cfg.PostbackFormat)
	if err == nil && kind == PostbackGenuine {
		s.lastBody[id] = sentBody{ct, body}
	}
	return ct, body, target, err
}

var payPage = template.Must(template.New("pay").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Invoice {{.ID}}</title>
<style>body{font-family:sans-serif;max-width:32em;margin:2em auto}button{margin:.2em;padding:.5em 1em}</style>
</head><body>
<h1>CryptoCloud (simulated)</h1>
<p>Invoice <b>{{.ID}}</b> for order <b>{{.OrderID}}</b></p>
<p>Amount: <b>{{.AmountFiat}} {{.Fiat}}</b> ({{.AmountUSD}} USDT_TRC20)</p>
{{if .Coins}}<p>Pay with: {{range $i, $c := .Coins}}{{if $i}}, {{end}}{{$c}}{{end}}</p>{{end}}
<p>Received: {{.ReceivedUSD}} USDT_TRC20 &middot; Status: <b id="status">{{.Status}}</b></p>
{{if .Open}}<p>The invoice expires at {{.ExpiresAt.UTC.Format "15:04:05 UTC, Mon 2 Jan 2006"}}.</p>
{{else if eq .Status "canceled"}}<p id="expired">This invoice was <b>cancelled or expired</b> (it expired at {{.ExpiresAt.UTC.Format "15:04:05 UTC, Mon 2 Jan 2006"}}); it can no longer be paid.</p>{{end}}
{{if eq .Status "partial"}}<p id="partial">Partly paid: {{.ReceivedUSD}} of {{.AmountUSD}} USDT_TRC20 received. Pay the rest before
the invoice expires, or go back to the shop and come back later from your order.</p>{{end}}
{{if .Open}}<form method="post">
{{if eq .Status "partial"}}<button name="mode" value="exact">Pay the rest</button>{{else}}
<button name="mode" value="exact">Pay exact</button>
<button name="mode" value="under">Underpay (90%)</button>
<button name="mode" value="over">Overpay (110%)</button>{{end}}
<button name="mode" value="expire">Let it expire</button>
</form>{{end}}
{{if and .ShopURL (ne .Status "created")}}<p><a href="{{.ShopURL}}">Back to the shop</a></p>{{end}}
</body></html>`))

type payView struct {
	SimPayment
	Open    bool
	ShopURL string // the project's success URL: CryptoCloud has no per-invoice return address
}

func (s *Simulator) handlePayPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.Payment(r.PathValue("id"))
	if !ok {
		http.Error(w, "invoice not found", http.StatusNotFound)
		return
	}
	s.mu.Lock()
	shop := s.cfg.SuccessURL
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = payPage.Execute(w, payView{p, p.Status == StatusCreated || p.Status == StatusPartial, shop})
}

func (s *Simulator) act(id, mode string) error {
	switch mode {
	case "exact", "rest", "":
		return s.PayExact(id)
	case "under":
		return s.Underpay(id)
	case "over":
		return s.Overpay(id)
	case "expire":
		return s.Expire(id)
	}
	return fmt.Errorf("simulator: unknown mode %q", mode)
}

func (s *Simulator) handlePayForm(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	mode := r.FormValue("mode")
	if err := s.act(id, mode); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	p, _ := s.Payment(id)
	s.mu.Lock()
	success, fail := s.cfg.SuccessURL, s.cfg.FailURL
	s.mu.Unlock()
	target := "/pay/" + BareID(id)
	switch {
	case (p.Status == StatusPaid || p.Status == StatusOverpaid) && success != "":
		target = success
	case p.Status == StatusCanceled && fail != "":
		target = fail
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (s *Simulator) handleSimGet(w http.ResponseWriter, r *http.Request) {
	p, ok := s.Payment(r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Simulator) handleSimPay(w http.ResponseWriter, r *http.Request) {
	s.simControl(w, r, r.URL.Query().Get("mode"))
}

func (s *Simulator) handleSimExpire(w http.ResponseWriter, r *http.Request) {
	s.simControl(w, r, "expire")
}

func (s *Simulator) simControl(w http.ResponseWriter, r *http.Request, mode string) {
	id := r.PathValue("id")
	if err := s.act(id, mode); err != nil {
		code := http.StatusConflict
		if errors.Is(err, ErrSimNotFound) {
			code = http.StatusNotFound
		}
		writeJSON(w, code, map[string]string{"error": err.Error()})
		return
	}
	p, _ := s.Payment(id)
	writeJSON(w, http.StatusOK, p)
}
