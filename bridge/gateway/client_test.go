package gateway_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway"
)

// failing answers status for the first n requests, then 200.
func failing(t *testing.T, n int32, status int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= n {
			http.Error(w, `{"error":"try again"}`, status)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func fastClient() *gateway.Client {
	return gateway.NewClient("testgw", gateway.Options{RetryMax: 3, RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond, Timeout: time.Second})
}

func TestReadsRetryThenSucceed(t *testing.T) {
	for _, status := range []int{500, 502, 503, 429} {
		srv, calls := failing(t, 2, status)
		resp, err := fastClient().Get(context.Background(), "payment status", srv.URL+"/status/1", nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%d twice then 200: %v %+v", status, err, resp)
		}
		if n := calls.Load(); n != 3 {
			t.Errorf("%d: %d calls, want 3", status, n)
		}
	}
}

func TestCreationIsNotRetriedWhenItMayHaveWorked(t *testing.T) {
	for _, status := range []int{500, 502, 503, 504} {
		srv, calls := failing(t, 5, status)
		resp, err := fastClient().PostCreate(context.Background(), "create payment", srv.URL+"/create", nil, []byte(`{}`))
		if err != nil || resp.StatusCode != status {
			t.Fatalf("%d: got %v %+v, want the answer passed through", status, err, resp)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("%d: creation sent %d times, want exactly once", status, n)
		}
	}
}

func TestCreationRetriedOn429(t *testing.T) {
	srv, calls := failing(t, 2, http.StatusTooManyRequests)
	resp, err := fastClient().PostCreate(context.Background(), "create payment", srv.URL+"/create", nil, []byte(`{}`))
	if err != nil || resp.StatusCode != 200 || calls.Load() != 3 {
		t.Fatalf("429 twice then 200: %v %+v after %d calls", err, resp, calls.Load())
	}
}

func TestCreationRetriedWhenNeverSent(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens: every dial is refused
	_, err = fastClient().PostCreate(context.Background(), "create payment", "http://"+addr+"/payment/CLIENT-ID-SECRETISH/page", nil, []byte(`{}`))
	var ge *gateway.Error
	if !errors.As(err, &ge) || !ge.Temporary || ge.StatusCode != 0 {
		t.Fatalf("err = %#v", err)
	}
	if !gateway.NotSent(ge.Cause()) {
		t.Errorf("a refused connection must count as not sent: %v", ge.Cause())
	}
	if strings.Contains(err.Error(), "CLIENT-ID-SECRETISH") || strings.Contains(bridge.ErrorMessage(err), "CLIENT-ID-SECRETISH") {
		t.Errorf("error names the request URL: %v", err)
	}
	if bridge.ErrorCode(err) != bridge.EUNAVAILABLE {
		t.Errorf("code %s, want unavailable", bridge.ErrorCode(err))
	}
}

func TestCreationNotRetriedOnTimeout(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		<-release // no answer before the test ends: only the client's timeout ends the call
	}))
	defer srv.Close()
	defer close(release)
	c := gateway.NewClient("testgw", gateway.Options{RetryMax: 3, RetryWaitMin: time.Millisecond, Timeout: 50 * time.Millisecond})
	_, err := c.PostCreate(context.Background(), "create payment", srv.URL, nil, []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "did not answer in time") {
		t.Fatalf("err = %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("a timed-out creation was sent %d times, want once", n)
	}
}

func TestErrorCodes(t *testing.T) {
	for status, want := range map[int]string{500: bridge.EGATEWAY, 400: bridge.EGATEWAY, 403: bridge.EGATEWAY, 502: bridge.EUNAVAILABLE, 503: bridge.EUNAVAILABLE, 504: bridge.EUNAVAILABLE, 429: bridge.EUNAVAILABLE} {
		err := gateway.StatusError("testgw", "create payment", status, "")
		if got := bridge.ErrorCode(err); got != want {
			t.Errorf("http %d -> %s, want %s", status, got, want)
		}
		if msg := bridge.ErrorMessage(err); !strings.Contains(msg, "testgw") || !strings.Contains(msg, http.StatusText(status)) {
			t.Errorf("http %d message %q lacks gateway or status", status, msg)
		}
	}
}
