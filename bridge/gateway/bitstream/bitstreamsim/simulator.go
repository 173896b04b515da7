package bitstreamsim

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wcbridge/wcbridge/bridge/gateway/simkit"
)

// Config configures a Simulator.
type Config struct {
	// APIKey is the only Bearer key the simulator accepts.
	APIKey string
	// PublicURL is the base of the hosted pages the sessions' url points to
	// (the httptest server's URL in tests).
	PublicURL string
	// AssetDecimals is each token's on-chain precision, declared as
	// addresses[].asset.decimals (USDC 6 in the documented session); a
	// token missing here is refused as a currency. It is not the API's unit.
	AssetDecimals map[string]int
	// UnitDecimals is the scale of every amount in the API: 10^-8 of the
	// token whatever the asset's decimals ("1 USDC" = "100000000" in the documented example).
	UnitDecimals int
	// SessionTTL is expiresAt − createdAt (1 hour in the documented example).
	SessionTTL time.Duration
	// Now is the simulator's clock.
	Now func() time.Time
	// NewID returns a fresh id; default random UUIDs (tests pin it for
	// golden files).
	NewID func() string
	// ChainID is the chain offered (80001 in the documented example).
	ChainID int
	// OrganizationID is the merchant organisation echoed in sessions.
	OrganizationID string
	// UnderpayPercent and OverpayPercent size Underpay and Overpay.
	UnderpayPercent, OverpayPercent int64
	// WebhookURL receives the signed webhooks (checkout_session.completed,
	// .expired, .canceled); empty: none are sent. WebhookSecret keys their
	// x-webhook-signature (and is sent as x-webhook-token, as Copperx does).
	WebhookURL    string
	WebhookSecret string
	// WebhookRetry spaces redeliveries of a webhook not answered 2xx, up to
	// WebhookAttempts attempts in all ([ASSUMPTION]: Copperx documents no
	// retry schedule; default every minute, 10 attempts).
	WebhookRetry    time.Duration
	WebhookAttempts int
	// HTTPClient delivers webhooks; default a client with a 10s timeout.
	HTTPClient *http.Client
	// RejectUnknownFields answers 400 to any request field beyond the two
	// documented ones (successUrl, lineItems), like a NestJS whitelist. When
	// false (the default) the assumed cancelUrl, clientReferenceId and
	// metadata are accepted and echoed.
	RejectUnknownFields bool
}

// AssetDecimals returns the on-chain decimals of the tokens the simulator
// offers: USDC 6 as in the documented example session; USDT 6, DAI, ETH
// and MATIC 18, BTC 8 as those tokens are. They say nothing about the
// API's amounts, which are in 10^-8 units for every token.
func AssetDecimals() map[string]int {
	return map[string]int{"usdc": 6, "usdt": 6, "dai": 18, "eth": 18, "btc": 8, "matic": 18}
}

// DefaultConfig returns a configuration good for a local demo.
func DefaultConfig() Config {
	return Config{
		APIKey:          "bs_test_simulator_key",
		PublicURL:       "http://127.0.0.1:8089",
		AssetDecimals:   AssetDecimals(),
		UnitDecimals:    8,
		SessionTTL:      time.Hour,
		ChainID:         80001,
		OrganizationID:  "ea2f521c-0f27-48bf-91f7-87dd8de98034",
		UnderpayPercent: 90,
		OverpayPercent:  110,
		WebhookSecret:   "bs_whsec_simulator_5f0c8e2a9d4b7163",
	}
}

// Simulator is a local stand-in for Bitstream's checkout session API as
// Copperx's documentation describes it (Bitstream's API is Copperx's): the
// create and read calls with amounts in 10^-8 of the token, the session
// statuses open, complete, incomplete and expired, signed webhooks with
// retries, a hosted payment page and controls for tests.
type Simulator struct {
	simkit.Faults // FailNext, FailNextCreate, Hang

	mu       sync.Mutex
	cfg      Config
	sessions map[string]*simSession
	order    []string
	calls    map[string]int
	mux      *http.ServeMux
	webhooks *simkit.Sender
	last     map[string]signedEvent // last genuine webhook per session
}

