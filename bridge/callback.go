package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Receiving a gateway callback: recorded at once, then confirmed with the
// gateway and applied by the workers (or the sweep, after a failure).

// CallbackResult is what receiving (recording) a callback did: the callback
// recorded, or the record of an identical one received before and
// Duplicate.
type CallbackResult struct {
	Callback  *Callback
	Duplicate bool
}

// CallbackRequest is a gateway callback as it arrived.
type CallbackRequest struct {
	Gateway    string
	Header     http.Header // the request's: content type, a signature header
	Body       []byte
	RemoteAddr string // the client's address (through trusted proxies), for the status page
}

// ReceiveCallback authenticates a gateway callback from its raw bytes and
// header, records it durably (with the callbacks arriving at the same time,
// in one statement: see record) and queues it for processing. A forged,
// expired or malformed callback writes nothing durable: it is kept in
// memory for the status page (Rejections) and counted, and the error says
// why (wrapping ErrSignature, ErrNotSigned, ErrTooOld or ErrMalformed). A
// database failure returns ErrUnavailable so the gateway retries.
func (s *Service) ReceiveCallback(ctx context.Context, r CallbackRequest) (*CallbackResult, error) {
	gw, err := s.Gateways.Gateway(r.Gateway)
	if err != nil {
		if ErrorCode(err) == ECONFLICT { // disabled or not configured
			s.reject(r, ErrorMessage(err))
		}
		return nil, err
	}
	ev, verr := gw.VerifyCallback(r.Header, r.Body)
	if verr != nil {
		s.reject(r, RejectReason(verr))
		if ErrorCode(verr) == EINTERNAL {
			return nil, &Error{Code: EUNAUTHORIZED, Message: "callback not authenticated", Err: verr}
		}
		return nil, verr
	}
	sum := sha256.Sum256(r.Body)
	cb := &Callback{Gateway: r.Gateway, ReceivedAt: s.now(), ContentType: r.Header.Get("Content-Type"), Body: r.Body, BodyHash: hex.EncodeToString(sum[:])}
	cb.Verified, cb.PaymentKey = true, ev.GatewayID
	if cb.PaymentKey == "" {
		cb.PaymentKey = "ref:" + ev.OrderRef
	}
	// Handed to a worker before it is recorded, so that its confirmation
	// with the gateway runs while it is being recorded; it is applied only
	// once recorded (inbound). A copy of a body already on its way, or
	// recorded here lately, is handed over only if it turns out new: copies
	// arriving together cost the gateway one confirmation, and a signed
	// callback sent again costs none.
	in := &inbound{cb: cb, ev: ev, recorded: make(chan struct{})}
	key := cb.Gateway + " " + cb.BodyHash
	queued := false
	if s.arriving.start(key) {
		select {
		case s.queue <- in:
			queued = true
		default:
		}
	}
	if queued || len(s.queue) < cap(s.queue) {
		cb.Lease, cb.LeaseFor = NewLease(s.Owner), inFlightGrace
	}
	rec, err := s.record(ctx, cb)
	in.ok = err == nil && !rec.Duplicate
	close(in.recorded)
	s.arriving.end(key, err == nil)
	if err != nil {
		return nil, &Error{Code: EUNAVAILABLE, Message: "could not record the callback; retry later", Err: err}
	}
	if rec.Duplicate {
		s.Logger.Debug("callback accepted again (duplicate)", "gateway", r.Gateway, "gateway_payment_id", cb.PaymentKey, "callback_id", rec.Callback.ID)
		return &rec, nil
	}
	s.Logger.Info("callback accepted", "gateway", r.Gateway, "gateway_payment_id", cb.PaymentKey, "callback_id", cb.ID)
	if !queued && cb.Lease != "" {
		select {
		case s.queue <- in:
			queued = true
		default: // full after all: a sweep takes it up when its lease ends
		}
	}
	if !queued {
		// Past what is kept in memory: the sweep takes it up from the
		// database now rather than at the next tick.
		s.kickSweep()
	}
	return &CallbackResult{Callback: cb}, nil
}

// arriving counts the callbacks being recorded, by body, and remembers the
// last recentBodies bodies recorded.
type arriving struct {
	mu     sync.Mutex
	n      map[string]int
	recent map[string]bool
	ring   []string // recent's keys, oldest first once full
	next   int
}

