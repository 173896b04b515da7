package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/pluginsig"
	"github.com/wcbridge/wcbridge/bridge/wordpress"
	"github.com/wcbridge/wcbridge/woo/wootest"
)

// harness is a whole installation on loopback: a WooCommerce database, the
// three gateway simulators, a fake WordPress that receives notifications,
// and one or more sidecars running the real server and workers.
type harness struct {
	t        testing.TB
	ctx      context.Context
	woo      *wootest.Store
	sims     *Simulators
	wp       *fakeWordPress
	sidecars []*sidecar
	env      []string
	logs     logBuffer
	wrap     func(bridge.Gateway) bridge.Gateway
	proxy    *tcpProxy
	// checkDelay paces the reconciler (fastChecks unless a test says);
	// createTimeout bounds a checkout's gateway call (0: the default).
	checkDelay    func(time.Duration) time.Duration
	createTimeout time.Duration
	// leaseFor and notifyBudget, when set, apply to sidecars started next.
	leaseFor, notifyBudget time.Duration
}

type sidecar struct {
	app    *App
	url    string
	cancel context.CancelFunc
	done   chan struct{}
}

type harnessOption func(*harnessConfig)

type harnessConfig struct {
	mode    bridge.StorageMode
	env     []string
	unpin   []string
	dbProxy bool
	wrap    func(bridge.Gateway) bridge.Gateway
	// checkDelay paces the reconciler (fastChecks unless a test says);
	// createTimeout bounds a checkout's gateway call (0: the default).
	checkDelay    func(time.Duration) time.Duration
	createTimeout time.Duration
}

// withCheckDelay replaces the reconciler's fast test pacing.
func withCheckDelay(f func(time.Duration) time.Duration) harnessOption {
	return func(c *harnessConfig) { c.checkDelay = f }
}

// withCreateTimeout shortens how long a checkout waits for the gateway.
func withCreateTimeout(d time.Duration) harnessOption {
	return func(c *harnessConfig) { c.createTimeout = d }
}

// withoutEnv leaves out the harness's variables starting with prefix (e.g. a
// gateway's, so the shop owner sets them from WordPress).
func withoutEnv(prefix string) harnessOption {
	return func(c *harnessConfig) { c.unpin = append(c.unpin, prefix) }
}

func (c harnessConfig) unpinned(kv string) bool {
	for _, p := range c.unpin {
		if strings.HasPrefix(kv, p) {
			return true
		}
	}
	return false
}

func withWrap(w func(bridge.Gateway) bridge.Gateway) harnessOption {
	return func(c *harnessConfig) { c.wrap = w }
}

func withMode(m bridge.StorageMode) harnessOption { return func(c *harnessConfig) { c.mode = m } }
func withEnv(kv ...string) harnessOption {
	return func(c *harnessConfig) { c.env = append(c.env, kv...) }
}

// fastChecks makes the reconciler look at payments every 150ms.
func fastChecks(time.Duration) time.Duration { return 150 * time.Millisecond }

