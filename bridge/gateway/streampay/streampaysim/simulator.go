package streampaysim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/wcbridge/wcbridge/bridge/gateway/simkit"
)

// Config configures a Simulator. DefaultConfig fills in
// what a demo needs.
type Config struct {
	// ClientIDs are the approved shops; any other client id gets 403.
	ClientIDs []string
	// SecretKey signs callbacks.
	SecretKey string
	// PublicURL is the simulator's base URL, used for the hosted page
	// links; empty: taken from the request's Host.
	PublicURL string
	// CallbackURL receives callbacks; empty: none are sent.
	CallbackURL string
	// Lifetime of a payment link; the documented example shows 10 minutes.
	Lifetime time.Duration
	// RetryInterval between callback attempts (documented: 10 minutes) and
	// RetryFor, how long delivery is retried (documented: 3 days).
	RetryInterval time.Duration
	RetryFor      time.Duration
	// MaxAttempts caps callback attempts per payment; 0: until RetryFor.
	MaxAttempts int
	// CallbackOnUnderpay sends a callback for an underpayment too.
	// ASSUMPTION: the docs say the gateway "checks that the client
	// transferred enough money", so by default an underpayment stays
	// pending without a callback.
	CallbackOnUnderpay bool
	// ShowErrCallback makes the status API answer ERR_CALLBACK while a
	// callback is failing: the handling-callbacks page says the payment
	// shows ERR_CALLBACK meanwhile (on by default in
	// DefaultConfig).
	ShowErrCallback bool
	// StatusLag is how long after its creation the status host does not know
	// a payment yet (creation and status live on two hosts): it answers
	// not_found, as for any id it does not know.
	StatusLag time.Duration
	// NotFound404 answers not_found with HTTP 404 and a JSON body naming the
	// payment, instead of a 200 {"status":"not_found"}; which one StreamPay
	// sends is not documented.
	NotFound404 bool
	// USDPerToken is the native token's price (default 2.00) and
	// USDPerEUR the euro's (default 1.10); they convert between units.
	USDPerToken decimal.Decimal
	USDPerEUR   decimal.Decimal
	Token       string // native token name, default "STRM"
	Network     string // default "testnet"
	// Now is the clock; default time.Now.
	Now func() time.Time
	// HTTPClient delivers callbacks; default a client with a 10s timeout.
	HTTPClient *http.Client
}

// DefaultConfig is good for a demo: client id "demo-client",
// secret "demo-secret", 10-minute links, callbacks retried every 5 seconds.
func DefaultConfig() Config {
	return Config{
		ClientIDs:       []string{"demo-client"},
		SecretKey:       "demo-secret",
		Lifetime:        10 * time.Minute,
		RetryInterval:   5 * time.Second,
		RetryFor:        72 * time.Hour,
		ShowErrCallback: true,
	}
}

// timeLayout is RFC 3339 with a numeric offset, "+00:00" in UTC, as in the
// documented examples.
const timeLayout = "2006-01-02T15:04:05-07:00"

// tokenDecimals is the native token's smallest-unit scale (NEAR-style
// yocto, 10^24; the docs' "1024" is a mangled 10^24).
const tokenDecimals = 24

// Payment is a snapshot of one simulated payment.
type Payment struct {
	ID          string
	ClientID    string
	Name        string
	Description string
	ReturnURL   string
	AmountField string          // "amount_usd", "amount_eur" or "amount"
	AmountUSD   decimal.Decimal // asked
	AmountEUR   decimal.Decimal
	AmountToken decimal.Decimal
	ReceivedUSD decimal.Decimal // paid so far
	ReceivedTok decimal.Decimal
	CreatedAt   time.Time
	ExpiryAt    time.Time
	ProcessedAt time.Time // zero until completed
	TxHash      string
	SignerID    string
	Address     string
	Status      string // as the status API would answer now
	// CallbackFailing is true while a callback is due and not yet answered 2xx.
	CallbackFailing bool
	// Delivering is true while a delivery loop runs for the payment (until
	// a 2xx, or until it gives up after RetryFor or MaxAttempts).
	Delivering bool
}

// Simulator is an in-memory StreamPay: the create, manual-create and status
// endpoints, a hosted payment page, signed callbacks with retries, and
// controls for tests and demos. It is an http.Handler.
type Simulator struct {
	simkit.Faults // FailNext, FailNextCreate, Hang

	cfg Config
	mux *http.ServeMux

	mu            sync.Mutex
	payments      map[string]*simPayment
	order         []string
	lastBody      map[string][]byte // last genuine callback per payment
	createAttempt int
	requests      int

	sender *simkit.Sender
}

