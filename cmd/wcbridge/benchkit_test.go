package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/woo/wootest"
)

// What the benchmarks share (docs/BENCHMARKS.md): a proxy that gives a
// loopback server a real-world latency, a proxy that counts what a client
// asks the database, and the preparation of paid orders whose callbacks a
// benchmark then sends.

// delayProxy stands in front of an HTTP server and holds every request for
// a fixed time before forwarding it, as a server that far away would. It
// counts the TCP connections clients open to it: a client that keeps too few
// idle connections opens one per request (with TLS in production, a
// handshake each time).
type delayProxy struct {
	srv      *httptest.Server
	conns    atomic.Int64
	requests atomic.Int64
}

func newDelayProxy(tb testing.TB, target string, delay time.Duration) *delayProxy {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatal(err)
	}
	p := &delayProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute}
	rp.ErrorLog = nil
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
		rp.ServeHTTP(w, r)
	}))
	p.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			p.conns.Add(1)
		}
	}
	p.srv.Start()
	tb.Cleanup(p.srv.Close)
	return p
}

func (p *delayProxy) URL() string { return p.srv.URL }

// requireBenchDB stops a benchmark that would run on the embedded engine:
// its figures say nothing of a shop's database, and it has no row locks,
// so concurrent applies are not serialised there as MariaDB and MySQL do.
func requireBenchDB(b *testing.B) {
	b.Helper()
	wootest.RequireReal(b, "benchmarks measure a real database's work and need its row locks")
}

// sqlCounter is a TCP proxy in front of the database that reads the MySQL
// protocol a client sends and counts, per client, its round trips (every
// command packet that gets an answer), its statements, and its commits that
// wrote something (a COMMIT after a write, or a write outside a
// transaction): the figures the server cannot give per client.
type sqlCounter struct {
	dsn        string // the target DSN with the proxy's address
	l          net.Listener
	target     string
	roundTrips atomic.Int64
	statements atomic.Int64
	commits    atomic.Int64
}

func newSQLCounter(tb testing.TB, dsn string) *sqlCounter {
	tb.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	c := &sqlCounter{l: l, target: cfg.Addr}
	cfg.Addr = l.Addr().String()
	c.dsn = cfg.FormatDSN()
	go c.serve()
	tb.Cleanup(func() { l.Close() })
	return c
}

