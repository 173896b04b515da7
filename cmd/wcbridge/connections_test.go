package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestAbuseConnectionsCapped: at most server.max_connections are open at
// once; one more waits in the kernel's queue and is served once a slot
// frees, which an idle connection does after server.idle_timeout. The
// timeout (5 s) leaves a loaded machine time to open every connection and
// try one more before the first idle one is closed.
func TestAbuseConnectionsCapped(t *testing.T) {
	const limit = 16
	h := newHarness(t, withEnv(fmt.Sprintf("WCBRIDGE_SERVER_MAX_CONNECTIONS=%d", limit), "WCBRIDGE_SERVER_IDLE_TIMEOUT=5s"))
	addr := h.sidecars[0].url[len("http://"):]
	// limit clients each make one request and keep their connection open.
	var conns []net.Conn
	for range limit {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("request on connection %d: %v", len(conns), err)
		}
		resp.Body.Close()
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// One more client is not served while they are open...
	quick := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := quick.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("a connection beyond the %d allowed was served at once (%d)", limit, resp.StatusCode)
	}
	// ...until the idle ones are closed by the server after idle_timeout.
	start := time.Now()
	patient := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := patient.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("not served after the idle connections timed out: %v", err)
	}
	resp.Body.Close()
	// Each was opened a little later than the one before: wait for each to
	// be closed (a closed one answers at once).
	closed := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			closed++
		}
	}
	if closed != limit {
		t.Errorf("%d of %d idle connections closed by the server after idle_timeout", closed, limit)
	}
	t.Logf("served %v after the cap was reached (idle_timeout 5s)", time.Since(start).Round(time.Millisecond))
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