func newHarness(t testing.TB, opts ...harnessOption) *harness {
	t.Helper()
	c := harnessConfig{mode: bridge.StorageHPOS}
	for _, o := range opts {
		o(&c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &harness{t: t, ctx: ctx, wrap: c.wrap, checkDelay: c.checkDelay, createTimeout: c.createTimeout}
	if h.checkDelay == nil {
		h.checkDelay = fastChecks
	}
	h.woo = wootest.NewStore(t, c.mode, "wp_")
	dsn := h.woo.DSN
	if c.dbProxy {
		h.proxy = newTCPProxy(t, h.woo.DSN)
		dsn = h.proxy.dsn
	}
	h.wp = newFakeWordPress(t)

	// The first sidecar's address must be known before the simulators start:
	// they deliver callbacks to it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + l.Addr().String()
	h.sims, err = StartSimulators(SimulatorSetup{StreamPay: "127.0.0.1:0", CryptoCloud: "127.0.0.1:0", Bitstream: "127.0.0.1:0", CallbackBase: base, Retry: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.sims.Close)
	env := append(append([]string{
		"WCBRIDGE_DATABASE_DSN=" + dsn,
		"WCBRIDGE_PLUGIN_SHARED_SECRET=" + testSecret,
		"WCBRIDGE_SECRETS_KEY=" + testKey,
		// The simulators deliver every callback from 127.0.0.1, and the
		// storms post a hundred at once: the rate limit has its own test.
		"WCBRIDGE_SERVER_CALLBACK_RATE_LIMIT=100000",
		"WCBRIDGE_SERVER_CALLBACK_BURST=100000",
		"WCBRIDGE_WORDPRESS_URL=" + h.wp.srv.URL,
		"WCBRIDGE_SERVER_PUBLIC_URL=" + base,
		"WCBRIDGE_RECONCILE_INTERVAL=100ms",
		"WCBRIDGE_DATABASE_MAX_OPEN_CONNS=30",
	}, h.sims.Env()...), c.env...)
	for _, kv := range env {
		if !c.unpinned(kv) {
			h.env = append(h.env, kv)
		}
	}
	if !h.woo.Real {
		// The embedded engine has no row locks and does not isolate
		// concurrent transactions: one connection serialises the sidecar's
		// work on it, as the demo does. Concurrency is tested on MariaDB.
		h.env = append(h.env, "WCBRIDGE_DATABASE_MAX_OPEN_CONNS=1")
	}
	h.startSidecar(l)
	return h
}

// startSidecar starts a sidecar on l (a new listener when nil).
func (h *harness) startSidecar(l net.Listener) *sidecar {
	h.t.Helper()
	if l == nil {
		var err error
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			h.t.Fatal(err)
		}
	}
	cfg, err := LoadConfig("", h.env)
	if err != nil {
		h.t.Fatal(err)
	}
	app, err := NewApp(h.ctx, cfg, AppOptions{CheckDelay: h.checkDelay, CreateTimeout: h.createTimeout, Logger: h.logger(), WrapGateway: h.wrap, LeaseFor: h.leaseFor, NotifyBudget: h.notifyBudget})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	sc := &sidecar{app: app, url: "http://" + l.Addr().String(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(sc.done)
		if err := app.Run(ctx, l); err != nil {
			h.t.Errorf("sidecar: %v", err)
		}
	}()
	h.t.Cleanup(func() { cancel(); <-sc.done; app.Close() })
	h.sidecars = append(h.sidecars, sc)
	return sc
}

// client is the signed test client standing in for the plugin, talking to
// the first sidecar.
func (h *harness) client() *pluginClient {
	return &pluginClient{t: h.t, base: h.sidecars[0].url, secret: []byte(testSecret)}
}

// order seeds a pending order paid with gateway and returns its id and key.
func (h *harness) order(gateway string, seed wootest.OrderSeed) (int64, string) {
	h.t.Helper()
	seed.PaymentMethod = bridge.PaymentMethodPrefix + gateway
	if len(seed.Items) == 0 {
		seed.Items = []wootest.ItemSeed{{Name: "T-shirt", Total: seed.Total}}
	}
	id := h.woo.SeedOrder(h.t, seed)
	o, err := h.sidecars[0].app.Woo.Order(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return id, o.OrderKey
}

// checkout starts a checkout through the signed API and returns the answer.
func (h *harness) checkout(id int64, key, gateway string) map[string]any {
	h.t.Helper()
	status, body := h.client().do("POST", "/v1/checkout", map[string]any{
		"order_id": id, "gateway": gateway, "order_key": key,
		"return_url": fmt.Sprintf("http://shop.test/checkout/order-received/%d/?key=%s", id, key),
		"cancel_url": "http://shop.test/cart/",
	})
	if status != http.StatusOK {
		h.t.Fatalf("checkout order %d with %s: %d %v", id, gateway, status, body)
	}
	return body
}

// gatewayPaymentID returns the gateway's id for the order's payment.
func gatewayPaymentID(res map[string]any) string {
	return res["payment"].(map[string]any)["gateway_payment_id"].(string)
}

// orderStatus reads the order's status the way WooCommerce would.
func (h *harness) orderStatus(id int64) string {
	h.t.Helper()
	o, err := h.sidecars[0].app.Woo.Order(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return o.Status
}

// notes returns the order's notes, oldest first.
func (h *harness) notes(id int64) []string {
	h.t.Helper()
	var out []string
	for _, r := range h.woo.Rows(h.t, "SELECT comment_content FROM wp_comments WHERE comment_post_ID = ? AND comment_type = 'order_note' ORDER BY comment_ID", id) {
		out = append(out, r["comment_content"])
	}
	return out
}

// waitStatus waits until the order has the status, or fails.
func (h *harness) waitStatus(id int64, want string, within time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := h.orderStatus(id)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("order %d: status %q after %v, want %q; notes: %q", id, got, within, want, h.notes(id))
		}
		time.Sleep(40 * time.Millisecond)
	}
}

// stays asserts that the order keeps its status for a while.
func (h *harness) stays(id int64, want string, d time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if got := h.orderStatus(id); got != want {
			h.t.Fatalf("order %d: status %q, want it to stay %q; notes: %q", id, got, want, h.notes(id))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitFor(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(40 * time.Millisecond)
	}
}

// pluginClient signs requests like the WordPress plugin does.
type pluginClient struct {
	t      testing.TB
	base   string
	secret []byte
	now    func() time.Time
}

func (c *pluginClient) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			c.t.Fatal(err)
		}
	}
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	return c.raw(method, path, raw, "application/json", now().Unix(), c.secret)
}

// raw sends exactly these bytes, signed with secret at ts (nil: unsigned).
func (c *pluginClient) raw(method, path string, body []byte, contentType string, ts int64, secret []byte) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if secret != nil {
		id := pluginsig.NewRequestID()
		req.Header.Set(pluginsig.HeaderTimestamp, fmt.Sprint(ts))
		req.Header.Set(pluginsig.HeaderRequestID, id)
		req.Header.Set(pluginsig.HeaderSignature, pluginsig.Signature(secret, ts, id, method, path, body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			c.t.Fatalf("%s %s: answer is not JSON: %q", method, path, b)
		}
	}
	return resp.StatusCode, out
}

// errorCode extracts error.code from an error answer.
func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// fakeWordPress is the plugin's notify endpoint: it verifies signatures and
// records each event id.
type fakeWordPress struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events map[string]int
	bodies []map[string]any
	down   bool
	gone   map[int64]bool // orders deleted in WordPress: answered 410
	// requestIDs are the notifications' request ids received so far.
	requestIDs map[string]bool
	// batches counts requests that carried several events.
	batches int
}

