package streampay

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay/streampaysim"
)

func TestReadsRetried(t *testing.T) {
	ctx := context.Background()
	for _, code := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusTooManyRequests} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			e := startSim(t)
			gp, err := e.client.CreatePayment(ctx, usdRequest("3"))
			if err != nil {
				t.Fatal(err)
			}
			before := e.sim.Requests()
			e.sim.FailNext(2, code)
			st, err := e.client.PaymentState(ctx, gp.GatewayID)
			if err != nil {
				t.Fatalf("state after 2 failures: %v", err)
			}
			if st.Status != bridge.PaymentPending {
				t.Errorf("got %s, want pending", st.Status)
			}
			if got := e.sim.Requests() - before; got != 3 {
				t.Errorf("status calls: got %d, want 3", got)
			}
		})
	}
}

func TestReadsGiveUp(t *testing.T) {
	e := startSim(t)
	e.sim.FailNext(100, http.StatusInternalServerError)
	_, err := e.client.PaymentState(context.Background(), "X")
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.StatusCode != 500 || !ge.Temporary {
		t.Fatalf("got %v, want temporary http 500", err)
	}
	if got := e.sim.Requests(); got != 4 {
		t.Errorf("calls: got %d, want 4 (1 + 3 retries)", got)
	}
}

func TestCreateNotRetriedOn5xx(t *testing.T) {
	for _, code := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			e := startSim(t)
			e.sim.FailNextCreate(3, code)
			_, err := e.client.CreatePayment(context.Background(), usdRequest("3"))
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.StatusCode != code {
				t.Fatalf("got %v, want http %d", err, code)
			}
			if n := e.sim.CreateCalls(); n != 1 {
				t.Errorf("create attempts: got %d, want exactly 1", n)
			}
			if n := len(e.sim.Payments()); n != 0 {
				t.Errorf("payments: got %d, want 0", n)
			}
		})
	}
}

func TestCreateRetriedOn429(t *testing.T) {
	e := startSim(t)
	e.sim.FailNextCreate(2, http.StatusTooManyRequests)
	gp, err := e.client.CreatePayment(context.Background(), usdRequest("3"))
	if err != nil {
		t.Fatalf("create after two 429s: %v", err)
	}
	if n := e.sim.CreateCalls(); n != 3 {
		t.Errorf("create attempts: got %d, want 3", n)
	}
	ps := e.sim.Payments()
	if len(ps) != 1 || ps[0].ID != gp.GatewayID {
		t.Errorf("payments: got %+v, want exactly the one returned", ps)
	}
}

func TestCreateNotRetriedOnTimeout(t *testing.T) {
	e := startSim(t, func(_ *streampaysim.Config, _ *Config, o *gateway.Options) {
		o.Timeout = 100 * time.Millisecond
	})
	e.sim.Hang(time.Second)
	_, err := e.client.CreatePayment(context.Background(), usdRequest("3"))
	if err == nil || bridge.ErrorCode(err) != bridge.EUNAVAILABLE {
		t.Fatalf("got %v, want unavailable", err)
	}
	if n := e.sim.CreateCalls(); n != 1 {
		t.Errorf("create attempts: got %d, want 1 (a timeout may have created it)", n)
	}
	e.sim.Hang(0)
}

// TestCreateRetriedWhenRefused: a refused connection proves nothing reached
// the gateway, so creation is retried; the transport's first dials go to a
// closed port.
func TestCreateRetriedWhenRefused(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	refusedAddr := closed.Listener.Addr().String()
	closed.Close()
	var dials atomic.Int32
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		if dials.Add(1) <= 2 {
			return d.DialContext(ctx, network, refusedAddr)
		}
		return d.DialContext(ctx, network, addr)
	}}
	e := startSim(t, func(_ *streampaysim.Config, _ *Config, o *gateway.Options) {
		o.Transport = tr
	})
	gp, err := e.client.CreatePayment(context.Background(), usdRequest("3"))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if dials.Load() != 3 || e.sim.CreateCalls() != 1 || len(e.sim.Payments()) != 1 || gp.GatewayID == "" {
		t.Errorf("dials %d, create attempts %d, payments %d", dials.Load(), e.sim.CreateCalls(), len(e.sim.Payments()))
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	e := startSim(t, func(_ *streampaysim.Config, _ *Config, o *gateway.Options) {
		// Ten retries a minute apart; the context ends after 300 ms.
		o.RetryMax = 10
		o.RetryWaitMin = time.Minute
		o.RetryWaitMax = time.Minute
	})
	e.sim.FailNext(100, http.StatusInternalServerError)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := e.client.PaymentState(ctx, "X"); err == nil {
		t.Fatal("no error")
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %v after cancel", d)
	}
}
