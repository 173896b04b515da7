package bitstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway"
	"github.com/wcbridge/wcbridge/bridge/gateway/bitstream/bitstreamsim"
)

func TestReadsRetried(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusTooManyRequests} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			sim, srv, _ := startSim(t, nil)
			c := newTestClient(t, srv.URL, nil, fastOpts())
			gp, err := c.CreatePayment(context.Background(), orderRequest("3"))
			if err != nil {
				t.Fatal(err)
			}
			sim.FailNext(2, status)
			st, err := c.PaymentState(context.Background(), gp.GatewayID)
			if err != nil || st.Status != bridge.PaymentPending {
				t.Fatalf("state %+v, %v: want pending after retries", st, err)
			}
			if n := sim.Calls("get"); n != 3 {
				t.Fatalf("%d reads, want 3 (2 failed + 1)", n)
			}
		})
	}
}

func TestReadRetriesExhausted(t *testing.T) {
	sim, srv, _ := startSim(t, nil)
	c := newTestClient(t, srv.URL, nil, fastOpts())
	gp, err := c.CreatePayment(context.Background(), orderRequest("3"))
	if err != nil {
		t.Fatal(err)
	}
	sim.FailNext(10, http.StatusServiceUnavailable)
	_, err = c.PaymentState(context.Background(), gp.GatewayID)
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.StatusCode != 503 || !ge.Temporary || bridge.ErrorCode(err) != bridge.EUNAVAILABLE {
		t.Fatalf("err %v, want a temporary 503 gateway error", err)
	}
	if n := sim.Calls("get"); n != 4 {
		t.Fatalf("%d reads, want 4 (1 + RetryMax 3)", n)
	}
}

// A 5xx on creation may have created a session: never retried, so at most
// one payment can exist for the attempt.
func TestCreateNotRetriedOn5xx(t *testing.T) {
	sim, srv, _ := startSim(t, nil)
	c := newTestClient(t, srv.URL, nil, fastOpts())
	sim.FailNextCreate(3, http.StatusInternalServerError)
	_, err := c.CreatePayment(context.Background(), orderRequest("3"))
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.StatusCode != 500 {
		t.Fatalf("err %v, want http 500", err)
	}
	if n := sim.Calls("create"); n != 1 {
		t.Fatalf("%d create attempts reached the simulator, want exactly 1", n)
	}
	if n := len(sim.Payments()); n != 0 {
		t.Fatalf("%d sessions exist, want 0", n)
	}
}

func TestCreateRetriedOn429(t *testing.T) {
	sim, srv, _ := startSim(t, nil)
	c := newTestClient(t, srv.URL, nil, fastOpts())
	sim.FailNextCreate(1, http.StatusTooManyRequests)
	gp, err := c.CreatePayment(context.Background(), orderRequest("3"))
	if err != nil {
		t.Fatal(err)
	}
	if n := sim.Calls("create"); n != 2 {
		t.Fatalf("%d create calls, want 2 (429 then success)", n)
	}
	if ps := sim.Payments(); len(ps) != 1 || ps[0].ID != gp.GatewayID {
		t.Fatalf("sessions %v, want exactly the one returned", ps)
	}
}

// A refused connection proves nothing was sent, so creation is retried.
func TestCreateRetriedOnConnectionRefused(t *testing.T) {
	sim, srv, _ := startSim(t, nil)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens there any more: dialling is refused
	var dials atomic.Int32
	var d net.Dialer
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		addr := srv.Listener.Addr().String()
		if dials.Add(1) == 1 {
			addr = deadAddr
		}
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	opts := fastOpts()
	opts.Transport = tr
	c := newTestClient(t, srv.URL, nil, opts)
	gp, err := c.CreatePayment(context.Background(), orderRequest("3"))
	if err != nil {
		t.Fatalf("CreatePayment: %v", err)
	}
	if dials.Load() < 2 || sim.Calls("create") != 1 || len(sim.Payments()) != 1 || gp.GatewayID == "" {
		t.Fatalf("dials %d, creates %d, sessions %d: want a retry after the refusal and one session", dials.Load(), sim.Calls("create"), len(sim.Payments()))
	}
}