type simPayment struct {
	Payment
	delivering bool      // a delivery loop runs for it
	again      bool      // paid again while delivering
	knownAt    time.Time // when the status host learns of it (StatusLag)
}

// New returns a simulator; call Close to stop callback delivery.
func New(cfg Config) *Simulator {
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = 10 * time.Minute
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 10 * time.Minute
	}
	if cfg.RetryFor <= 0 {
		cfg.RetryFor = 72 * time.Hour
	}
	if cfg.USDPerToken.IsZero() {
		cfg.USDPerToken = decimal.RequireFromString("2.00")
	}
	if cfg.USDPerEUR.IsZero() {
		cfg.USDPerEUR = decimal.RequireFromString("1.10")
	}
	if cfg.Token == "" {
		cfg.Token = "STRM"
	}
	if cfg.Network == "" {
		cfg.Network = "testnet"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	s := &Simulator{
		cfg:      cfg,
		payments: map[string]*simPayment{},
		lastBody: map[string][]byte{},
		sender:   simkit.NewSender(cfg.HTTPClient, cfg.Now),
	}
	m := http.NewServeMux()
	m.HandleFunc("POST /api/v1/payment/{client_id}/page", s.api(s.handleCreatePage))
	m.HandleFunc("POST /api/v1/payment/{client_id}", s.api(s.handleCreateManual))
	m.HandleFunc("GET /api/v1/payment/{payment_id}", s.api(s.handleStatus))
	m.HandleFunc("GET /pay/{id}", s.handlePage)
	m.HandleFunc("POST /pay/{id}", s.handlePageAction)
	simkit.Controls(m, s)
	s.mux = m
	return s
}

var _ simkit.Simulator = (*Simulator)(nil)

// Name is the gateway's short name.
func (s *Simulator) Name() string { return "streampay" }

// ServeHTTP serves the simulated API.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// SetPublicURL sets the base URL of hosted page links (after the test
// server started).
func (s *Simulator) SetPublicURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.PublicURL = strings.TrimRight(u, "/")
}

// SetCallbackURL sets where callbacks go.
func (s *Simulator) SetCallbackURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.CallbackURL = u
}

// Close stops callback delivery and waits for it.
func (s *Simulator) Close() { s.sender.Close() }

// CreateCalls counts create calls that reached the simulator, failed ones
// included.
func (s *Simulator) CreateCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createAttempt
}

// Requests counts API calls received.
func (s *Simulator) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Payment returns a snapshot of a payment.
func (s *Simulator) Payment(id string) (Payment, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payments[id]
	if !ok {
		return Payment{}, false
	}
	return s.snapshot(p), true
}

// Payments lists snapshots of all payments, oldest first.
func (s *Simulator) Payments() []Payment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Payment, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.snapshot(s.payments[id]))
	}
	return out
}

// Callbacks returns the delivery log.
func (s *Simulator) Callbacks() []simkit.Delivery { return s.sender.Deliveries() }

func (s *Simulator) snapshot(p *simPayment) Payment {
	sp := p.Payment
	sp.Status = s.statusLocked(p)
	sp.Delivering = p.delivering
	return sp
}

func (s *Simulator) statusLocked(p *simPayment) string {
	switch {
	case !p.ProcessedAt.IsZero() && p.CallbackFailing && s.cfg.ShowErrCallback:
		return StatusErrCallback
	case !p.ProcessedAt.IsZero():
		return StatusCompleted
	case !s.cfg.Now().Before(p.ExpiryAt):
		return StatusNotFound
	}
	return StatusPending
}

// PayExact pays exactly the asked amount.
func (s *Simulator) PayExact(id string) error { return s.payFraction(id, "1") }

// Underpay pays 90% of the asked amount.
func (s *Simulator) Underpay(id string) error { return s.payFraction(id, "0.9") }

// Overpay pays 110% of the asked amount.
func (s *Simulator) Overpay(id string) error { return s.payFraction(id, "1.1") }

func (s *Simulator) payFraction(id, f string) error {
	s.mu.Lock()
	p, ok := s.payments[id]
	var usd decimal.Decimal
	if ok {
		usd = p.AmountUSD.Mul(decimal.RequireFromString(f))
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %q", simkit.ErrUnknown, id)
	}
	return s.Pay(id, usd)
}