// recentBodies bounds what arriving remembers: about 0.5 MB of keys.
const recentBodies = 4096

// start counts one more callback with key and reports whether it is the
// only one and was not recorded lately.
func (a *arriving) start(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == nil {
		a.n, a.recent = map[string]int{}, map[string]bool{}
	}
	a.n[key]++
	return a.n[key] == 1 && !a.recent[key]
}

// end counts one callback with key less; recorded says it was recorded
// (new or a copy).
func (a *arriving) end(key string, recorded bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n[key]--; a.n[key] <= 0 {
		delete(a.n, key)
	}
	if !recorded || a.recent[key] {
		return
	}
	if len(a.ring) < recentBodies {
		a.ring = append(a.ring, key)
	} else {
		delete(a.recent, a.ring[a.next])
		a.ring[a.next] = key
		a.next = (a.next + 1) % recentBodies
	}
	a.recent[key] = true
}

// inbound is a received callback handed to a worker as it is being
// recorded: the worker asks the gateway for the payment's status meanwhile
// (ev is the callback as verified on receipt) and applies the answer once
// the callback is recorded (recorded closed, ok set). A callback that could
// not be recorded, or was recorded before (a duplicate), is left alone: the
// gateway sends it again, or its first copy is being applied.
type inbound struct {
	cb       *Callback
	ev       *CallbackEvent
	recorded chan struct{}
	ok       bool // set before recorded is closed
}

// finishInbound confirms and applies a callback handed over on receipt
// (see inbound) and reports whether it was recorded, so processed.
func (s *Service) finishInbound(ctx context.Context, in *inbound) bool {
	var pre *preconfirmed
	if gw, err := s.Gateways.Gateway(in.cb.Gateway); err == nil && in.ev.GatewayID != "" {
		ev := *in.ev
		st, err := s.confirm(ctx, gw, &ev)
		pre = &preconfirmed{ev: &ev, st: st, err: err}
	}
	select {
	case <-in.recorded:
	case <-ctx.Done():
		return false
	}
	if !in.ok {
		return false
	}
	s.finishCallback(ctx, in.cb, pre)
	return true
}

// preconfirmed is the gateway's answer for a callback, asked while the
// callback was being recorded.
type preconfirmed struct {
	ev  *CallbackEvent
	st  *GatewayState
	err error
}

// reject keeps a refused callback in memory; nothing is written or logged
// per request (LogRejections logs a summary).
func (s *Service) reject(r CallbackRequest, reason string) {
	sum := sha256.Sum256(r.Body)
	s.Rejections.Add(r.Gateway, Rejection{At: s.now(), Reason: reason, RemoteAddr: r.RemoteAddr, BodyHash: hex.EncodeToString(sum[:])}, r.Body)
}

// RejectReason names why a callback was refused, in the words the status
// page uses.
func RejectReason(err error) string {
	switch {
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrTooOld):
		return ErrTooOld.Message
	case errors.Is(err, ErrNotSigned):
		return ErrNotSigned.Message
	case errors.Is(err, ErrSignature):
		return ErrSignature.Message
	case errors.Is(err, ErrRateLimited):
		return "rate limited"
	}
	if ErrorCode(err) == EINVALID {
		return "invalid"
	}
	return ErrSignature.Message
}

// LogRejections writes, for each gateway with refused callbacks not yet
// logged, one line with how many and why; a gateway gets at most one line
// per Rejections.Interval, so a flood of forgeries costs a line a minute.
func (s *Service) LogRejections() {
	for _, sum := range s.Rejections.Due(s.now()) {
		args := []any{"gateway", sum.Gateway, "count", sum.Count}
		for reason, n := range sum.ByReason {
			args = append(args, strings.ReplaceAll(reason, " ", "_"), n)
		}
		if sum.Last != nil {
			args = append(args, "last_reason", sum.Last.Reason, "last_remote_addr", sum.Last.RemoteAddr)
		}
		s.Logger.Warn("callbacks rejected", args...)
	}
}

// inFlightGrace is the lease on a callback being processed from memory by
// the replica that received it: sweeps leave it alone meanwhile; if that
// replica dies, any replica takes it up afterwards. Processing takes well
// under a second unless the gateway is slow, and doing it twice is harmless.
const inFlightGrace = 15 * time.Second