// New returns a simulator; zero fields of cfg take the defaults.
func New(cfg Config) *Simulator {
	def := DefaultConfig()
	if cfg.AssetDecimals == nil {
		cfg.AssetDecimals = def.AssetDecimals
	}
	if cfg.UnitDecimals <= 0 {
		cfg.UnitDecimals = def.UnitDecimals
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = def.SessionTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = newUUID
	}
	if cfg.ChainID == 0 {
		cfg.ChainID = def.ChainID
	}
	if cfg.OrganizationID == "" {
		cfg.OrganizationID = def.OrganizationID
	}
	if cfg.UnderpayPercent <= 0 {
		cfg.UnderpayPercent = def.UnderpayPercent
	}
	if cfg.OverpayPercent <= 0 {
		cfg.OverpayPercent = def.OverpayPercent
	}
	if cfg.WebhookRetry <= 0 {
		cfg.WebhookRetry = time.Minute
	}
	if cfg.WebhookAttempts <= 0 {
		cfg.WebhookAttempts = 10
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	s := &Simulator{cfg: cfg, sessions: map[string]*simSession{}, calls: map[string]int{},
		webhooks: simkit.NewSender(cfg.HTTPClient, cfg.Now), last: map[string]signedEvent{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/checkout/sessions", s.handleCreate)
	mux.HandleFunc("GET /api/v1/checkout/sessions/{id}", s.handleGet)
	mux.HandleFunc("GET /payment/checkout-session/{id}", s.handlePage)
	mux.HandleFunc("POST /payment/checkout-session/{id}", s.handlePageAction)
	simkit.Controls(mux, s)
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{StatusCode: 404, Message: fmt.Sprintf("Cannot %s %s", r.Method, r.URL.Path), Error: "Not Found"})
	})
	s.mux = mux
	return s
}

var _ simkit.Simulator = (*Simulator)(nil)

// Name is the gateway's short name.
func (s *Simulator) Name() string { return "bitstream" }

// SetPublicURL sets the base of the hosted page URLs (after the server starts).
func (s *Simulator) SetPublicURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.PublicURL = strings.TrimRight(u, "/")
}

// ServeHTTP serves the API, the hosted pages and the control endpoints.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close stops webhook delivery and waits for it.
func (s *Simulator) Close() { s.webhooks.Close() }

// CreateCalls counts create requests that reached the simulator, failed
// ones included.
func (s *Simulator) CreateCalls() int { return s.Calls("create") }

// Calls returns how many requests reached an operation: "create", "get".
func (s *Simulator) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Payment is a snapshot of a simulated checkout session.
type Payment struct {
	ID                string
	Status            string // open, complete, expired
	PaymentStatus     string // unpaid, paid
	IntentStatus      string // requires_payment_method, succeeded, canceled
	Currency          string
	AmountTotal       *big.Int // smallest units
	AmountReceived    *big.Int // smallest units; zero when nothing arrived
	Name              string
	SuccessURL        string
	CancelURL         string
	ClientReferenceID string
	Metadata          map[string]any
	CreatedAt         time.Time
	ExpiresAt         time.Time
	TxHashes          []string
}

// Payment returns a snapshot of session id.
func (s *Simulator) Payment(id string) (Payment, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok {
		return Payment{}, false
	}
	s.refresh(ss)
	return ss.snapshot(), true
}

// Payments returns snapshots of all sessions, oldest first.
func (s *Simulator) Payments() []Payment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Payment, 0, len(s.order))
	for _, id := range s.order {
		ss := s.sessions[id]
		s.refresh(ss)
		out = append(out, ss.snapshot())
	}
	return out
}