// Pay records a transfer worth amountUSD (added to earlier ones); without
// an amount it pays what is still due. Once the total covers the asked
// amount the payment completes, even after expiry, and a callback goes out;
// a shortfall keeps it pending (with a callback only under
// CallbackOnUnderpay).
func (s *Simulator) Pay(id string, amountUSD ...decimal.Decimal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payments[id]
	if !ok {
		return fmt.Errorf("%w: %q", simkit.ErrUnknown, id)
	}
	if !p.ProcessedAt.IsZero() {
		return fmt.Errorf("simulator: payment %q already completed", id)
	}
	usd := p.AmountUSD.Sub(p.ReceivedUSD)
	if len(amountUSD) > 0 {
		usd = amountUSD[0]
	}
	if !usd.IsPositive() {
		return fmt.Errorf("simulator: amount must be positive")
	}
	p.ReceivedUSD = p.ReceivedUSD.Add(usd)
	p.ReceivedTok = p.ReceivedTok.Add(usd.DivRound(s.cfg.USDPerToken, 8))
	if p.ReceivedUSD.Cmp(p.AmountUSD) >= 0 {
		p.ProcessedAt = s.cfg.Now().UTC()
		p.TxHash = randomID(44)
		p.SignerID = "buyer" + strings.ToLower(randomID(6)) + ".strm"
	} else if !s.cfg.CallbackOnUnderpay {
		return nil
	}
	s.startDeliveryLocked(p)
	return nil
}

// Expire moves the payment's expiry five minutes into the past, so the
// status API says not_found (until it is paid) and a receiver's grace after
// expiry is over.
func (s *Simulator) Expire(id string) error {
	return s.ExpireAt(id, s.cfg.Now().UTC().Add(-5*time.Minute))
}

// ExpireAt sets the payment's expiry.
func (s *Simulator) ExpireAt(id string, t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payments[id]
	if !ok {
		return fmt.Errorf("%w: %q", simkit.ErrUnknown, id)
	}
	p.ExpiryAt = t.UTC().Truncate(time.Second)
	return nil
}

// SetNotFound404 sets whether not_found is answered as a 404 naming the
// payment rather than a 200.
func (s *Simulator) SetNotFound404(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.NotFound404 = on
}

// SetStatusLag sets how long the status host does not know new payments.
func (s *Simulator) SetStatusLag(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.StatusLag = d
}

// callbackLocked builds the payment's callback as sent now.
func (s *Simulator) callbackLocked(p *simPayment) callback {
	return callback{
		PaymentID:         p.ID,
		Amount:            p.AmountToken.String(),
		AmountUSD:         p.AmountUSD.String(),
		ReceivedAmount:    p.ReceivedTok.String(),
		ReceivedAmountUSD: p.ReceivedUSD.String(),
		CurrentDateTime:   s.cfg.Now().UTC().Format(timeLayout),
	}
}

// startDeliveryLocked sends the payment's callback in the background,
// retrying every RetryInterval until a 2xx, for RetryFor or MaxAttempts.
// Each attempt is re-signed with the current time, as current_datetime is
// the send time. RetryFor is measured on the simulator's clock (Now), so a
// test that drives the clock decides when delivery gives up.
func (s *Simulator) startDeliveryLocked(p *simPayment) {
	if s.cfg.CallbackURL == "" {
		return
	}
	p.CallbackFailing = true
	if p.delivering {
		p.again = true // the running loop sends the new figures next
		return
	}
	p.delivering = true
	id := p.ID
	s.sender.Start(simkit.Job{
		ID: id, Kind: "callback",
		Retry: simkit.Retry{Interval: s.cfg.RetryInterval, MaxAttempts: s.cfg.MaxAttempts, For: s.cfg.RetryFor},
		Build: func() (simkit.Post, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			p := s.payments[id]
			p.again = false
			body := signed(s.callbackLocked(p), s.cfg.SecretKey)
			s.lastBody[id] = body
			return s.postLocked(body), nil
		},
		Settled: func(code int, last bool) bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			p := s.payments[id]
			switch {
			case p.again: // paid again meanwhile: report the new figures
				return true
			case code >= 200 && code < 300:
				p.CallbackFailing, p.delivering = false, false
			case last:
				p.delivering = false // gives up; the status stays ERR_CALLBACK
			}
			return false
		},
	})
}