// A timeout on creation may have created a session: not retried.
func TestCreateTimeoutNotRetried(t *testing.T) {
	sim, srv, _ := startSim(t, nil)
	opts := fastOpts()
	opts.Timeout = 100 * time.Millisecond
	c := newTestClient(t, srv.URL, nil, opts)
	sim.Hang(time.Second)
	_, err := c.CreatePayment(context.Background(), orderRequest("3"))
	if err == nil || !strings.Contains(err.Error(), "did not answer in time") || bridge.ErrorCode(err) != bridge.EUNAVAILABLE {
		t.Fatalf("err %v, want a timeout", err)
	}
	if n := sim.Calls("create"); n != 1 {
		t.Fatalf("%d create attempts, want 1", n)
	}
	sim.Hang(0)
}

func TestContextCancelStopsRetries(t *testing.T) {
	sim, srv, _ := startSim(t, nil)
	opts := fastOpts()
	// A retry waits a minute; the context ends after 150 ms.
	opts.RetryWaitMin, opts.RetryWaitMax = time.Minute, time.Minute
	c := newTestClient(t, srv.URL, nil, opts)
	sim.FailNext(100, http.StatusInternalServerError)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.PaymentState(ctx, "00000000-0000-4000-8000-000000000001"); err == nil {
		t.Fatal("want an error")
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("retries went on after the context ended (%v)", d)
	}
}

func TestErrorsCarryStatusAndMessageNeverTheKey(t *testing.T) {
	t.Run("wrong key", func(t *testing.T) {
		_, srv, _ := startSim(t, nil)
		c := newTestClient(t, srv.URL, func(c *Config) { c.APIKey = "bs_wrong_key_0123456789" }, fastOpts())
		_, err := c.CreatePayment(context.Background(), orderRequest("3"))
		if err == nil || err.Error() != "bitstream create payment: http 401: Unauthorized" {
			t.Fatalf("err %v, want the 401 with Bitstream's message", err)
		}
		if strings.Contains(err.Error(), "bs_wrong_key") {
			t.Fatal("error text contains the key")
		}
		if bridge.ErrorCode(err) != bridge.EGATEWAY {
			t.Fatalf("code %s", bridge.ErrorCode(err))
		}
	})
	t.Run("validation list", func(t *testing.T) {
		_, srv, _ := startSim(t, func(c *bitstreamsim.Config) { c.AssetDecimals = map[string]int{"usdt": 6} })
		c := newTestClient(t, srv.URL, nil, fastOpts())
		_, err := c.CreatePayment(context.Background(), orderRequest("3"))
		if err == nil || !strings.Contains(err.Error(), "http 400: lineItems.data.0.priceData.currency must be one of the following values: usdt") {
			t.Fatalf("err %v, want the 400 with the validation message", err)
		}
	})
	// A gateway that echoes the key (in its message or anywhere else) must
	// not get it into our error text or logs.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet {
			w.WriteHeader(http.StatusOK)
			fmt.Fprintf(w, `{"id":"s1","currency":"%s","amountTotal":"1"}`, auth)
			return
		}
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"statusCode":403,"message":"key %s is not allowed"}`, auth)
	}))
	t.Cleanup(echo.Close)
	c := newTestClient(t, echo.URL, nil, fastOpts())
	_, cerr := c.CreatePayment(context.Background(), orderRequest("3"))
	_, serr := c.PaymentState(context.Background(), "s1")
	for _, err := range []error{cerr, serr} {
		if err == nil {
			t.Fatal("want an error")
		}
		if strings.Contains(err.Error(), testKey) || strings.Contains(bridge.ErrorMessage(err), testKey) {
			t.Fatalf("error text contains the key: %v", err)
		}
	}
	if !strings.Contains(cerr.Error(), "http 403: key Bearer [redacted] is not allowed") {
		t.Fatalf("err %v, want the 403 with the key redacted", cerr)
	}
}
