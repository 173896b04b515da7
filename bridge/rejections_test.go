package bridge

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRejectionsKeepLastFewAndLogOncePerInterval(t *testing.T) {
	r := NewRejections(time.Minute)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 25 {
		r.Add("streampay", Rejection{At: t0.Add(time.Duration(i) * time.Second), Reason: "signature invalid", RemoteAddr: "203.0.113.7"},
			[]byte(fmt.Sprintf("{\"n\":%d,\"x\":\"\x00\x1b[31m<script>%s\"}", i, strings.Repeat("A", 100))))
	}
	r.AddLimited("streampay")
	r.AddLimited("streampay")
	recent, total, limited := r.Recent("streampay")
	if len(recent) != rejectionsKept || total != 25 || limited != 2 {
		t.Fatalf("kept %d, total %d, limited %d; want %d, 25, 2", len(recent), total, limited, rejectionsKept)
	}
	if !recent[0].At.Equal(t0.Add(24*time.Second)) || !recent[len(recent)-1].At.Equal(t0.Add(15*time.Second)) {
		t.Errorf("recent runs %v .. %v, want newest first, the last 10", recent[0].At, recent[len(recent)-1].At)
	}
	if p := recent[0].BodyPrefix; len(p) != bodyPrefixLen || strings.ContainsAny(p, "\x00\x1b") {
		t.Errorf("body prefix %q: want %d printable bytes", p, bodyPrefixLen)
	}
	if r, _, _ := r.Recent("cryptocloud"); r != nil {
		t.Errorf("another gateway has %v", r)
	}

	// The first summary is due at once; then one per interval, counting
	// everything since the last one.
	due := r.Due(t0)
	if len(due) != 1 || due[0].Count != 27 || due[0].ByReason["signature invalid"] != 25 || due[0].ByReason["rate limited"] != 2 || due[0].Last == nil {
		t.Fatalf("first summary = %+v", due)
	}
	r.Add("streampay", Rejection{At: t0, Reason: "malformed"}, nil)
	if due := r.Due(t0.Add(30 * time.Second)); len(due) != 0 {
		t.Fatalf("a second line within the interval: %+v", due)
	}
	r.Add("streampay", Rejection{At: t0, Reason: "malformed"}, nil)
	if due := r.Due(t0.Add(61 * time.Second)); len(due) != 1 || due[0].Count != 2 || due[0].ByReason["malformed"] != 2 {
		t.Fatalf("after the interval: %+v, want the 2 since the last line", due)
	}
	if due := r.Due(t0.Add(10 * time.Minute)); len(due) != 0 {
		t.Fatalf("nothing new, yet a line: %+v", due)
	}
}

func TestRejectReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("x: %w", ErrSignature), "signature invalid"},
		{fmt.Errorf("%w (%w)", ErrSignature, ErrNotSigned), "request not signed"},
		{fmt.Errorf("x: %w", ErrTooOld), "signature expired"},
		{fmt.Errorf("x: %w", ErrMalformed), "malformed"},
		{errors.New("boom"), "signature invalid"},
	} {
		if got := RejectReason(tc.err); got != tc.want {
			t.Errorf("RejectReason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