func (s *Simulator) postLocked(body []byte) simkit.Post {
	return simkit.Post{URL: s.cfg.CallbackURL, ContentType: "application/json", Body: body}
}

// send POSTs one callback body once and logs the attempt.
func (s *Simulator) send(id, kind string, body []byte) int {
	s.mu.Lock()
	p := s.postLocked(body)
	s.mu.Unlock()
	return s.sender.Send(id, kind, "", 1, p)
}

// SendDuplicate re-sends the payment's last genuine callback verbatim,
// once, and returns the receiver's status code.
func (s *Simulator) SendDuplicate(id string) (int, error) {
	s.mu.Lock()
	body, ok := s.lastBody[id]
	s.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("simulator: no callback sent yet for %q", id)
	}
	return s.send(id, "duplicate", body), nil
}

// SendForged sends, once, a callback for the payment claiming full payment
// with a made-up signature.
func (s *Simulator) SendForged(id string) (int, error) {
	return s.sendVariant(id, "forged", func(c callback) []byte {
		c.ReceivedAmountUSD = c.AmountUSD
		c.Signature = strings.Repeat("ab", 32)
		b, _ := json.Marshal(c)
		return b
	})
}

// SendTampered sends, once, a genuinely signed callback whose received
// amount was raised after signing.
func (s *Simulator) SendTampered(id string) (int, error) {
	return s.sendVariant(id, "tampered", func(c callback) []byte {
		c.Signature = sign(c, s.cfg.SecretKey)
		c.ReceivedAmountUSD = "1" + c.ReceivedAmountUSD
		b, _ := json.Marshal(c)
		return b
	})
}

// SendWrongSecret sends, once, a callback signed with another secret.
func (s *Simulator) SendWrongSecret(id string) (int, error) {
	return s.sendVariant(id, "wrong-secret", func(c callback) []byte {
		return signed(c, s.cfg.SecretKey+"-other")
	})
}

// SendStale sends, once, a genuinely signed callback dated three days ago.
// StreamPay documents no freshness window, so a receiver should accept it.
func (s *Simulator) SendStale(id string) (int, error) {
	return s.sendVariant(id, "stale", func(c callback) []byte {
		c.CurrentDateTime = s.cfg.Now().UTC().Add(-72 * time.Hour).Format(timeLayout)
		return signed(c, s.cfg.SecretKey)
	})
}

func (s *Simulator) sendVariant(id, kind string, build func(callback) []byte) (int, error) {
	s.mu.Lock()
	p, ok := s.payments[id]
	var body []byte
	if ok {
		body = build(s.callbackLocked(p))
	}
	s.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("%w: %q", simkit.ErrUnknown, id)
	}
	return s.send(id, kind, body), nil
}

// api wraps an API handler with request counting, injected failures and
// delays.
func (s *Simulator) api(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests++
		isCreate := r.Method == http.MethodPost
		if isCreate {
			s.createAttempt++
		}
		s.mu.Unlock()
		status, ok := s.Intercept(r.Context(), isCreate)
		if !ok {
			return
		}
		if status != 0 {
			writeError(w, status, http.StatusText(status))
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) { simkit.WriteJSON(w, status, v) }

// writeError answers {"error": msg}. StreamPay's error shape is not
// documented; this one is an assumption.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func (s *Simulator) approved(clientID string) bool {
	for _, id := range s.cfg.ClientIDs {
		if id == clientID {
			return true
		}
	}
	return false
}

func (s *Simulator) handleCreatePage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.create(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, pageObject{PaymentID: p.ID, URL: s.pageURL(r, p.ID), ExpiryAt: p.ExpiryAt.Format(timeLayout)})
}

func (s *Simulator) handleCreateManual(w http.ResponseWriter, r *http.Request) {
	p, ok := s.create(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	po := s.objectLocked(s.payments[p.ID])
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, po)
}

