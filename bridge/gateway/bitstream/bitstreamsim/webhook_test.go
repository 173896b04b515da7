package bitstreamsim

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway/bitstream"
)

// receiver is a webhook endpoint that verifies with the client and fails
// the first n deliveries.
type receiver struct {
	mu       sync.Mutex
	fail     int
	accepted []*bridge.CallbackEvent
	refused  []error
}

func startReceiver(t *testing.T, c *bitstream.Client, fail int) (*receiver, string) {
	t.Helper()
	rc := &receiver{fail: fail}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		ev, err := c.VerifyCallback(r.Header, body)
		if err != nil {
			rc.refused = append(rc.refused, err)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if rc.fail > 0 {
			rc.fail--
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		rc.accepted = append(rc.accepted, ev)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return rc, srv.URL
}

func (rc *receiver) counts() (int, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.accepted), len(rc.refused)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The simulator signs its webhooks as Copperx documents (a body the client
// verifies), sends completed, expired and canceled events, and retries one
// not answered 2xx.
func TestSimulatorWebhooks(t *testing.T) {
	c := newTestClient(t, "http://unused.test", func(c *bitstream.Config) { c.WebhookSecret = testWebhookSecret }, fastOpts())
	rc, url := startReceiver(t, c, 2)
	sim, srv, _ := startSim(t, func(s *Config) {
		s.WebhookURL, s.WebhookSecret, s.WebhookRetry = url, testWebhookSecret, 10*time.Millisecond
	})
	api := newTestClient(t, srv.URL, nil, fastOpts())
	create := func() string {
		gp, err := api.CreatePayment(context.Background(), orderRequest("3"))
		if err != nil {
			t.Fatal(err)
		}
		return gp.GatewayID
	}
	paid, expired, underpaid, cancelled := create(), create(), create(), create()
	if err := sim.PayExact(paid); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the completed event after two failed deliveries", func() bool { n, _ := rc.counts(); return n == 1 })
	sim.Expire(expired)
	sim.Underpay(underpaid) // no event: Copperx documents none for a partial payment
	sim.Expire(underpaid)   // expired event, session still "incomplete"
	sim.Cancel(cancelled)
	waitUntil(t, "four events", func() bool { n, _ := rc.counts(); return n == 4 })
	rc.mu.Lock()
	got := map[string]string{}
	for _, ev := range rc.accepted {
		got[ev.GatewayID] = ev.Raw["type"] + "/" + ev.Raw["status"] + "/" + string(ev.Claimed.Status)
	}
	rc.mu.Unlock()
	want := map[string]string{
		paid:      "checkout_session.completed/complete/paid",
		expired:   "checkout_session.expired/expired/expired",
		underpaid: "checkout_session.expired/incomplete/underpaid",
		cancelled: "checkout_session.canceled/open/cancelled",
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("session %s: event %q, want %q", id, got[id], w)
		}
	}
	attempts := 0
	for _, d := range sim.Callbacks() {
		if d.ID == paid {
			attempts++
		}
	}
	if attempts != 3 {
		t.Errorf("%d deliveries of the completed event, want 3 (two refused with 503)", attempts)
	}

	// Test knobs: a verbatim duplicate verifies; forged, tampered and
	// token-only do not.
	for name, send := range map[string]func(string) (int, error){
		"duplicate": sim.SendDuplicate, "forged": sim.SendForged, "tampered": sim.SendTampered, "token-only": sim.SendTokenOnly,
	} {
		code, err := send(expired)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 200, false: 401}[name == "duplicate"]; code != want {
			t.Errorf("%s webhook answered %d, want %d", name, code, want)
		}
	}
	if _, err := sim.SendDuplicate("nope"); err == nil {
		t.Error("a duplicate of a webhook never sent")
	}
}