// Pay records an on-chain transfer of units (smallest units) to session id.
// Payments add up; a late payment on an expired session still counts.
func (s *Simulator) Pay(id string, units *big.Int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok {
		return simkit.ErrUnknown
	}
	if units == nil || units.Sign() <= 0 {
		return errors.New("simulator: payment must be positive")
	}
	s.refresh(ss)
	now := s.now()
	ss.received.Add(ss.received, units)
	ss.txs = append(ss.txs, simTx{
		Hash:      fakeHex("tx", ss.id, fmt.Sprint(len(ss.txs)), 64),
		Amount:    new(big.Int).Set(units),
		CreatedAt: now,
	})
	ss.updatedAt = now
	ss.txHash = ss.txs[len(ss.txs)-1].Hash
	switch {
	case ss.received.Cmp(ss.total) >= 0 && ss.paymentStatus != "paid":
		ss.status, ss.paymentStatus, ss.intentStatus = "complete", "paid", "succeeded"
		s.sendEventLocked(ss, EventCompleted)
	case ss.received.Cmp(ss.total) >= 0:
		// Paid again after completion: no further event (Copperx documents
		// none); the amounts show when the session is read.
	default:
		// Money received, less than the total (Copperx's "incomplete"); the
		// customer can still top it up. No event is documented for it.
		ss.status = "incomplete"
	}
	return nil
}

// PayExact pays the session's total.
func (s *Simulator) PayExact(id string) error { return s.payPercent(id, 100) }

// Underpay pays UnderpayPercent of the total (90% by default).
func (s *Simulator) Underpay(id string) error { return s.payPercent(id, s.cfg.UnderpayPercent) }

// Overpay pays OverpayPercent of the total (110% by default).
func (s *Simulator) Overpay(id string) error { return s.payPercent(id, s.cfg.OverpayPercent) }

func (s *Simulator) payPercent(id string, pct int64) error {
	s.mu.Lock()
	ss, ok := s.sessions[id]
	var units *big.Int
	if ok {
		units = new(big.Int).Mul(ss.total, big.NewInt(pct))
		units.Quo(units, big.NewInt(100))
		if units.Sign() == 0 {
			units.SetInt64(1)
		}
	}
	s.mu.Unlock()
	if !ok {
		return simkit.ErrUnknown
	}
	return s.Pay(id, units)
}

// Expire ends an open session now.
func (s *Simulator) Expire(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok {
		return simkit.ErrUnknown
	}
	if ss.status == "open" || ss.status == "incomplete" {
		ss.expiresAt = s.now()
		s.refresh(ss)
	}
	return nil
}

// Cancel cancels an open session's payment intent, as when the customer
// leaves through the cancel link.
func (s *Simulator) Cancel(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok {
		return simkit.ErrUnknown
	}
	if ss.status == "open" && ss.received.Sign() == 0 && ss.intentStatus != "canceled" {
		ss.intentStatus = "canceled"
		ss.updatedAt = s.now()
		s.sendEventLocked(ss, EventCanceled)
	}
	return nil
}

func (s *Simulator) now() time.Time { return s.cfg.Now().UTC() }

// refresh expires a session not fully paid whose time is over: "expired"
// with nothing received, still "incomplete" with some money; either way the
// checkout_session.expired event goes out once. Callers hold s.mu.
func (s *Simulator) refresh(ss *simSession) {
	if (ss.status == "open" || ss.status == "incomplete") && !ss.expiredSent && ss.received.Cmp(ss.total) < 0 && !s.now().Before(ss.expiresAt) {
		if ss.status == "open" {
			ss.status = "expired"
		}
		ss.updatedAt = ss.expiresAt
		ss.expiredSent = true
		s.sendEventLocked(ss, EventExpired)
	}
}

// apiPrologue counts the call, applies Hang and injected failures, and
// checks the Bearer key. It reports whether the handler may go on.
func (s *Simulator) apiPrologue(w http.ResponseWriter, r *http.Request, op string) bool {
	s.mu.Lock()
	s.calls[op]++
	key := s.cfg.APIKey
	s.mu.Unlock()
	status, ok := s.Intercept(r.Context(), op == "create")
	if !ok {
		return false
	}
	if status != 0 {
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
		}
		writeJSON(w, status, apiError{StatusCode: status, Message: http.StatusText(status)})
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || key == "" || subtle.ConstantTimeCompare([]byte(got), []byte(key)) != 1 {
		writeJSON(w, http.StatusUnauthorized, apiError{StatusCode: 401, Message: "Unauthorized"})
		return false
	}
	return true
}