// create validates a create request and stores the payment.
func (s *Simulator) create(w http.ResponseWriter, r *http.Request) (Payment, bool) {
	s.mu.Lock()
	ok := s.approved(r.PathValue("client_id"))
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusForbidden, "shop is not approved")
		return Payment{}, false
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	if err := dec.Decode(&raw); err != nil || raw == nil {
		writeError(w, http.StatusBadRequest, "body must be a json object")
		return Payment{}, false
	}
	str := func(k string) (string, bool) {
		v, ok := raw[k]
		if !ok {
			return "", true
		}
		var s string
		return s, json.Unmarshal(v, &s) == nil
	}
	var errs []string
	name, ok1 := str("name")
	desc, ok2 := str("description")
	ret, ok3 := str("return_url")
	if !ok1 || strings.TrimSpace(name) == "" {
		errs = append(errs, "name is required")
	}
	if !ok2 {
		errs = append(errs, "description must be a string")
	}
	if !ok3 || strings.TrimSpace(ret) == "" {
		errs = append(errs, "return_url is required")
	}
	var field string
	var amt decimal.Decimal
	for _, k := range []string{"amount_usd", "amount_eur", "amount"} {
		v, ok := raw[k]
		if !ok {
			continue
		}
		if field != "" {
			errs = append(errs, "exactly one of amount_usd, amount_eur, amount is allowed")
			break
		}
		field = k
		text, err := amountText(v)
		if err != nil {
			errs = append(errs, k+" must be a decimal")
			continue
		}
		d, err := decimal.NewFromString(text)
		if err != nil || !d.IsPositive() {
			errs = append(errs, k+" must be a positive decimal")
			continue
		}
		amt = d
	}
	if field == "" {
		errs = append(errs, "one of amount_usd, amount_eur, amount is required")
	}
	if len(errs) > 0 {
		writeError(w, http.StatusUnprocessableEntity, strings.Join(errs, "; "))
		return Payment{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now().UTC().Truncate(time.Second)
	p := &simPayment{Payment: Payment{
		ID: randomID(22), ClientID: r.PathValue("client_id"),
		Name: name, Description: desc, ReturnURL: ret, AmountField: field,
		CreatedAt: now, ExpiryAt: now.Add(s.cfg.Lifetime),
		Address: strings.ToLower(randomHex(32)),
	}, knownAt: s.cfg.Now().Add(s.cfg.StatusLag)}
	switch field {
	case "amount_usd":
		p.AmountUSD = amt
		p.AmountEUR = amt.DivRound(s.cfg.USDPerEUR, 2)
		p.AmountToken = amt.DivRound(s.cfg.USDPerToken, 8)
	case "amount_eur":
		p.AmountEUR = amt
		p.AmountUSD = amt.Mul(s.cfg.USDPerEUR)
		p.AmountToken = p.AmountUSD.DivRound(s.cfg.USDPerToken, 8)
	default:
		p.AmountToken = amt
		p.AmountUSD = amt.Mul(s.cfg.USDPerToken)
		p.AmountEUR = p.AmountUSD.DivRound(s.cfg.USDPerEUR, 2)
	}
	s.payments[p.ID] = p
	s.order = append(s.order, p.ID)
	return p.Payment, true
}

func (s *Simulator) pageURL(r *http.Request, id string) string {
	s.mu.Lock()
	base := s.cfg.PublicURL
	s.mu.Unlock()
	if base == "" {
		base = "http://" + r.Host
	}
	return base + "/pay/" + id
}

func (s *Simulator) handleStatus(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.PathValue("payment_id")
	p, ok := s.payments[id]
	if !ok || s.cfg.Now().Before(p.knownAt) {
		// Ids this host does not know (yet): documented only as not_found
		// for expired payments; answered the same way.
		if s.cfg.NotFound404 {
			writeJSON(w, http.StatusNotFound, map[string]string{"payment_id": id, "status": StatusNotFound})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": StatusNotFound})
		return
	}
	writeJSON(w, http.StatusOK, s.objectLocked(p))
}

// objectLocked renders the PaymentObject as the status API shows it.
func (s *Simulator) objectLocked(p *simPayment) paymentObject {
	const ts = timeLayout
	smallest := p.AmountToken.Shift(tokenDecimals).Truncate(0).BigInt()
	usdc := p.AmountUSD.Shift(6).Truncate(0).BigInt()
	po := paymentObject{
		PaymentID: p.ID,
		Network:   s.cfg.Network,
		Status:    s.statusLocked(p),
		Address:   p.Address,
		Addresses: []coinObject{
			{Blockchain: "solana", Address: p.Address, Contract: "wrap.strm", Token: s.cfg.Token,
				Amount: numString(smallest.String()), DisplayAmount: numString(p.AmountToken.StringFixed(5)),
				Icon: "/img/currencies/strm.svg"},
			{Blockchain: "solana", Address: p.Address, Contract: "usdc", Token: "USDC",
				Amount: numString(usdc.String()), DisplayAmount: numString(p.AmountUSD.StringFixed(2)),
				Icon: "/img/currencies/usdc.svg"},
		},
		Amount:           numString(smallest.String()),
		Name:             p.Name,
		Description:      p.Description,
		DisplayAmountUSD: numString(p.AmountUSD.StringFixed(2)),
		DisplayAmountEUR: numString(p.AmountEUR.StringFixed(2)),
		DisplayAmount:    numString(p.AmountToken.StringFixed(5)),
		LocalCurrency:    "usd",
		ReturnURL:        p.ReturnURL,
		ExpiryAt:         p.ExpiryAt.Format(ts),
		CreatedAt:        p.CreatedAt.Format(ts),
	}
	if p.AmountField == "amount_eur" {
		po.LocalCurrency = "eur"
	}
	if !p.ProcessedAt.IsZero() {
		po.ProcessedAt = p.ProcessedAt.Format(ts)
		po.TransactionHash = p.TxHash
		po.SignerID = p.SignerID
	}
	return po
}

var pageBody = template.Must(template.New("body").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.UTC().Format("15:04:05 UTC, Mon 2 Jan 2006") },
}).Parse(`{{with .Description}}<p>{{.}}</p>{{end}}
<p>Amount: <strong>{{.AmountUSD}} USD</strong> ({{.AmountToken}} {{.Token}})</p>
{{if .Expired}}<p id="expired">Status: <strong id="status">{{.Status}}</strong>. This payment link <strong>expired at {{when .ExpiryAt}}</strong>; it can no longer be paid here.</p>
{{else if eq .Status "pending"}}<p>Status: <strong id="status">{{.Status}}</strong>; the link expires at {{when .ExpiryAt}}.</p>
{{if .ReceivedUSD.IsPositive}}<p id="partial">Received so far: <strong>{{.ReceivedUSD}} USD</strong> of {{.AmountUSD}} USD.
StreamPay waits for the full amount: the payment stays pending, and the shop hears nothing, until the rest
arrives (or the link expires).</p>{{end}}
{{else}}<p>Status: <strong id="status">{{.Status}}</strong>.</p>{{end}}`))