// unknownPaymentWait is how long a callback naming a payment we do not know
// yet is retried: it may have overtaken our own record of the checkout.
const unknownPaymentWait = 15 * time.Minute

// ProcessCallback confirms a recorded callback with the gateway and applies
// it. It returns whether it is done; a false result with an error means
// "retry later".
func (s *Service) ProcessCallback(ctx context.Context, cb *Callback) (done bool, reason string, err error) {
	done, reason, _, err = s.processCallback(ctx, cb, nil)
	return done, reason, err
}

// processCallback is ProcessCallback; rec, when its transaction recorded
// the callback applied, says so (rec.recorded) and whether the lease was
// still held. pre, when not nil, is the gateway's answer asked on receipt.
func (s *Service) processCallback(ctx context.Context, cb *Callback, pre *preconfirmed) (done bool, reason string, rec *AppliedCallback, err error) {
	gw, err := s.Gateways.Gateway(cb.Gateway)
	if err != nil {
		return false, "gateway not available", nil, err
	}
	var ev *CallbackEvent
	if pre != nil {
		ev = pre.ev
	} else if ev, err = gw.VerifyCallback(http.Header{"Content-Type": {cb.ContentType}}, cb.Body); err != nil {
		// Verified on receipt; a token that has since expired (some last
		// five minutes) or a signature header that was not kept no longer
		// verifies. The gateway's status API is the
		// source of truth, so the payment id is all that is needed.
		ev = &CallbackEvent{Gateway: cb.Gateway, GatewayID: cb.PaymentKey}
	}
	if cb.ID != 0 {
		// Recorded applied in the transaction that applies it.
		rec = &AppliedCallback{ID: cb.ID, Lease: cb.Lease}
	}
	var (
		st        *GatewayState
		confirmed bool // st and cerr hold the gateway's answer
		cerr      error
	)
	if ev.GatewayID != "" {
		// The usual case: the gateway's answer first, then the payment it
		// names, read under lock in the transaction that applies it.
		if pre != nil {
			st, cerr = pre.st, pre.err
		} else {
			st, cerr = s.confirm(ctx, gw, ev)
		}
		confirmed = true
		switch {
		case cerr == nil:
			p, err := s.recordReport(ctx, PaymentRef{Gateway: cb.Gateway, GatewayID: ev.GatewayID}, nil, st, true, rec)
			switch {
			case err == nil:
				return true, fmt.Sprintf("applied: payment %s", p.Status), rec, nil
			case errors.Is(err, errNotKnownYet):
				// The callback came before the gateway's status host knows
				// the payment (a gateway may read on another host than it
				// creates): try again, so what the callback says is
				// confirmed, not dropped.
				return false, "payment not known to the gateway's status API yet", nil, ErrUnavailable
			case !errors.Is(err, ErrPaymentNotFound):
				return false, "apply failed", nil, err
			}
			// Not known by the gateway's id: found another way below.
		case !errors.Is(cerr, ErrPaymentNotFound):
			return false, "confirmation failed", nil, cerr
		}
	}
	p, err := s.findCallbackPayment(ctx, cb, ev)
	if errors.Is(err, ErrPaymentNotFound) && ev.GatewayID != "" && ev.GatewayID == cb.PaymentKey {
		// Not known by the gateway's id: a payment whose creation failed at
		// our end never learnt it. The gateway's own record, read back from
		// its API, names our reference.
		if !confirmed {
			st, cerr = s.confirm(ctx, gw, ev)
			confirmed = true
		}
		err = cerr
		switch {
		case errors.Is(err, ErrPaymentNotFound):
		case err != nil:
			return false, "confirmation failed", nil, err
		case st.OrderRef == "":
			err = ErrPaymentNotFound
		default:
			p, err = s.findCallbackPayment(ctx, cb, &CallbackEvent{GatewayID: st.GatewayID, OrderRef: st.OrderRef})
		}
	}
	if errors.Is(err, ErrPaymentNotFound) {
		if s.now().Sub(cb.ReceivedAt) < unknownPaymentWait {
			return false, "payment not known yet", nil, err
		}
		s.Logger.Warn("callback for an unknown payment ignored", "gateway", cb.Gateway, "gateway_payment_id", cb.PaymentKey)
		return true, "unknown payment", nil, nil
	} else if err != nil {
		return false, "database error", nil, err
	}
	if ev.GatewayID == "" {
		ev.GatewayID = p.GatewayID
	}
	if confirmed && cerr != nil {
		return false, "confirmation failed", nil, cerr
	} else if !confirmed {
		if st, err = s.confirm(ctx, gw, ev); err != nil {
			return false, "confirmation failed", nil, err
		}
	}
	if notKnownYet(p, st, s.now()) {
		// As above: the gateway's status host does not know it yet.
		return false, "payment not known to the gateway's status API yet", nil, ErrUnavailable
	}
	p, err = s.recordReport(ctx, PaymentRef{ID: p.ID}, p, st, true, rec)
	if err != nil {
		return false, "apply failed", nil, err
	}
	return true, fmt.Sprintf("applied: payment %s", p.Status), rec, nil
}