func newFakeWordPress(t testing.TB) *fakeWordPress {
	wp := &fakeWordPress{events: map[string]int{}, gone: map[int64]bool{}, requestIDs: map[string]bool{}}
	wp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			// The sidecar went away mid-request (a benchmark kills it
			// once the orders are paid, while notifications may still be
			// on their way). WordPress runs nothing for a request it did
			// not receive whole, and neither does this stand-in.
			http.Error(w, "incomplete request", http.StatusBadRequest)
			return
		}
		wp.mu.Lock()
		defer wp.mu.Unlock()
		if wp.down {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path != "/wp-json/wcbridge/v1/notify" {
			http.NotFound(w, r)
			return
		}
		signed := pluginsig.SignedFrom(r.Header)
		if err := pluginsig.Verify([]byte(testSecret), signed, r.Method, r.URL.RequestURI(), body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("notification with a bad signature: %v", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		// As the plugin does: a request id seen before is a replay.
		if wp.requestIDs[signed.RequestID] {
			t.Errorf("notification sent twice with request id %s", signed.RequestID)
			http.Error(w, `{"code":"replayed"}`, http.StatusUnauthorized)
			return
		}
		wp.requestIDs[signed.RequestID] = true
		// A batch ({"events": [...]}) is answered event by event, as the
		// plugin does (docs/plugin-api.md); one event alone as before.
		var batch struct {
			Events []map[string]any `json:"events"`
		}
		if err := json.Unmarshal(body, &batch); err != nil {
			t.Errorf("notification is not JSON: %q", body)
		}
		if batch.Events == nil {
			var n map[string]any
			_ = json.Unmarshal(body, &n)
			r := wp.finish(n)
			if !r.OK {
				http.Error(w, `{"code":"order_gone","message":"order not found","data":{"status":410}}`, http.StatusGone)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"ok":true,"finished":%v}`, r.Finished)
			return
		}
		wp.batches++
		results := make([]wordpress.BatchResult, len(batch.Events))
		for i, n := range batch.Events {
			results[i] = wp.finish(n)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "results": results})
	}))
	t.Cleanup(wp.srv.Close)
	return wp
}

// finish records one event, or refuses it as the plugin does for an order
// deleted in WordPress (wp.mu held).
func (wp *fakeWordPress) finish(n map[string]any) wordpress.BatchResult {
	id, _ := n["event_id"].(string)
	if oid, _ := n["order_id"].(float64); wp.gone[int64(oid)] {
		return wordpress.BatchResult{EventID: id, Status: http.StatusGone, Code: "order_gone", Message: "order not found"}
	}
	wp.events[id]++
	wp.bodies = append(wp.bodies, n)
	return wordpress.BatchResult{EventID: id, OK: true, Finished: wp.events[id] == 1}
}

func (wp *fakeWordPress) setDown(down bool) {
	wp.mu.Lock()
	wp.down = down
	wp.mu.Unlock()
}

// eventsFor returns the distinct event ids delivered for the order.
func (wp *fakeWordPress) eventsFor(orderID int64) []string {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, b := range wp.bodies {
		if id, _ := b["order_id"].(float64); int64(id) == orderID {
			e := b["event_id"].(string)
			if !seen[e] {
				seen[e] = true
				out = append(out, e)
			}
		}
	}
	return out
}

// logBuffer collects every log line the sidecars write, for assertions
// (no secret may appear in it).
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (h *harness) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func contains(notes []string, sub string) bool {
	for _, n := range notes {
		if strings.Contains(n, sub) {
			return true
		}
	}
	return false
}