type pageData struct {
	Payment
	Token   string
	Expired bool // past its expiry and not paid: nothing to pay here any more
}

func (s *Simulator) handlePage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.Payment(r.PathValue("id"))
	if !ok {
		http.Error(w, "payment not found", http.StatusNotFound)
		return
	}
	d := pageData{Payment: p, Token: s.cfg.Token, Expired: p.ProcessedAt.IsZero() && !s.cfg.Now().Before(p.ExpiryAt)}
	var body strings.Builder
	_ = pageBody.Execute(&body, d)
	page := simkit.Page{Title: "StreamPay simulator – " + p.Name, Heading: p.Name, Body: template.HTML(body.String()), Action: "/pay/" + p.ID}
	switch {
	case d.Expired || p.Status != StatusPending:
		page.Back = p.ReturnURL
	case p.ReceivedUSD.IsPositive():
		page.Buttons = []simkit.Button{{Mode: simkit.Rest, Label: "Pay the rest (" + p.AmountUSD.Sub(p.ReceivedUSD).String() + " USD)"}, {Mode: simkit.Expire, Label: "Let it expire"}}
		page.Back = p.ReturnURL
	default:
		page.Buttons = simkit.StandardButtons(90, 110)
	}
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
	if mode != simkit.Expire && p.Status != StatusPending && p.Status != StatusNotFound {
		http.Redirect(w, r, p.ReturnURL, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/pay/"+id, http.StatusSeeOther)
}

// Act does m to payment id. A late payment is a payment in full: StreamPay
// completes a payment whenever the money arrives, expired or not. StreamPay
// documents no cancel.
func (s *Simulator) Act(id string, m simkit.Mode) error {
	switch m {
	case simkit.Exact, simkit.Late:
		return s.PayExact(id)
	case simkit.Under:
		return s.Underpay(id)
	case simkit.Over:
		return s.Overpay(id)
	case simkit.Rest:
		return s.Pay(id)
	case simkit.Expire:
		return s.Expire(id)
	}
	return fmt.Errorf("%w: %s", simkit.ErrUnsupported, m)
}

// Show is the payment as the status API shows it.
func (s *Simulator) Show(id string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payments[id]
	if !ok {
		return nil, false
	}
	return s.objectLocked(p), true
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomID returns n base62 characters, like StreamPay's payment ids.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = base62[int(b[i])%len(base62)]
	}
	return string(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