func (s *Simulator) handleCreate(w http.ResponseWriter, r *http.Request) {
	if !s.apiPrologue(w, r, "create") {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{StatusCode: 400, Message: "body unreadable", Error: "Bad Request"})
		return
	}
	req, msgs := s.parseCreate(body)
	if len(msgs) > 0 {
		writeJSON(w, http.StatusBadRequest, apiError{StatusCode: 400, Message: msgs, Error: "Bad Request"})
		return
	}
	s.mu.Lock()
	ss := s.newSession(req)
	obj := s.object(ss)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, obj)
}

// parseCreate validates a create request like class-validator would and
// returns every problem.
func (s *Simulator) parseCreate(body []byte) (*simCreateRequest, []string) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, []string{"body must be a JSON object"}
	}
	var msgs []string
	if s.cfg.RejectUnknownFields {
		for _, k := range sortedKeys(top) {
			if !documentedFields[k] {
				msgs = append(msgs, fmt.Sprintf("property %s should not exist", k))
			}
		}
	}
	var req simCreateRequest
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, append(msgs, fmt.Sprintf("%s must be a %s", te.Field, te.Type))
		}
		return nil, append(msgs, "body must be a JSON object")
	}
	if req.SuccessURL == nil || !isURL(*req.SuccessURL) {
		msgs = append(msgs, "successUrl must be a URL address")
	}
	if req.CancelURL != nil && !isURL(*req.CancelURL) {
		msgs = append(msgs, "cancelUrl must be a URL address")
	}
	if req.ExpiresAt != nil {
		// Copperx documents expiresAt ("Default: 1 Hour"); a time in the
		// past or unreadable is refused ([ASSUMPTION]: its exact checks are
		// not documented).
		if t, err := time.Parse(time.RFC3339Nano, *req.ExpiresAt); err != nil {
			msgs = append(msgs, "expiresAt must be a valid ISO 8601 date string")
		} else if !t.After(s.now()) {
			msgs = append(msgs, "expiresAt must be in the future")
		}
	}
	if req.LineItems == nil || len(req.LineItems.Data) == 0 {
		return nil, append(msgs, "lineItems.data must contain at least 1 elements")
	}
	var currency string
	for i, it := range req.LineItems.Data {
		p := fmt.Sprintf("lineItems.data.%d.", i)
		if it.Quantity != nil {
			if q, err := it.Quantity.Int64(); err != nil || q < 1 {
				msgs = append(msgs, p+"quantity must be a positive integer")
			}
		}
		pd := it.PriceData
		if pd == nil {
			msgs = append(msgs, p+"priceData should not be empty")
			continue
		}
		if pd.Currency == nil {
			msgs = append(msgs, p+"priceData.currency should not be empty")
		} else if _, ok := s.cfg.AssetDecimals[*pd.Currency]; !ok {
			msgs = append(msgs, fmt.Sprintf("%spriceData.currency must be one of the following values: %s", p, strings.Join(sortedKeys(s.cfg.AssetDecimals), ", ")))
		} else if currency == "" {
			currency = *pd.Currency
		} else if currency != *pd.Currency {
			msgs = append(msgs, p+"priceData.currency must match the other line items")
		}
		if pd.UnitAmount == nil {
			msgs = append(msgs, p+"priceData.unitAmount should not be empty")
		} else if n, err := parseUnits(*pd.UnitAmount); err != nil || n.Sign() <= 0 {
			msgs = append(msgs, p+"priceData.unitAmount must be a positive numeric string")
		}
		if pd.ProductData == nil || pd.ProductData.Name == nil || strings.TrimSpace(*pd.ProductData.Name) == "" {
			msgs = append(msgs, p+"priceData.productData.name should not be empty")
		}
	}
	return &req, msgs
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

