package simkit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge/gateway/simkit"
)

func TestParseMode(t *testing.T) {
	tests := []struct {
		in   string
		want simkit.Mode
		err  bool
	}{
		{"", simkit.Exact, false},
		{"exact", simkit.Exact, false},
		{"under", simkit.Under, false},
		{"over", simkit.Over, false},
		{"rest", simkit.Rest, false},
		{"expire", simkit.Expire, false},
		{"late", simkit.Late, false},
		{"cancel", simkit.Cancel, false},
		{"steal", "", true},
		{"EXACT", "", true},
	}
	for _, tt := range tests {
		got, err := simkit.ParseMode(tt.in)
		if got != tt.want || (err != nil) != tt.err || (err != nil && !errors.Is(err, simkit.ErrBadRequest)) {
			t.Errorf("ParseMode(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// receiver answers failFirst 500s, then 200s, and counts the requests.
type receiver struct {
	mu        sync.Mutex
	failFirst int
	got       []*http.Request
	bodies    []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.got = append(rc.got, r)
	rc.bodies = append(rc.bodies, string(b))
	if rc.failFirst > 0 {
		rc.failFirst--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSenderRetries(t *testing.T) {
	tests := []struct {
		name      string
		failFirst int
		retry     simkit.Retry
		want      []int // status codes logged
	}{
		{"first attempt answered", 0, simkit.Retry{Interval: time.Millisecond, MaxAttempts: 5}, []int{200}},
		{"fails twice then succeeds", 2, simkit.Retry{Interval: time.Millisecond, MaxAttempts: 5}, []int{500, 500, 200}},
		{"gives up after MaxAttempts", 10, simkit.Retry{Interval: time.Millisecond, MaxAttempts: 3}, []int{500, 500, 500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &receiver{failFirst: tt.failFirst}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			s := simkit.NewSender(nil, nil)
			builds := 0
			settled := make(chan bool, 10)
			s.Start(simkit.Job{ID: "p1", Kind: "callback", Event: "paid", Retry: tt.retry,
				Build: func() (simkit.Post, error) {
					builds++
					return simkit.Post{URL: srv.URL, ContentType: "application/json", Header: http.Header{"X-Sig": {"s"}},
						Body: []byte(fmt.Sprintf(`{"n":%d}`, builds))}, nil
				},
				Settled: func(code int, last bool) bool {
					if last {
						settled <- code == 200
					}
					return false
				},
			})
			select {
			case <-settled:
			case <-time.After(5 * time.Second):
				t.Fatal("the job never settled")
			}
			s.Close()
			log := s.Deliveries()
			if len(log) != len(tt.want) {
				t.Fatalf("%d deliveries, want %d", len(log), len(tt.want))
			}
			for i, d := range log {
				if d.StatusCode != tt.want[i] || d.Attempt != i+1 || d.ID != "p1" || d.Kind != "callback" || d.Event != "paid" {
					t.Errorf("delivery %d: %+v, want attempt %d status %d", i, d, i+1, tt.want[i])
				}
				if want := fmt.Sprintf(`{"n":%d}`, i+1); string(d.Body) != want || rc.bodies[i] != want {
					t.Errorf("attempt %d sent %s, want %s (rebuilt per attempt)", i+1, d.Body, want)
				}
			}
			for _, r := range rc.got {
				if r.Header.Get("X-Sig") != "s" || r.Header.Get("Content-Type") != "application/json" || r.Method != http.MethodPost {
					t.Errorf("request %s with headers %v", r.Method, r.Header)
				}
			}
		})
	}
}

// TestSenderStartsOver: Settled returning true restarts at attempt 1, as
// when the payment changed while a callback was out.
func TestSenderStartsOver(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	s := simkit.NewSender(nil, nil)
	defer s.Close()
	again := 1
	done := make(chan struct{})
	s.Start(simkit.Job{ID: "p", Retry: simkit.Retry{Interval: time.Millisecond, MaxAttempts: 3},
		Build: func() (simkit.Post, error) { return simkit.Post{URL: srv.URL}, nil },
		Settled: func(code int, last bool) bool {
			if again > 0 {
				again--
				return true
			}
			close(done)
			return false
		},
	})
	<-done
	log := s.Deliveries()
	if len(log) != 2 || log[0].Attempt != 1 || log[1].Attempt != 1 {
		t.Fatalf("log %+v, want two first attempts", log)
	}
}

func TestSenderCloseStopsRetries(t *testing.T) {
	rc := &receiver{failFirst: 1000}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	s := simkit.NewSender(nil, nil)
	s.Start(simkit.Job{ID: "p", Retry: simkit.Retry{Interval: time.Hour},
		Build: func() (simkit.Post, error) { return simkit.Post{URL: srv.URL}, nil }})
	waitFor(t, func() bool { return len(s.Deliveries()) == 1 })
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop the retry wait")
	}
	s.Start(simkit.Job{ID: "late", Build: func() (simkit.Post, error) { return simkit.Post{URL: srv.URL}, nil }})
	if n := len(s.Deliveries()); n != 1 {
		t.Errorf("%d deliveries after Close, want 1", n)
	}
}

func TestFaults(t *testing.T) {
	var f simkit.Faults
	f.FailNext(2, 502)
	f.FailNextCreate(1, 429)
	ctx := context.Background()
	var got []int
	for _, create := range []bool{true, false, true, true} {
		st, ok := f.Intercept(ctx, create)
		if !ok {
			t.Fatal("not ok without a hang")
		}
		got = append(got, st)
	}
	if want := []int{502, 502, 429, 0}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	f.Hang(time.Hour)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, ok := f.Intercept(cctx, false); ok {
		t.Error("a hang survived the caller giving up")
	}
}

// fake is a payment store with one payment, "p1", that can be paid once.
type fake struct {
	paid bool
}

func (f *fake) Act(id string, m simkit.Mode) error {
	if id != "p1" {
		return simkit.ErrUnknown
	}
	switch m {
	case simkit.Exact, simkit.Over, simkit.Under:
		if f.paid {
			return errors.New("already paid")
		}
		f.paid = true
		return nil
	case simkit.Expire:
		return nil
	}
	return simkit.ErrUnsupported
}

func (f *fake) Show(id string) (any, bool) {
	if id != "p1" {
		return nil, false
	}
	return map[string]bool{"paid": f.paid}, true
}

func TestControls(t *testing.T) {
	mux := http.NewServeMux()
	simkit.Controls(mux, &fake{})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tests := []struct {
		method, path string
		want         int
		body         string
	}{
		{"GET", "/_sim/p1", 200, `{"paid":false}`},
		{"GET", "/_sim/nope", 404, "unknown payment"},
		{"POST", "/_sim/p1/pay?mode=steal", 400, "bad request"},
		{"POST", "/_sim/p1/pay?mode=expire", 400, "use /_sim/{id}/expire"},
		{"POST", "/_sim/p1/pay?amount=5", 409, "not possible"},
		{"POST", "/_sim/p1/explode", 400, "pay, expire or cancel"},
		{"POST", "/_sim/p1/cancel", 409, "not possible"},
		{"POST", "/_sim/nope/pay", 404, "unknown payment"},
		{"POST", "/_sim/p1/pay", 200, `{"paid":true}`},
		{"POST", "/_sim/p1/pay?mode=over", 409, "already paid"},
		{"POST", "/_sim/p1/expire", 200, `{"paid":true}`},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || !strings.Contains(string(b), tt.body) {
			t.Errorf("%s %s: %d %s, want %d with %q", tt.method, tt.path, resp.StatusCode, b, tt.want, tt.body)
		}
	}
}

func TestWritePage(t *testing.T) {
	rec := httptest.NewRecorder()
	simkit.WritePage(rec, simkit.Page{Title: "T <1>", Heading: "H", Body: "<p id=\"status\">open</p>",
		Action: "/pay/x", Buttons: simkit.StandardButtons(90, 110), Back: "https://shop.example/back"})
	html := rec.Body.String()
	for _, want := range []string{"<title>T &lt;1&gt;</title>", `<p id="status">open</p>`, `action="/pay/x"`,
		`value="exact">Pay exact`, `value="under">Underpay (90%)`, `value="over">Overpay (110%)`, `value="expire">Let it expire`,
		`href="https://shop.example/back"`, "no real money moves"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q:\n%s", want, html)
		}
	}
	if strings.Contains(html, "<script") || strings.Contains(html, "src=") {
		t.Error("page loads external assets")
	}
}