func (c *sqlCounter) serve() {
	for {
		conn, err := c.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", c.target)
		if err != nil {
			conn.Close()
			continue
		}
		go func() {
			io.Copy(conn, up)
			conn.Close()
		}()
		go func() {
			p := &mysqlPackets{c: c}
			buf := make([]byte, 64<<10)
			for {
				n, err := conn.Read(buf)
				if n > 0 {
					p.feed(buf[:n])
					if _, werr := up.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			up.Close()
		}()
	}
}

func (c *sqlCounter) snapshot() [3]int64 {
	return [3]int64{c.roundTrips.Load(), c.statements.Load(), c.commits.Load()}
}

// mysqlPackets follows one client's stream of packets: a 3-byte length, a
// sequence number, the payload. A packet with sequence 0 starts a command.
type mysqlPackets struct {
	c       *sqlCounter
	head    []byte // header bytes read so far
	left    int    // payload bytes of the current packet still to come
	cmd     []byte // the current command packet's payload
	command bool   // the current packet is a command
	inTx    bool
	wrote   bool // the open transaction wrote something
}

func (p *mysqlPackets) feed(b []byte) {
	for len(b) > 0 {
		if p.left == 0 && len(p.head) < 4 {
			k := min(4-len(p.head), len(b))
			p.head = append(p.head, b[:k]...)
			b = b[k:]
			if len(p.head) < 4 {
				return
			}
			p.left = int(p.head[0]) | int(p.head[1])<<8 | int(p.head[2])<<16
			p.command = p.head[3] == 0
			p.cmd = p.cmd[:0]
			if p.left == 0 {
				p.head = p.head[:0]
				p.done()
				continue
			}
		}
		k := min(p.left, len(b))
		if p.command {
			p.cmd = append(p.cmd, b[:k]...)
		}
		p.left -= k
		b = b[k:]
		if p.left == 0 {
			p.head = p.head[:0]
			p.done()
		}
	}
}

// done classifies a complete packet.
func (p *mysqlPackets) done() {
	if !p.command || len(p.cmd) == 0 {
		return
	}
	switch p.cmd[0] {
	case 0x01, 0x19: // COM_QUIT, COM_STMT_CLOSE: no answer
		return
	case 0x03: // COM_QUERY
		p.c.roundTrips.Add(1)
		// The statements of a query sent as several are joined by ";\n"
		// (mysqlkit.Statements): a newline in a value is escaped.
		for _, stmt := range strings.Split(string(p.cmd[1:]), ";\n") {
			p.statement(stmt)
		}
	default:
		p.c.roundTrips.Add(1)
	}
}

func (p *mysqlPackets) statement(s string) {
	f := strings.Fields(strings.ToUpper(s[:min(len(s), 64)]))
	if len(f) == 0 {
		return
	}
	p.c.statements.Add(1)
	switch f[0] {
	case "START", "BEGIN":
		p.inTx, p.wrote = true, false
	case "COMMIT":
		if p.inTx && p.wrote {
			p.c.commits.Add(1)
		}
		p.inTx = false
	case "ROLLBACK":
		p.inTx = false
	case "INSERT", "UPDATE", "DELETE", "REPLACE":
		if p.inTx {
			p.wrote = true
		} else {
			p.c.commits.Add(1)
		}
	}
}

// paidOrders prepares n pending StreamPay orders with their payments paid at
// the simulator (its own callbacks off, no poll due) and returns the orders
// and one genuine signed callback for each. The checkouts go through the
// harness's in-process sidecar, which is stopped afterwards: from then on the
// database belongs to whatever the benchmark starts.
func paidOrders(b *testing.B, h *harness, n int) (ids []int64, bodies [][]byte) {
	b.Helper()
	h.sims.StreamPay.SetCallbackURL("")
	ids = make([]int64, n)
	gids := make([]string, n)
	keys := make([]string, n)
	for i := range ids {
		ids[i], keys[i] = h.order("streampay", usd("25.00"))
	}
	concurrently(b, n, 8, func(i int) error {
		// As the plugin does, the checkout says what the shop's
		// woocommerce_payment_complete_order_status filter gives the order
		// (processing: its items need shipping), so applying the payment
		// need not read the line items.
		status, body := h.client().do("POST", "/v1/checkout", map[string]any{
			"order_id": ids[i], "gateway": "streampay", "order_key": keys[i], "paid_status": bridge.StatusProcessing,
			"return_url": "http://shop.test/r", "cancel_url": "http://shop.test/c",
		})
		if status != http.StatusOK {
			return fmt.Errorf("checkout order %d: %d %v", ids[i], status, body)
		}
		gids[i] = gatewayPaymentID(body)
		return pluginCheckoutMeta(h, ids[i], body)
	})
	h.sidecars[0].cancel()
	<-h.sidecars[0].done
	// Callbacks are what is measured: no poll may pay an order first.
	h.woo.Exec(b, "UPDATE {p}wcbridge_payments SET next_check_at = '2100-01-01 00:00:00'")
	bodies = make([][]byte, n)
	for i, gid := range gids {
		if err := h.sims.StreamPay.PayExact(gid); err != nil {
			b.Fatal(err)
		}
		_, bodies[i] = genuineCallback(b, h, "streampay", gid)
	}
	return ids, bodies
}

// pluginCheckoutMeta writes the meta the plugin saves on an order (HPOS)
// once the sidecar has answered its checkout (class-gateway.php), so that
// the orders a benchmark pays look like a real shop's.
func pluginCheckoutMeta(h *harness, orderID int64, answer map[string]any) error {
	payment, _ := answer["payment"].(map[string]any)
	str := func(v any) string {
		if v == nil {
			return ""
		}
		return fmt.Sprint(v)
	}
	for _, kv := range [][2]string{
		{"_wcbridge_gateway", "streampay"},
		{"_wcbridge_payment_ref", str(payment["id"])},
		{"_wcbridge_payment_id", str(payment["gateway_payment_id"])},
		{"_wcbridge_hold_until", str(answer["hold_until"])},
		{"_wcbridge_pay_url", str(answer["redirect_url"])},
	} {
		if _, err := h.woo.DB.Exec("INSERT INTO "+h.woo.Prefix+"wc_orders_meta (order_id, meta_key, meta_value) VALUES (?, ?, ?)", orderID, kv[0], kv[1]); err != nil {
			return fmt.Errorf("order %d meta %s: %w", orderID, kv[0], err)
		}
	}
	return nil
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// sendCallbacks posts the bodies to the sidecar at addr, conc at a time,
// and returns each answer's latency; any answer but 200 fails b.
func sendCallbacks(b *testing.B, addr string, bodies [][]byte, conc int) (answer []time.Duration, retried int) {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc, MaxIdleConns: conc}}
	defer client.CloseIdleConnections()
	url := "http://" + addr + "/v1/callbacks/streampay"
	var again atomic.Int64
	answer = concurrently(b, len(bodies), conc, func(i int) error {
		// As a gateway does, a callback refused for now (503 or 429 with
		// Retry-After: more at once than the sidecar admits) is sent again
		// after the wait it asks for; its time runs until it is accepted.
		for attempt := 0; ; attempt++ {
			resp, err := client.Post(url, "application/json", bytes.NewReader(bodies[i]))
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusOK:
				return nil
			case (resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests) && attempt < 20:
				again.Add(1)
				wait := time.Second
				if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
					wait = time.Duration(s) * time.Second
				}
				time.Sleep(wait)
			default:
				return fmt.Errorf("callback answered %d", resp.StatusCode)
			}
		}
	})
	return answer, int(again.Load())
}

// waitOrders waits until every order is processing, sampling the sidecar's
// memory meanwhile (pid 0: none), and returns when the last one was seen
// paid and the peak resident memory seen, in KiB.
func waitOrders(b *testing.B, h *harness, ids []int64, pid int, within time.Duration) (time.Time, int) {
	b.Helper()
	deadline := time.Now().Add(within)
	peak := 0
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	in := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
	for {
		if pid != 0 {
			if cur, _ := rssKB(pid); cur > peak {
				peak = cur
			}
		}
		if h.woo.Count(b, "wc_orders", "status = 'wc-processing' AND id IN ("+in+")", args...) == len(ids) {
			return time.Now(), peak
		}
		if time.Now().After(deadline) {
			b.Fatalf("not every order paid after %v", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitNotified waits until the WordPress stand-in has received n distinct
// events and returns when.
func waitNotified(b *testing.B, wp *fakeWordPress, n int, within time.Duration, sample func()) time.Time {
	b.Helper()
	deadline := time.Now().Add(within)
	for {
		if sample != nil {
			sample()
		}
		wp.mu.Lock()
		got := len(wp.events)
		wp.mu.Unlock()
		if got >= n {
			return time.Now()
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d notifications reached WordPress after %v", got, n, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// notifiedTwice counts the events WordPress received more than once.
func (wp *fakeWordPress) notifiedTwice() int {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	n := 0
	for _, c := range wp.events {
		if c > 1 {
			n++
		}
	}
	return n
}