func (s *Service) findCallbackPayment(ctx context.Context, cb *Callback, ev *CallbackEvent) (*Payment, error) {
	if ev.GatewayID != "" {
		p, err := s.Payments.PaymentByGatewayID(ctx, cb.Gateway, ev.GatewayID)
		if !errors.Is(err, ErrPaymentNotFound) {
			return p, err
		}
	}
	if ev.OrderRef != "" {
		p, err := s.Payments.PaymentByOrderRef(ctx, ev.OrderRef)
		if err == nil && p.Gateway != cb.Gateway {
			return nil, ErrPaymentNotFound
		}
		return p, err
	}
	return nil, ErrPaymentNotFound
}

// retryDelay grows with the number of attempts: 5s, 10s, 20s ... up to 30m.
func retryDelay(attempts int) time.Duration {
	d := 5 * time.Second
	for i := 0; i < attempts && d < 30*time.Minute; i++ {
		d *= 2
	}
	if d > 30*time.Minute {
		d = 30 * time.Minute
	}
	return d
}

func (s *Service) finishCallback(ctx context.Context, cb *Callback, pre *preconfirmed) {
	done, reason, rec, err := s.processCallback(ctx, cb, pre)
	if rec != nil && rec.recorded {
		if rec.LeaseLost {
			s.Logger.Info("callback taken over by another replica before its result was recorded", "callback_id", cb.ID, "applied", true)
		}
		return
	}
	if err != nil {
		s.Logger.Warn("callback processing failed; will retry", "gateway", cb.Gateway, "callback_id", cb.ID, "reason", reason, "err", err)
	}
	retryAt := s.now().Add(retryDelay(cb.Attempts))
	if ferr := s.Callbacks.FinishCallback(ctx, cb.ID, cb.Lease, reason, done, retryAt); errors.Is(ferr, ErrLeaseLost) {
		s.Logger.Info("callback taken over by another replica before its result was recorded", "callback_id", cb.ID, "applied", done)
	} else if ferr != nil {
		s.Logger.Warn("recording callback result failed", "callback_id", cb.ID, "err", ferr)
	}
}

// SweepCallbacks processes recorded callbacks that are due (those past what
// the in-memory queue holds, those whose replica died, and retries), as many
// at once as the callback workers (WorkerConfig.CallbackWorkers), and wakes
// the outbox for what they applied. It returns how many it handled.
func (s *Service) SweepCallbacks(ctx context.Context, limit int) (int, error) {
	cbs, err := s.Callbacks.ClaimCallbacks(ctx, s.Owner, limit, s.lease())
	if err != nil || len(cbs) == 0 {
		return 0, err
	}
	forEach(cbs, s.workers(), func(cb *Callback) { s.finishCallback(ctx, cb, nil) })
	s.kickOutbox()
	return len(cbs), nil
}

// DefaultCallbackWorkers is how many callbacks are confirmed and applied at
// once by default: each waits for a gateway's status API, 100-300 ms over
// the internet, so many wait together while the database works.
const DefaultCallbackWorkers = 128

func (s *Service) workers() int {
	if n := int(s.callbackWorkers.Load()); n > 0 {
		return n
	}
	return DefaultCallbackWorkers
}