func (s *Simulator) handleGet(w http.ResponseWriter, r *http.Request) {
	if !s.apiPrologue(w, r, "get") {
		return
	}
	s.mu.Lock()
	ss, ok := s.sessions[r.PathValue("id")]
	var obj *simObject
	if ok {
		s.refresh(ss)
		obj = s.object(ss)
	}
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, apiError{StatusCode: 404, Message: "Checkout session not found", Error: "Not Found"})
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, "encode", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type simTx struct {
	Hash      string
	Amount    *big.Int
	CreatedAt time.Time
}

type simItem struct {
	name, description, currency string
	unitAmount                  *big.Int
	quantity                    int64
	priceID, productID          string
}

type simSession struct {
	id, intentID, addressID, assetID    string
	createdAt, updatedAt, expiresAt     time.Time
	currency                            string
	total, received                     *big.Int
	items                               []simItem
	successURL                          string
	cancelURL, clientRef                *string
	metadata                            map[string]any
	status, paymentStatus, intentStatus string
	txs                                 []simTx
	txHash                              string // the latest transfer's, top-level once money arrived
	expiredSent                         bool
}

// newSession stores a session for a validated request. Callers hold s.mu.
func (s *Simulator) newSession(req *simCreateRequest) *simSession {
	now := s.now()
	ss := &simSession{
		id: s.cfg.NewID(), intentID: s.cfg.NewID(), addressID: s.cfg.NewID(), assetID: s.cfg.NewID(),
		createdAt: now, updatedAt: now, expiresAt: now.Add(s.cfg.SessionTTL),
		total: new(big.Int), received: new(big.Int),
		cancelURL: req.CancelURL, clientRef: req.ClientReferenceID, metadata: req.Metadata,
		status: "open", paymentStatus: "unpaid", intentStatus: "requires_payment_method",
	}
	if req.ExpiresAt != nil {
		if t, err := time.Parse(time.RFC3339Nano, *req.ExpiresAt); err == nil {
			ss.expiresAt = t.UTC()
		}
	}
	ss.successURL = strings.ReplaceAll(*req.SuccessURL, "{CHECKOUT_SESSION_ID}", ss.id)
	for _, in := range req.LineItems.Data {
		it := simItem{
			name: *in.PriceData.ProductData.Name, currency: *in.PriceData.Currency,
			quantity: 1, priceID: s.cfg.NewID(), productID: s.cfg.NewID(),
		}
		if d := in.PriceData.ProductData.Description; d != nil {
			it.description = *d
		}
		if in.Quantity != nil {
			it.quantity, _ = in.Quantity.Int64()
		}
		it.unitAmount, _ = parseUnits(*in.PriceData.UnitAmount)
		ss.currency = it.currency
		ss.total.Add(ss.total, new(big.Int).Mul(it.unitAmount, big.NewInt(it.quantity)))
		ss.items = append(ss.items, it)
	}
	s.sessions[ss.id] = ss
	s.order = append(s.order, ss.id)
	return ss
}

func (ss *simSession) snapshot() Payment {
	p := Payment{
		ID: ss.id, Status: ss.status, PaymentStatus: ss.paymentStatus, IntentStatus: ss.intentStatus,
		Currency: ss.currency, AmountTotal: new(big.Int).Set(ss.total), AmountReceived: new(big.Int).Set(ss.received),
		SuccessURL: ss.successURL, Metadata: ss.metadata, CreatedAt: ss.createdAt, ExpiresAt: ss.expiresAt,
	}
	if len(ss.items) > 0 {
		p.Name = ss.items[0].name
	}
	if ss.cancelURL != nil {
		p.CancelURL = *ss.cancelURL
	}
	if ss.clientRef != nil {
		p.ClientReferenceID = *ss.clientRef
	}
	for _, tx := range ss.txs {
		p.TxHashes = append(p.TxHashes, tx.Hash)
	}
	return p
}

