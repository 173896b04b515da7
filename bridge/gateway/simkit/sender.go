package simkit

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// Delivery is one callback attempt in a simulator's log.
type Delivery struct {
	ID          string // the gateway's payment id, as the simulator knows it
	Kind        string // "callback" for a genuine one, else what was broken ("forged", "duplicate", ...)
	Event       string // the event type where the gateway names one
	Attempt     int
	ContentType string
	Body        []byte
	StatusCode  int    // 0 when no answer arrived
	Err         string // transport error
	At          time.Time
}

// Post is one callback request.
type Post struct {
	URL         string
	ContentType string
	Header      http.Header // besides Content-Type
	Body        []byte
}

// Retry shapes redelivery after an answer that is not 2xx.
type Retry struct {
	Interval    time.Duration // between attempts
	MaxAttempts int           // 0: no cap
	For         time.Duration // give up once the next attempt would start later, by the sender's clock; 0: no limit
}

// Job is one callback to deliver until it is answered 2xx or the Retry gives
// up.
type Job struct {
	ID, Kind, Event string
	Retry           Retry
	// Build makes the request for the next attempt (a gateway that signs
	// with the send time re-signs each one).
	Build func() (Post, error)
	// Settled, when set, is told each attempt's answer and whether it was
	// the last (2xx or out of retries); returning true starts over from
	// attempt 1 at once (the payment changed while the attempt was out).
	Settled func(code int, last bool) (again bool)
}

// Sender delivers callbacks in the background and logs every attempt. The
// zero value is not usable: use NewSender.
type Sender struct {
	client *http.Client
	now    func() time.Time
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	log    []Delivery
	wg     sync.WaitGroup
}

// NewSender returns a sender using client (default: a 10s timeout) and the
// clock now (default time.Now) for the log and Retry.For, so a test that
// drives the clock decides when delivery gives up.
func NewSender(client *http.Client, now func() time.Time) *Sender {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if now == nil {
		now = time.Now
	}
	s := &Sender{client: client, now: now}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Start delivers j in the background; after Close it does nothing.
func (s *Sender) Start(j Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	go s.run(j)
}

func (s *Sender) run(j Job) {
	defer s.wg.Done()
	start := s.now()
	for attempt := 1; ; attempt++ {
		code := 0
		p, err := j.Build()
		if err == nil {
			code = s.Send(j.ID, j.Kind, j.Event, attempt, p)
		}
		ok := code >= 200 && code < 300
		last := ok || err != nil ||
			(j.Retry.MaxAttempts > 0 && attempt >= j.Retry.MaxAttempts) ||
			(j.Retry.For > 0 && s.now().Sub(start)+j.Retry.Interval > j.Retry.For)
		if j.Settled != nil && j.Settled(code, last) {
			attempt = 0
			continue
		}
		if last {
			return
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(j.Retry.Interval):
		}
	}
}

// Send POSTs p once, logs the attempt and returns the answer's status code
// (0 when none arrived).
func (s *Sender) Send(id, kind, event string, attempt int, p Post) int {
	d := Delivery{ID: id, Kind: kind, Event: event, Attempt: attempt, ContentType: p.ContentType, Body: p.Body, At: s.now()}
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, p.URL, bytes.NewReader(p.Body))
	if err == nil {
		for k, v := range p.Header {
			req.Header[k] = v
		}
		req.Header.Set("Content-Type", p.ContentType)
		var resp *http.Response
		if resp, err = s.client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			d.StatusCode = resp.StatusCode
		}
	}
	if err != nil {
		d.Err = err.Error()
	}
	s.mu.Lock()
	s.log = append(s.log, d)
	s.mu.Unlock()
	return d.StatusCode
}

// Deliveries returns the log, oldest first.
func (s *Sender) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.log...)
}

// Close stops delivery (requests under way are cancelled) and waits for it.
func (s *Sender) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}
