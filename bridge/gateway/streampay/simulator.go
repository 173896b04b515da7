package streampay

import (
	"bytes"
	"context"
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

	"github.com/wcbridge/wcbridge/bridge/gateway"
)

// SimulatorConfig configures a Simulator. DefaultSimulatorConfig fills in
// what a demo needs.
type SimulatorConfig struct {
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
	// DefaultSimulatorConfig).
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

// DefaultSimulatorConfig is good for a demo: client id "demo-client",
// secret "demo-secret", 10-minute links, callbacks retried every 5 seconds.
func DefaultSimulatorConfig() SimulatorConfig {
	return SimulatorConfig{
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

// SimPayment is a snapshot of one simulated payment.
type SimPayment struct {
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

// Delivery is one callback attempt in the simulator's log.
type Delivery struct {
	PaymentID  string
	Kind       string // "callback", "duplicate", "forged", "tampered", "wrong-secret", "stale"
	Attempt    int
	StatusCode int    // 0 when no answer arrived
	Err        string // transport error
	Body       []byte
	At         time.Time
}

// Simulator is an in-memory StreamPay: the create, manual-create and status
// endpoints, a hosted payment page, signed callbacks with retries, and
// controls for tests and demos. It is an http.Handler.
type Simulator struct {
	gateway.Faults // FailNext, FailNextCreate, Hang

	cfg SimulatorConfig
	mux *http.ServeMux

	mu            sync.Mutex
	payments      map[string]*simPayment
	order         []string
	deliveries    []Delivery
	lastBody      map[string][]byte // last genuine callback per payment
	createAttempt int
	requests      int

	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

type simPayment struct {
	SimPayment
	delivering bool      // a delivery loop runs for it
	again      bool      // paid again while delivering
	knownAt    time.Time // when the status host learns of it (StatusLag)
}

// NewSimulator returns a simulator; call Close to stop callback delivery.
func NewSimulator(cfg SimulatorConfig) *Simulator {
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
		done:     make(chan struct{}),
	}
	m := http.NewServeMux()
	m.HandleFunc("POST /api/v1/payment/{client_id}/page", s.api(s.handleCreatePage))
	m.HandleFunc("POST /api/v1/payment/{client_id}", s.api(s.handleCreateManual))
	m.HandleFunc("GET /api/v1/payment/{payment_id}", s.api(s.handleStatus))
	m.HandleFunc("GET /pay/{id}", s.handlePage)
	m.HandleFunc("POST /pay/{id}", s.handlePageAction)
	m.HandleFunc("POST /_sim/{id}/pay", s.handleSimPay)
	m.HandleFunc("POST /_sim/{id}/expire", s.handleSimExpire)
	m.HandleFunc("GET /_sim/{id}", s.handleSimShow)
	s.mux = m
	return s
}

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
func (s *Simulator) Close() {
	s.once.Do(func() { close(s.done) })
	s.wg.Wait()
}

// CreateAttempts counts create calls that reached the simulator, failed
// ones included.
func (s *Simulator) CreateAttempts() int {
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
func (s *Simulator) Payment(id string) (SimPayment, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payments[id]
	if !ok {
		return SimPayment{}, false
	}
	return s.snapshot(p), true
}

// Payments lists snapshots of all payments, oldest first.
func (s *Simulator) Payments() []SimPayment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SimPayment, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.snapshot(s.payments[id]))
	}
	return out
}

// Callbacks returns the delivery log.
func (s *Simulator) Callbacks() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

func (s *Simulator) snapshot(p *simPayment) SimPayment {
	sp := p.SimPayment
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
		return fmt.Errorf("simulator: no payment %q", id)
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
		return fmt.Errorf("simulator: no payment %q", id)
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
		return fmt.Errorf("simulator: no payment %q", id)
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
func (s *Simulator) callbackLocked(p *simPayment) Callback {
	return Callback{
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
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		start := s.cfg.Now()
		for attempt := 1; ; attempt++ {
			s.mu.Lock()
			p := s.payments[id]
			p.again = false
			body := SignedPayload(s.callbackLocked(p), s.cfg.SecretKey)
			s.lastBody[id] = body
			s.mu.Unlock()
			code := s.deliver(id, "callback", attempt, body)
			s.mu.Lock()
			switch {
			case p.again: // paid again meanwhile: report the new figures
				s.mu.Unlock()
				attempt = 0
				continue
			case code >= 200 && code < 300:
				p.CallbackFailing, p.delivering = false, false
				s.mu.Unlock()
				return
			case s.cfg.MaxAttempts > 0 && attempt >= s.cfg.MaxAttempts,
				s.cfg.Now().Sub(start)+s.cfg.RetryInterval > s.cfg.RetryFor:
				p.delivering = false // gives up; the status stays ERR_CALLBACK
				s.mu.Unlock()
				return
			}
			s.mu.Unlock()
			select {
			case <-s.done:
				return
			case <-time.After(s.cfg.RetryInterval):
			}
		}
	}()
}

// deliver POSTs one callback body and logs the attempt.
func (s *Simulator) deliver(id, kind string, attempt int, body []byte) int {
	s.mu.Lock()
	target := s.cfg.CallbackURL
	s.mu.Unlock()
	d := Delivery{PaymentID: id, Kind: kind, Attempt: attempt, Body: body, At: s.cfg.Now()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		var resp *http.Response
		if resp, err = s.cfg.HTTPClient.Do(req); err == nil {
			resp.Body.Close()
			d.StatusCode = resp.StatusCode
		}
	}
	if err != nil {
		d.Err = err.Error()
	}
	s.mu.Lock()
	s.deliveries = append(s.deliveries, d)
	s.mu.Unlock()
	return d.StatusCode
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
	return s.deliver(id, "duplicate", 1, body), nil
}

// SendForged sends, once, a callback for the payment claiming full payment
// with a made-up signature.
func (s *Simulator) SendForged(id string) (int, error) {
	return s.sendVariant(id, "forged", func(c Callback) []byte {
		c.ReceivedAmountUSD = c.AmountUSD
		c.Signature = strings.Repeat("ab", 32)
		b, _ := json.Marshal(c)
		return b
	})
}

// SendTampered sends, once, a genuinely signed callback whose received
// amount was raised after signing.
func (s *Simulator) SendTampered(id string) (int, error) {
	return s.sendVariant(id, "tampered", func(c Callback) []byte {
		c.Signature = Sign(c, s.cfg.SecretKey)
		c.ReceivedAmountUSD = "1" + c.ReceivedAmountUSD
		b, _ := json.Marshal(c)
		return b
	})
}

// SendWrongSecret sends, once, a callback signed with another secret.
func (s *Simulator) SendWrongSecret(id string) (int, error) {
	return s.sendVariant(id, "wrong-secret", func(c Callback) []byte {
		return SignedPayload(c, s.cfg.SecretKey+"-other")
	})
}

// SendStale sends, once, a genuinely signed callback dated three days ago.
// StreamPay documents no freshness window, so a receiver should accept it.
func (s *Simulator) SendStale(id string) (int, error) {
	return s.sendVariant(id, "stale", func(c Callback) []byte {
		c.CurrentDateTime = s.cfg.Now().UTC().Add(-72 * time.Hour).Format(timeLayout)
		return SignedPayload(c, s.cfg.SecretKey)
	})
}

func (s *Simulator) sendVariant(id, kind string, build func(Callback) []byte) (int, error) {
	s.mu.Lock()
	p, ok := s.payments[id]
	var body []byte
	if ok {
		body = build(s.callbackLocked(p))
	}
	s.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("simulator: no payment %q", id)
	}
	return s.deliver(id, kind, 1, body), nil
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

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
func (s *Simulator) create(w http.ResponseWriter, r *http.Request) (SimPayment, bool) {
	s.mu.Lock()
	ok := s.approved(r.PathValue("client_id"))
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusForbidden, "shop is not approved")
		return SimPayment{}, false
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	if err := dec.Decode(&raw); err != nil || raw == nil {
		writeError(w, http.StatusBadRequest, "body must be a json object")
		return SimPayment{}, false
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
		var n NumString // a JSON string or number, like the public clients send
		if err := json.Unmarshal(v, &n); err != nil {
			errs = append(errs, k+" must be a decimal")
			continue
		}
		d, ok := n.Decimal()
		if !ok || !d.IsPositive() {
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
		return SimPayment{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now().UTC().Truncate(time.Second)
	p := &simPayment{SimPayment: SimPayment{
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
	return p.SimPayment, true
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
func (s *Simulator) objectLocked(p *simPayment) PaymentObject {
	const ts = timeLayout
	smallest := p.AmountToken.Shift(tokenDecimals).Truncate(0).BigInt()
	usdc := p.AmountUSD.Shift(6).Truncate(0).BigInt()
	po := PaymentObject{
		PaymentID: p.ID,
		Network:   s.cfg.Network,
		Status:    s.statusLocked(p),
		Address:   p.Address,
		Addresses: []CoinObject{
			{Blockchain: "solana", Address: p.Address, Contract: "wrap.strm", Token: s.cfg.Token,
				Amount: NumString(smallest.String()), DisplayAmount: NumString(p.AmountToken.StringFixed(5)),
				Icon: "/img/currencies/strm.svg"},
			{Blockchain: "solana", Address: p.Address, Contract: "usdc", Token: "USDC",
				Amount: NumString(usdc.String()), DisplayAmount: NumString(p.AmountUSD.StringFixed(2)),
				Icon: "/img/currencies/usdc.svg"},
		},
		Amount:           NumString(smallest.String()),
		Name:             p.Name,
		Description:      p.Description,
		DisplayAmountUSD: NumString(p.AmountUSD.StringFixed(2)),
		DisplayAmountEUR: NumString(p.AmountEUR.StringFixed(2)),
		DisplayAmount:    NumString(p.AmountToken.StringFixed(5)),
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

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.UTC().Format("15:04:05 UTC, Mon 2 Jan 2006") },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>StreamPay simulator – {{.Name}}</title>
<style>body{font-family:sans-serif;max-width:32em;margin:2em auto;line-height:1.5}
button{font-size:1em;margin:.3em .3em .3em 0;padding:.4em .8em}</style></head>
<body>
<h1>{{.Name}}</h1>
{{with .Description}}<p>{{.}}</p>{{end}}
<p>Amount: <strong>{{.AmountUSD}} USD</strong> ({{.AmountToken}} {{.Token}})</p>
{{if .Expired}}<p id="expired">Status: <strong id="status">{{.Status}}</strong>. This payment link <strong>expired at {{when .ExpiryAt}}</strong>; it can no longer be paid here.</p>
<p><a href="{{.ReturnURL}}">Back to the shop</a></p>
{{else if eq .Status "pending"}}<p>Status: <strong id="status">{{.Status}}</strong>; the link expires at {{when .ExpiryAt}}.</p>
{{if .ReceivedUSD.IsPositive}}<p id="partial">Received so far: <strong>{{.ReceivedUSD}} USD</strong> of {{.AmountUSD}} USD.
StreamPay waits for the full amount: the payment stays pending, and the shop hears nothing, until the rest
arrives (or the link expires).</p>
<form method="post" action="/pay/{{.ID}}">
<button name="mode" value="rest">Pay the rest ({{.AmountUSD.Sub .ReceivedUSD}} USD)</button>
<button name="mode" value="expire">Let it expire</button>
</form>
<p><a href="{{.ReturnURL}}">Back to the shop</a></p>
{{else}}<form method="post" action="/pay/{{.ID}}">
<button name="mode" value="exact">Pay exact</button>
<button name="mode" value="under">Underpay (90%)</button>
<button name="mode" value="over">Overpay (110%)</button>
<button name="mode" value="expire">Let it expire</button>
</form>{{end}}
{{else}}<p>Status: <strong id="status">{{.Status}}</strong>.</p>
<p><a href="{{.ReturnURL}}">Back to the shop</a></p>{{end}}
<p><small>Simulated gateway: no real money moves.</small></p>
</body></html>
`))

type pageData struct {
	SimPayment
	Token   string
	Expired bool // past its expiry and not paid: nothing to pay here any more
}

func (s *Simulator) handlePage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.Payment(r.PathValue("id"))
	if !ok {
		http.Error(w, "payment not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	expired := p.ProcessedAt.IsZero() && !s.cfg.Now().Before(p.ExpiryAt)
	_ = pageTmpl.Execute(w, pageData{SimPayment: p, Token: s.cfg.Token, Expired: expired})
}

func (s *Simulator) handlePageAction(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.act(id, r.FormValue("mode")); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p, _ := s.Payment(id)
	if r.FormValue("mode") != "expire" && p.Status != StatusPending && p.Status != StatusNotFound {
		http.Redirect(w, r, p.ReturnURL, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/pay/"+id, http.StatusSeeOther)
}

func (s *Simulator) act(id, mode string) error {
	switch mode {
	case "exact":
		return s.PayExact(id)
	case "under":
		return s.Underpay(id)
	case "over":
		return s.Overpay(id)
	case "rest":
		return s.Pay(id)
	case "expire":
		return s.Expire(id)
	}
	return fmt.Errorf("mode must be exact, under, over, rest or expire")
}

func (s *Simulator) handleSimPay(w http.ResponseWriter, r *http.Request) {
	mode := r.URL.Query().Get("mode")
	if mode == "" {
		mode = "exact"
	}
	if mode == "expire" {
		writeError(w, http.StatusBadRequest, "use /_sim/{id}/expire")
		return
	}
	s.simControl(w, r, mode)
}

func (s *Simulator) handleSimExpire(w http.ResponseWriter, r *http.Request) {
	s.simControl(w, r, "expire")
}

func (s *Simulator) simControl(w http.ResponseWriter, r *http.Request, mode string) {
	id := r.PathValue("id")
	if _, ok := s.Payment(id); !ok {
		writeError(w, http.StatusNotFound, "payment not found")
		return
	}
	if err := s.act(id, mode); err != nil {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	s.handleSimShow(w, r)
}

func (s *Simulator) handleSimShow(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payments[r.PathValue("id")]
	if !ok {
		writeError(w, http.StatusNotFound, "payment not found")
		return
	}
	writeJSON(w, http.StatusOK, s.objectLocked(p))
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