// object renders a session. Callers hold s.mu.
func (s *Simulator) object(ss *simSession) *simObject {
	created, updated := stamp(ss.createdAt), stamp(ss.updatedAt)
	o := &simObject{
		ID: ss.id, CreatedAt: created, UpdatedAt: updated, Mode: "payment",
		PaymentMethodTypes: []string{"wallet"},
		PaymentSetting:     simPaymentSetting{AllowedChains: []simChain{{ChainID: s.cfg.ChainID}}, PreferredChainID: s.cfg.ChainID},
		ExpiresAt:          stamp(ss.expiresAt), CustomerCreation: "if_required", SubmitType: "pay",
		OrganizationID: s.cfg.OrganizationID, AmountTotal: ss.total.String(), Currency: ss.currency,
		ClientReferenceID: ss.clientRef, SuccessURL: ss.successURL, CancelURL: ss.cancelURL,
		Status: ss.status, PaymentStatus: ss.paymentStatus, TransactionHash: ss.txHash, Metadata: ss.metadata,
		URL:       s.cfg.PublicURL + "/payment/checkout-session/" + ss.id,
		LineItems: simLineItems{Object: "list"},
	}
	for _, it := range ss.items {
		o.LineItems.Data = append(o.LineItems.Data, simLineItem{
			AmountTotal: new(big.Int).Mul(it.unitAmount, big.NewInt(it.quantity)).String(),
			Currency:    it.currency, Quantity: it.quantity,
			Price: simPrice{
				ID: it.priceID, CreatedAt: created, UpdatedAt: created, BillingScheme: "per_unit",
				Currency: it.currency, ProductID: it.productID, Type: "one_time", UnitAmount: it.unitAmount.String(),
				Product: simProduct{
					ID: it.productID, CreatedAt: created, UpdatedAt: created, Name: it.name,
					Description: it.description, IsActive: true, Images: []string{}, DefaultPriceID: it.priceID, Visibility: 10,
				},
				IsActive: true, Visibility: 20,
			},
		})
	}
	asset := simAsset{
		ID: ss.assetID, Name: strings.ToUpper(ss.currency), Address: fakeHex("asset", ss.currency, "", 40),
		ChainID: s.cfg.ChainID, Currency: ss.currency, Symbol: strings.ToUpper(ss.currency),
		Decimals: s.cfg.AssetDecimals[ss.currency], CoingeckoID: coingecko[ss.currency], IsPublic: true,
	}
	asset.SuperToken.Address = fakeHex("super", ss.currency, "", 40)
	asset.SuperToken.Symbol = "CX" + strings.ToUpper(ss.currency) + "x"
	asset.SuperToken.Decimals = 18
	o.Addresses = []simAddress{{
		ID: ss.addressID, CreatedAt: created, UpdatedAt: created, CheckoutSessionID: ss.id,
		Asset: asset, PaymentAddress: fakeHex("deposit", ss.id, "", 40),
	}}
	pi := simPaymentIntent{
		ID: ss.intentID, CreatedAt: created, UpdatedAt: updated, OrganizationID: s.cfg.OrganizationID,
		Amount: ss.total.String(), Currency: ss.currency, Status: ss.intentStatus,
		PaymentMethodTypes: []string{"wallet"}, Transactions: []simTransaction{},
	}
	if len(ss.txs) > 0 {
		r := ss.received.String()
		pi.AmountReceived = &r
	}
	for _, tx := range ss.txs {
		pi.Transactions = append(pi.Transactions, simTransaction{Hash: tx.Hash, Amount: tx.Amount.String(), ChainID: s.cfg.ChainID, CreatedAt: stamp(tx.CreatedAt)})
	}
	o.PaymentIntent = pi
	return o
}

// fakeHex derives a stable 0x-prefixed hex string (an address or a hash).
func fakeHex(kind, a, b string, n int) string {
	sum := sha256.Sum256([]byte(kind + "|" + a + "|" + b))
	h := hex.EncodeToString(sum[:])
	for len(h) < n {
		h += h
	}
	return "0x" + h[:n]
}

func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

var pageBody = template.Must(template.New("body").Parse(`<p><strong>{{.Name}}</strong></p>
<p>Amount: <strong id="amount">{{.Amount}} {{.Symbol}}</strong> ({{.Units}} units of 10<sup>-{{.Decimals}}</sup>)</p>
<p>Send to <code>{{.Address}}</code> on chain {{.Chain}}.</p>
<p>Status: <strong id="status">{{.Status}}</strong> / {{.PaymentStatus}}; received {{.Received}} {{.Symbol}}.</p>
{{if .Open}}<p>The session expires at {{.ExpiresAt}}.</p>{{else if eq .Status "expired"}}<p id="expired">This checkout session <strong>expired at {{.ExpiresAt}}</strong>; it can no longer be paid.</p>{{end}}`))

