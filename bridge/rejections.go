package bridge

import (
	"sort"
	"strings"
	"sync"
	"time"
)

// Rejection is one refused gateway callback as the status page shows it.
// Nothing of it is written to the database: anyone can send a callback, so
// a refused one must cost the shop nothing but a few bytes of memory.
type Rejection struct {
	At         time.Time `json:"at"`
	Reason     string    `json:"reason"` // "signature invalid", "malformed", "signature expired", ...
	RemoteAddr string    `json:"remote_addr"`
	BodyHash   string    `json:"body_sha256"`
	BodyPrefix string    `json:"body_prefix"` // the first bytes, printable ASCII only
}

// rejectionsKept is how many refused callbacks are kept per gateway.
const rejectionsKept = 10

// bodyPrefixLen is how much of a refused body is kept to show.
const bodyPrefixLen = 64

// Rejections keeps the last refused callbacks per gateway and counts them,
// and decides when to log: at most one line per gateway per interval, with
// how many were refused since the last line. Safe for concurrent use.
type Rejections struct {
	// Interval between two log lines of one gateway (default one minute).
	Interval time.Duration

	mu   sync.Mutex
	gw   map[string]*gatewayRejections
	keep int
}

type gatewayRejections struct {
	last      []Rejection // newest last
	total     int64
	limited   int64            // refused by the rate limit, never read
	unlogged  map[string]int64 // by reason, since the last log line
	loggedAt  time.Time
	unloggedN int64
}

// NewRejections returns an empty log that logs a gateway at most once per
// interval.
func NewRejections(interval time.Duration) *Rejections {
	if interval <= 0 {
		interval = time.Minute
	}
	return &Rejections{Interval: interval, gw: map[string]*gatewayRejections{}, keep: rejectionsKept}
}

func (r *Rejections) of(gateway string) *gatewayRejections {
	g := r.gw[gateway]
	if g == nil {
		g = &gatewayRejections{unlogged: map[string]int64{}}
		r.gw[gateway] = g
	}
	return g
}

// Add records a refused callback; body is its raw bytes (only a hash and a
// short printable prefix are kept).
func (r *Rejections) Add(gateway string, rej Rejection, body []byte) {
	rej.BodyPrefix = printablePrefix(body, bodyPrefixLen)
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.of(gateway)
	g.last = append(g.last, rej)
	if len(g.last) > r.keep {
		g.last = append(g.last[:0:0], g.last[len(g.last)-r.keep:]...)
	}
	g.total++
	g.unlogged[rej.Reason]++
	g.unloggedN++
}

// AddLimited counts a callback refused by the rate limit before it was read.
func (r *Rejections) AddLimited(gateway string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.of(gateway)
	g.limited++
	g.unlogged["rate limited"]++
	g.unloggedN++
}

// RejectionSummary is what is due to be logged for a gateway.
type RejectionSummary struct {
	Gateway  string
	Count    int64            // refused since the last line
	ByReason map[string]int64 // of Count
	Last     *Rejection       // the newest read and refused (nil when only rate-limited)
}

// Due returns, for each gateway with refusals not yet logged whose last line
// is at least Interval old, what to log now, and marks them logged.
func (r *Rejections) Due(now time.Time) []RejectionSummary {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []RejectionSummary
	for name, g := range r.gw {
		if g.unloggedN == 0 || now.Sub(g.loggedAt) < r.Interval {
			continue
		}
		s := RejectionSummary{Gateway: name, Count: g.unloggedN, ByReason: g.unlogged}
		if len(g.last) > 0 {
			last := g.last[len(g.last)-1]
			s.Last = &last
		}
		out = append(out, s)
		g.unlogged, g.unloggedN, g.loggedAt = map[string]int64{}, 0, now
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Gateway < out[j].Gateway })
	return out
}

// Recent returns the gateway's kept rejections, newest first, and how many
// were refused since the start (read and refused, and rate-limited).
func (r *Rejections) Recent(gateway string) (recent []Rejection, total, limited int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.gw[gateway]
	if g == nil {
		return nil, 0, 0
	}
	for i := len(g.last) - 1; i >= 0; i-- {
		recent = append(recent, g.last[i])
	}
	return recent, g.total, g.limited
}

// printablePrefix returns up to n bytes of b with everything but printable
// ASCII replaced by '.', so an attacker's bytes cannot break what shows them.
func printablePrefix(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	var s strings.Builder
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '.'
		}
		s.WriteByte(c)
	}
	return s.String()
}