func (s *Simulator) handlePage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ss, ok := s.sessions[r.PathValue("id")]
	var data map[string]any
	var page simkit.Page
	if ok {
		s.refresh(ss)
		dec := s.cfg.UnitDecimals
		p := ss.snapshot()
		open := (ss.status == "open" || ss.status == "incomplete") && ss.intentStatus != "canceled"
		data = map[string]any{
			"Name": p.Name, "Amount": fromUnits(ss.total, dec).String(), "Units": ss.total.String(),
			"Decimals": dec, "Symbol": strings.ToUpper(ss.currency), "Address": fakeHex("deposit", ss.id, "", 40),
			"Chain": s.cfg.ChainID, "Status": ss.status, "PaymentStatus": ss.paymentStatus,
			"Received": fromUnits(ss.received, dec).String(), "ExpiresAt": ss.expiresAt.UTC().Format("15:04:05 UTC, Mon 2 Jan 2006"),
			"Open": open,
		}
		page = simkit.Page{Title: "Bitstream checkout (simulator)", Heading: "Bitstream checkout (simulator)"}
		if open {
			page.Buttons = append(simkit.StandardButtons(s.cfg.UnderpayPercent, s.cfg.OverpayPercent), simkit.Button{Mode: simkit.Cancel, Label: "Cancel"})
		} else {
			page.Back = ss.successURL
		}
	}
	s.mu.Unlock()
	if !ok {
		http.Error(w, "checkout session not found", http.StatusNotFound)
		return
	}
	var body strings.Builder
	_ = pageBody.Execute(&body, data)
	page.Body = template.HTML(body.String())
	simkit.WritePage(w, page)
}

func (s *Simulator) handlePageAction(w http.ResponseWriter, r *http.Request) {
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
	target := r.URL.Path
	switch mode {
	case simkit.Exact, simkit.Under, simkit.Over, simkit.Rest, simkit.Late:
		target = p.SuccessURL
	case simkit.Cancel:
		if p.CancelURL != "" {
			target = p.CancelURL
		}
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// Act does m to session id. Money sent after expiry still counts (Late), and
// a session short of its total can be topped up (Rest).
func (s *Simulator) Act(id string, m simkit.Mode) error {
	switch m {
	case simkit.Exact, simkit.Late:
		return s.PayExact(id)
	case simkit.Under:
		return s.Underpay(id)
	case simkit.Over:
		return s.Overpay(id)
	case simkit.Rest:
		return s.payRest(id)
	case simkit.Expire:
		return s.Expire(id)
	case simkit.Cancel:
		return s.Cancel(id)
	}
	return fmt.Errorf("%w: %s", simkit.ErrUnsupported, m)
}

// payRest pays what the session still lacks.
func (s *Simulator) payRest(id string) error {
	s.mu.Lock()
	ss, ok := s.sessions[id]
	var units *big.Int
	if ok {
		units = new(big.Int).Sub(ss.total, ss.received)
	}
	s.mu.Unlock()
	if !ok {
		return simkit.ErrUnknown
	}
	if units.Sign() <= 0 {
		return errors.New("simulator: nothing left to pay")
	}
	return s.Pay(id, units)
}

// PayAmount pays amount, an integer string of units (10^-8 of the token).
func (s *Simulator) PayAmount(id, amount string) error {
	n, err := parseUnits(amount)
	if err == nil && n.Sign() <= 0 {
		err = errors.New("amount must be positive")
	}
	if err != nil {
		return errors.Join(simkit.ErrBadRequest, err)
	}
	return s.Pay(id, n)
}

// Show is the session object as the API returns it.
func (s *Simulator) Show(id string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok {
		return nil, false
	}
	s.refresh(ss)
	return s.object(ss), true
}
