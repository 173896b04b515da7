package main

// End-to-end tests of money against the gateways as their documentation
// says they are (README, "Gateways"): Bitstream's units and webhooks,
// StreamPay's not_found, and money on any payment reaching its order.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway/bitstream/bitstreamsim"
	"github.com/wcbridge/wcbridge/bridge/pluginsig"
	"github.com/wcbridge/wcbridge/woo/wootest"
)

// paymentRow reads the sidecar's row of the order's newest payment.
func (h *harness) paymentRow(orderID int64) map[string]string {
	h.t.Helper()
	return h.woo.Row(h.t, "SELECT * FROM {p}wcbridge_payments WHERE order_id = ? ORDER BY id DESC LIMIT 1", orderID)
}

// waitPayment waits until the order's newest payment row satisfies ok.
func (h *harness) waitPayment(orderID int64, what string, ok func(row map[string]string) bool) map[string]string {
	h.t.Helper()
	var row map[string]string
	waitFor(h.t, what, 10*time.Second, func() bool {
		row = h.paymentRow(orderID)
		return ok(row)
	})
	return row
}

// paymentMeta decodes the order's _wcbridge_payment (HPOS), which must be
// one row.
func (h *harness) paymentMeta(orderID int64) bridge.PaymentMeta {
	h.t.Helper()
	rows := h.woo.OrderMeta(h.t, orderID, bridge.MetaPayment)
	if len(rows) != 1 {
		h.t.Fatalf("order %d has %d %s rows %q, want one", orderID, len(rows), bridge.MetaPayment, rows)
	}
	var m bridge.PaymentMeta
	if err := json.Unmarshal([]byte(rows[0]), &m); err != nil {
		h.t.Fatalf("order %d %s %q: %v", orderID, bridge.MetaPayment, rows[0], err)
	}
	return m
}

// view reads the order's payment view through the signed plugin API.
func (h *harness) view(orderID int64) map[string]any {
	h.t.Helper()
	status, v := h.client().do("GET", "/v1/orders/"+itoa(orderID)+"/payment", nil)
	if status != http.StatusOK {
		h.t.Fatalf("payment view of order %d: %d %v", orderID, status, v)
	}
	return v
}

// Case 1: Bitstream counts 10^-8 of the token. A 19.99 USD order is a
// session of "1999000000" (19.99 USDC), not 0.1999 USDC; the notes and the
// payment view show token amounts in human units; the row keeps scale 8.
func TestE2EBitstreamUnits(t *testing.T) {
	h := newHarness(t)
	id, key := h.order("bitstream", usd("19.99"))
	gid := gatewayPaymentID(h.checkout(id, key, "bitstream"))
	sp, ok := h.sims.Bitstream.Payment(gid)
	if !ok || sp.AmountTotal.String() != "1999000000" || sp.Currency != "usdc" {
		t.Fatalf("session total %v %s, want 1999000000 usdc (19.99 USDC at 10^-8)", sp.AmountTotal, sp.Currency)
	}
	if row := h.paymentRow(id); row["unit_scale"] != "8" || row["gateway_amount"] != "19.990000000000000000" || row["gateway_currency"] != "usdc" {
		t.Fatalf("payment row unit_scale %s gateway_amount %s %s", row["unit_scale"], row["gateway_amount"], row["gateway_currency"])
	}
	if err := h.sims.Bitstream.PayExact(gid); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
	h.waitPayment(id, "payment applied", func(row map[string]string) bool { return row["applied_status"] == "paid" })
	if notes := h.notes(id); len(notes) != 1 || !strings.Contains(notes[0], "Payment of 19.99 USD received via Bitstream") ||
		!strings.Contains(notes[0], "19.99 usdc received of 19.99 usdc asked") {
		t.Fatalf("notes %q", notes)
	}
	p := h.view(id)["payment"].(map[string]any)
	if p["gateway_amount"] != "19.99" || p["gateway_received"] != "19.99" || p["gateway_currency"] != "usdc" || p["received"] != "19.99" {
		t.Fatalf("payment view %v", p)
	}
}

// Case 1, migration: a payment made by an earlier version at 10^-6 units
// (its row has no unit scale) keeps that scale: its amounts are read as it
// was created, nothing is reinterpreted, and the sidecar says so in its log.
func TestE2EBitstreamPaymentKeepsItsScale(t *testing.T) {
	h := newHarness(t)
	id, _ := h.order("bitstream", usd("19.99"))
	// The session the earlier version created: 19.99 × 10^6 units.
	sid := createBitstreamSession(t, h, "19990000")
	ctx := context.Background()
	now := time.Now().UTC()
	if _, err := h.sidecars[0].app.Store.CreatePayment(ctx, &bridge.Payment{
		OrderID: id, Gateway: "bitstream", GatewayID: sid, OrderRef: "wc-legacy-1", Status: bridge.PaymentPending,
		Amount:        bridge.Money{Amount: decimal.RequireFromString("19.99"), Currency: "USD"},
		GatewayAmount: bridge.Money{Amount: decimal.RequireFromString("19.99"), Currency: "usdc"},
		PayURL:        "http://pay.test/" + sid, ExpiresAt: now.Add(time.Hour), CreatedAt: now, NextCheckAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	if row := h.paymentRow(id); row["unit_scale"] != "NULL" {
		t.Fatalf("legacy row unit_scale %s, want NULL", row["unit_scale"])
	}
	if err := h.sims.Bitstream.PayExact(sid); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
	if notes := h.notes(id); len(notes) != 1 || !strings.Contains(notes[0], "19.99 usdc received of 19.99 usdc asked") {
		t.Fatalf("notes %q: want the amounts as the payment was created", notes)
	}
	// The order is written first, the payment row right after.
	h.waitPayment(id, "payment applied", func(row map[string]string) bool { return row["applied_status"] == "paid" })
	if row := h.paymentRow(id); row["unit_scale"] != "6" || row["gateway_received"] != "19.990000000000000000" {
		t.Fatalf("row unit_scale %s gateway_received %s, want the scale it was created with (6)", row["unit_scale"], row["gateway_received"])
	}
	if !strings.Contains(h.logs.String(), "payment created at an earlier unit scale keeps it") {
		t.Fatal("no warning about the payment made at the earlier scale")
	}
}

// createBitstreamSession creates a session at the simulator the way the
// documentation shows, for units of usdc, and returns its id.
func createBitstreamSession(t *testing.T, h *harness, units string) string {
	t.Helper()
	body := fmt.Sprintf(`{"successUrl":"http://shop.test/ok","lineItems":{"data":[{"priceData":{"currency":"usdc","unitAmount":%q,"productData":{"name":"Order","description":"x"}}}]}}`, units)
	req, _ := http.NewRequest("POST", h.sims.URLs["bitstream"]+"/api/v1/checkout/sessions", bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", "Bearer "+bitstreamsim.DefaultConfig().APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != http.StatusCreated || s.ID == "" {
		t.Fatalf("create session: %d %v", resp.StatusCode, err)
	}
	return s.ID
}

// slowPolling keeps the reconciler away for the length of a test, so what
// happens comes from the gateway's callbacks.
func slowPolling(time.Duration) time.Duration { return time.Hour }

// Case 2: Bitstream's signed webhooks complete the order on their own
// (polling kept away), each confirmed by reading the session back; forged,
// tampered and token-only webhooks get 401 and change nothing; the session
// was created with expiresAt from payments.lifetime and our reference.
func TestE2EBitstreamWebhooks(t *testing.T) {
	h := newHarness(t, withCheckDelay(slowPolling), withEnv("WCBRIDGE_PAYMENTS_LIFETIME=30m"))
	id, key := h.order("bitstream", usd("25.00"))
	before := time.Now()
	res := h.checkout(id, key, "bitstream")
	gid := gatewayPaymentID(res)
	sp, _ := h.sims.Bitstream.Payment(gid)
	if d := sp.ExpiresAt.Sub(before); d < 29*time.Minute || d > 31*time.Minute {
		t.Fatalf("session expires %v after checkout, want payments.lifetime (30m)", d)
	}
	if sp.ClientReferenceID == "" || sp.ClientReferenceID != h.paymentRow(id)["reference"] || sp.Metadata["order_id"] != itoa(id) {
		t.Fatalf("session reference %q metadata %v", sp.ClientReferenceID, sp.Metadata)
	}
	if status := h.client().statusReport(); status["gateways"].(map[string]any)["bitstream"].(map[string]any)["callback_url"] != h.sidecars[0].url+"/v1/callbacks/bitstream" {
		t.Fatalf("status report shows no Bitstream callback URL: %v", status["gateways"])
	}
	reads := h.sims.Bitstream.Calls("get")
	if err := h.sims.Bitstream.PayExact(gid); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
	if h.sims.Bitstream.Calls("get") == reads {
		t.Fatal("the webhook was not confirmed by reading the session")
	}
	if n := h.woo.Count(t, "wcbridge_callbacks", "gateway = 'bitstream' AND verified = 1"); n != 1 {
		t.Fatalf("%d verified Bitstream webhooks recorded, want 1", n)
	}
	if notes := h.notes(id); len(notes) != 1 || !strings.Contains(notes[0], "transaction 0x") {
		t.Fatalf("notes %q", notes)
	}

	// Attacks on a second order: nothing counts, every one is a 401.
	id2, key2 := h.order("bitstream", usd("25.00"))
	gid2 := gatewayPaymentID(h.checkout(id2, key2, "bitstream"))
	if err := h.sims.Bitstream.Expire(gid2); err != nil { // a genuine "expired" event to tamper with
		t.Fatal(err)
	}
	h.waitStatus(id2, bridge.StatusCancelled, 10*time.Second)
	for name, send := range map[string]func(string) (int, error){
		"forged": h.sims.Bitstream.SendForged, "tampered": h.sims.Bitstream.SendTampered, "token-only": h.sims.Bitstream.SendTokenOnly,
	} {
		if code, err := send(gid2); err != nil || code != http.StatusUnauthorized {
			t.Errorf("%s webhook: %d %v, want 401", name, code, err)
		}
	}
	if code, err := h.sims.Bitstream.SendDuplicate(gid2); err != nil || code != http.StatusOK {
		t.Errorf("duplicate of a genuine webhook: %d %v, want 200", code, err)
	}
	h.stays(id2, bridge.StatusCancelled, 500*time.Millisecond)
	if notes := h.notes(id2); len(notes) != 1 {
		t.Fatalf("notes after attacks %q", notes)
	}
}

// Case 2: "incomplete" (some money, less than asked) is an underpayment:
// the order goes on hold with the shortfall, from the webhook alone.
func TestE2EBitstreamIncompleteIsUnderpaid(t *testing.T) {
	h := newHarness(t, withCheckDelay(slowPolling))
	id, key := h.order("bitstream", usd("40.00"))
	gid := gatewayPaymentID(h.checkout(id, key, "bitstream"))
	if err := h.sims.Bitstream.Underpay(gid); err != nil { // 90%: no event documented for it
		t.Fatal(err)
	}
	if err := h.sims.Bitstream.Expire(gid); err != nil { // checkout_session.expired, status incomplete
		t.Fatal(err)
	}
	if sp, _ := h.sims.Bitstream.Payment(gid); sp.Status != "incomplete" {
		t.Fatalf("simulated session %s, want incomplete", sp.Status)
	}
	h.waitStatus(id, bridge.StatusOnHold, 10*time.Second)
	if notes := h.notes(id); !contains(notes, "36 USD received of 40 USD, 4 USD short") || !contains(notes, "36 usdc received of 40 usdc asked") {
		t.Fatalf("notes %q", notes)
	}
}

// Case 2: without a webhook secret every webhook is refused with 401 and
// polling completes the order.
func TestE2EBitstreamWithoutWebhookSecret(t *testing.T) {
	h := newHarness(t, withoutEnv("WCBRIDGE_GATEWAYS_BITSTREAM_WEBHOOK_SECRET"))
	id, key := h.order("bitstream", usd("12.00"))
	gid := gatewayPaymentID(h.checkout(id, key, "bitstream"))
	if err := h.sims.Bitstream.PayExact(gid); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
	waitFor(t, "a refused webhook", 5*time.Second, func() bool {
		for _, d := range h.sims.Bitstream.Callbacks() {
			if d.ID == gid && d.StatusCode == http.StatusUnauthorized {
				return true
			}
		}
		return false
	})
	for _, d := range h.sims.Bitstream.Callbacks() {
		if d.StatusCode == http.StatusOK {
			t.Fatalf("a webhook was accepted without a secret: %+v", d)
		}
	}
	if n := len(h.notes(id)); n != 1 {
		t.Fatalf("%d notes, want 1", n)
	}
}

// statusReport reads GET /v1/status.
func (c *pluginClient) statusReport() map[string]any {
	c.t.Helper()
	status, body := c.do("GET", "/v1/status", nil)
	if status != http.StatusOK {
		c.t.Fatalf("GET /v1/status: %d %v", status, body)
	}
	return body
}

// createdButLost creates the payment at the gateway and then reports the
// call as failed, as when the answer is lost or comes after the deadline:
// the gateway has an invoice our row never learnt the id of.
type createdButLost struct {
	bridge.Gateway
	made *madeIDs
}

// madeIDs are the gateway ids of payments created but reported failed.
type madeIDs struct {
	mu  sync.Mutex
	ids []string
}

func (m *madeIDs) list() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.ids...)
}

func (g createdButLost) CreatePayment(ctx context.Context, r bridge.CreatePaymentRequest) (*bridge.GatewayPayment, error) {
	gp, err := g.Gateway.CreatePayment(ctx, r)
	if err != nil {
		return nil, err
	}
	g.made.mu.Lock()
	g.made.ids = append(g.made.ids, gp.GatewayID)
	g.made.mu.Unlock()
	return nil, &bridge.Error{Code: bridge.EUNAVAILABLE, Message: g.Name() + ": create payment failed: gateway did not answer in time"}
}

// Case 4: money on a payment whose creation failed at our end reaches the
// order: paid, a note saying so, a notification and a WARN log. The
// payment is found by the reference the gateway's own record carries.
func TestE2EMoneyOnFailedPayment(t *testing.T) {
	for _, d := range []driver{drivers[1], drivers[2]} { // the gateways that echo our reference
		t.Run(d.name, func(t *testing.T) {
			lost := &madeIDs{}
			h := newHarness(t, withCheckDelay(slowPolling), withWrap(func(g bridge.Gateway) bridge.Gateway { return createdButLost{g, lost} }))
			id, key := h.order(d.name, usd("17.00"))
			status, body := h.client().do("POST", "/v1/checkout", map[string]any{"order_id": id, "gateway": d.name, "order_key": key,
				"return_url": "http://shop.test/r", "cancel_url": "http://shop.test/c"})
			made := lost.list()
			if status != http.StatusServiceUnavailable || len(made) != 1 {
				t.Fatalf("checkout: %d %v, %d invoices made", status, body, len(made))
			}
			if row := h.paymentRow(id); row["status"] != "failed" || row["gateway_id"] != "NULL" {
				t.Fatalf("row %s, gateway id %s", row["status"], row["gateway_id"])
			}
			// The customer pays the invoice anyway (CryptoCloud e-mails it).
			if err := d.pay(h, made[0]); err != nil {
				t.Fatal(err)
			}
			h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
			row := h.waitPayment(id, "the failed payment applied", func(r map[string]string) bool { return r["applied_status"] == "paid" })
			if row["status"] != "paid" || row["gateway_id"] != made[0] {
				t.Fatalf("row %s gateway id %s, want paid %s", row["status"], row["gateway_id"], made[0])
			}
			if notes := h.notes(id); len(notes) != 1 || !strings.Contains(notes[0], "Payment of 17 USD received via") ||
				!strings.Contains(notes[0], "had been reported as failed") {
				t.Fatalf("notes %q", notes)
			}
			waitFor(t, "the notification", 10*time.Second, func() bool { return len(h.wp.eventsFor(id)) == 1 })
			if !strings.Contains(h.logs.String(), "money arrived on a payment whose creation had failed") {
				t.Fatal("no warning in the log")
			}
		})
	}
}

// checkoutWithin sends a signed checkout and gives up after timeout, as the
// plugin does; it returns the status (0 when it gave up) and the answer.
func (h *harness) checkoutWithin(id int64, key, gateway string, timeout time.Duration) (int, map[string]any) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return h.checkoutCtx(ctx, id, key, gateway)
}

// checkoutCtx is checkoutWithin giving up when ctx ends.
func (h *harness) checkoutCtx(ctx context.Context, id int64, key, gateway string) (int, map[string]any) {
	body, _ := json.Marshal(map[string]any{"order_id": id, "gateway": gateway, "order_key": key,
		"return_url": "http://shop.test/r", "cancel_url": "http://shop.test/c"})
	req, _ := http.NewRequestWithContext(ctx, "POST", h.sidecars[0].url+"/v1/checkout", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	pluginsig.Sign([]byte(testSecret), time.Now(), "POST", "/v1/checkout", body).Set(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// Case 4: the gateway is slower than the plugin's patience. The sidecar's
// deadline for the gateway ends first and it answers (503, "try again");
// when the plugin gives up first, the payment is still recorded as failed
// at once (not left "creating" for two minutes), so the next checkout
// creates a new payment. (TestE2ECheckoutWhileCreating: a checkout while
// another is creating.)
func TestE2EGatewaySlowerThanThePlugin(t *testing.T) {
	h := newHarness(t, withCreateTimeout(2*time.Second))
	sp := h.sims.StreamPay

	// The sidecar's deadline ends first: an answer within the plugin's
	// patience (here 10 s), not a timeout, while the gateway still hangs.
	id, key := h.order("streampay", usd("10.00"))
	sp.Hang(time.Minute)
	start := time.Now()
	status, body := h.checkoutWithin(id, key, "streampay", 10*time.Second)
	if status != http.StatusServiceUnavailable || errorCode(body) != "unavailable" {
		t.Fatalf("slow gateway: %d %v after %v, want 503 unavailable before the plugin gives up", status, body, time.Since(start))
	}
	t.Logf("slow gateway: answered after %v (the sidecar's deadline: 2s)", time.Since(start).Round(time.Millisecond))
	if row := h.paymentRow(id); row["status"] != "failed" {
		t.Fatalf("payment %s after the deadline, want failed", row["status"])
	}

	// The plugin gives up first, while the sidecar waits for the gateway:
	// the row is recorded all the same.
	id2, key2 := h.order("streampay", usd("11.00"))
	ctx, giveUp := context.WithCancel(context.Background())
	defer giveUp()
	answer := make(chan int, 1)
	go func() { status, _ := h.checkoutCtx(ctx, id2, key2, "streampay"); answer <- status }()
	waitFor(t, "the checkout to wait for the gateway", 10*time.Second, func() bool {
		return h.woo.Count(t, "wcbridge_payments", "order_id = ? AND status = 'creating'", id2) == 1
	})
	giveUp()
	if status := <-answer; status != 0 {
		t.Fatalf("the impatient client got an answer: %d", status)
	}
	h.waitPayment(id2, "the abandoned creation to be recorded", func(r map[string]string) bool { return r["status"] == "failed" })
	sp.Hang(0)
	if status, body := h.checkoutWithin(id2, key2, "streampay", 5*time.Second); status != http.StatusOK {
		t.Fatalf("checkout after an abandoned one: %d %v, want a new payment", status, body)
	}
}

// A checkout while another one for the order waits for the gateway is told
// "in_progress" (the plugin: "try again in a moment"); the first one ends
// well. The gateway takes 5 s, within the default deadline (8 s), so the
// second checkout arrives while the first is creating even on a loaded
// machine.
func TestE2ECheckoutWhileCreating(t *testing.T) {
	h := newHarness(t)
	sp := h.sims.StreamPay
	id3, key3 := h.order("streampay", usd("12.00"))
	sp.Hang(5 * time.Second)
	first := make(chan int, 1)
	go func() { s, _ := h.checkoutWithin(id3, key3, "streampay", 10*time.Second); first <- s }()
	waitFor(t, "the first checkout to reserve the payment", 5*time.Second, func() bool {
		return h.woo.Count(t, "wcbridge_payments", "order_id = ? AND status = 'creating'", id3) == 1
	})
	status, body := h.checkoutWithin(id3, key3, "streampay", 5*time.Second)
	if status != http.StatusConflict || errorCode(body) != "in_progress" {
		t.Fatalf("second checkout: %d %v, want 409 in_progress", status, body)
	}
	if s := <-first; s != http.StatusOK {
		t.Fatalf("first checkout: %d", s)
	}
	sp.Hang(0)
}

// The sidecar's default deadline for the gateway ends before the plugin
// stops waiting for the sidecar, with room to record and answer.
func TestCreateDeadlineBeforePluginTimeout(t *testing.T) {
	src, err := os.ReadFile("../../plugin-php/includes/class-gateway.php")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Client::from_settings\(\s*(\d+)\s*\)->checkout`).FindSubmatch(src)
	if m == nil {
		t.Fatal("the plugin's checkout timeout was not found in class-gateway.php")
	}
	plugin, _ := strconv.Atoi(string(m[1]))
	if margin := time.Duration(plugin)*time.Second - bridge.DefaultCreateTimeout; margin < time.Second {
		t.Fatalf("the sidecar waits %v for the gateway, the plugin %ds for the sidecar: want at least a second between", bridge.DefaultCreateTimeout, plugin)
	}
}

// Case 3: the status host does not know a new StreamPay payment for a while
// (creation and status are two hosts). Its not_found — as a 200 or as a 404
// naming the payment — means "check again" before the payment's expiry:
// the order is not cancelled, and a callback that arrives meanwhile is
// confirmed once the status host knows the payment, its amounts intact.
func TestE2EStreamPayNotFoundBeforeExpiry(t *testing.T) {
	for _, as404 := range []bool{false, true} {
		t.Run(map[bool]string{false: "200", true: "404"}[as404], func(t *testing.T) {
			h := newHarness(t)
			sp := h.sims.StreamPay
			sp.SetNotFound404(as404)
			sp.SetStatusLag(2 * time.Second)
			id, key := h.order("streampay", usd("40.00"))
			gid := gatewayPaymentID(h.checkout(id, key, "streampay"))
			h.stays(id, bridge.StatusPending, time.Second) // polled every 150ms meanwhile
			if err := sp.Overpay(gid); err != nil {        // the callback goes out at once
				t.Fatal(err)
			}
			h.waitStatus(id, bridge.StatusProcessing, 15*time.Second)
			h.waitPayment(id, "the payment applied", func(r map[string]string) bool { return r["applied_status"] == "overpaid" })
			// The reconciler may count it paid (the status API has no
			// amounts) before the callback's retry: then the excess follows.
			notes := h.notes(id)
			excess := 0
			for _, n := range notes {
				excess += strings.Count(n, "an excess of 4 USD")
			}
			if excess != 1 || len(notes) > 2 {
				t.Fatalf("notes %q: want the callback's amounts confirmed, the excess noted once", notes)
			}
			// The callback is marked applied after its outcome reached the
			// payment.
			applied := func() int {
				return h.woo.Count(t, "wcbridge_callbacks", "gateway = 'streampay' AND applied_at IS NOT NULL")
			}
			waitFor(t, "the callback marked applied", 30*time.Second, func() bool { return applied() >= 1 })
			if n := applied(); n != 1 {
				t.Fatalf("%d callbacks applied, want 1", n)
			}
		})
	}
	// After its expiry (and the grace), not_found is expired, as before:
	// TestE2EExpiredThenPaidLate.
}

// Case 3 and case 4: the sidecar's callback endpoint fails, so StreamPay
// shows ERR_CALLBACK and keeps retrying. The reconciler counts the payment
// paid from the status API (which has no amounts: the amount asked is
// recorded as received), keeps watching it and says why in the status
// report. When the callback finally gets through, its verified larger
// amount moves the payment from paid to overpaid: the excess is noted and
// WordPress is told.
func TestE2EStreamPayErrCallbackThenExcess(t *testing.T) {
	h := newHarness(t)
	sp := h.sims.StreamPay
	failing := httptestServer(t, http.StatusBadGateway)
	sp.SetCallbackURL(failing)
	id, key := h.order("streampay", usd("40.00"))
	gid := gatewayPaymentID(h.checkout(id, key, "streampay"))
	if err := sp.Overpay(gid); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
	row := h.waitPayment(id, "the payment watched", func(r map[string]string) bool { return r["watch"] == "1" && r["applied_status"] == "paid" })
	if row["received"] != "40.000000000000000000" || !strings.Contains(row["last_error"], "ERR_CALLBACK") || row["due"] != "1" {
		t.Fatalf("row received %s last error %q due %s", row["received"], row["last_error"], row["due"])
	}
	if m := h.paymentMeta(id); m.Status != bridge.PaymentPaid || m.Received != "40" {
		t.Fatalf("%s = %+v, want paid, 40 received", bridge.MetaPayment, m)
	}
	if p := h.view(id)["payment"].(map[string]any); p["received"] != "40" {
		t.Fatalf("payment view received %v, want 40", p["received"])
	}
	g := h.client().statusReport()["gateways"].(map[string]any)["streampay"].(map[string]any)
	if n, _ := g["problem_payments"].(float64); n != 1 || !strings.Contains(fmt.Sprint(g["last_payment_problem"]), "ERR_CALLBACK") {
		t.Fatalf("status report: %v", g)
	}
	if notes := h.notes(id); len(notes) != 1 || !strings.Contains(notes[0], "Payment of 40 USD received") {
		t.Fatalf("notes %q", notes)
	}

	// The shop fixes the callback URL; StreamPay's next retry arrives.
	sp.SetCallbackURL(h.sidecars[0].url + "/v1/callbacks/streampay")
	h.waitPayment(id, "the payment overpaid", func(r map[string]string) bool { return r["applied_status"] == "overpaid" })
	notes := h.notes(id)
	if len(notes) != 2 || !strings.Contains(notes[1], "44 USD received for an order total of 40 USD, an excess of 4 USD") {
		t.Fatalf("notes %q: want the excess noted once", notes)
	}
	if m := h.paymentMeta(id); m.Status != bridge.PaymentOverpaid || m.Received != "44" {
		t.Fatalf("%s = %+v, want overpaid, 44 received", bridge.MetaPayment, m)
	}
	waitFor(t, "the overpaid notification", 10*time.Second, func() bool {
		for _, e := range h.wp.eventsFor(id) {
			if strings.HasSuffix(e, ":overpaid") {
				return true
			}
		}
		return false
	})
	h.waitPayment(id, "the watch to end", func(r map[string]string) bool { return r["watch"] == "0" && r["last_error"] == "" })
	if s := h.orderStatus(id); s != bridge.StatusProcessing {
		t.Fatalf("order %s", s)
	}
}

// httptestServer answers every request with status.
func httptestServer(t *testing.T, status int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Case 4: a second payment on an already paid order gets one note, keyed by
// the payment: counted paid from the status API first (its callback lost),
// then overpaid by its callback, the note is replaced, not repeated, and
// WordPress hears of it once.
func TestE2ESecondPaymentOneNote(t *testing.T) {
	h := newHarness(t, withEnv("WCBRIDGE_ORDERS_ON_EXPIRED=leave_pending"))
	sp := h.sims.StreamPay
	id, key := h.order("streampay", wootest.OrderSeed{Currency: "EUR", Total: "9.99"})
	first := gatewayPaymentID(h.checkout(id, key, "streampay"))
	if err := sp.Expire(first); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first payment to expire", 10*time.Second, func() bool { return contains(h.notes(id), "expired without payment") })
	// The note is written before the payment's row records the expiry; until
	// then a checkout would reuse the payment.
	h.waitPayment(id, "the expiry recorded on the payment", func(r map[string]string) bool {
		return r["status"] == "expired" && r["applied_status"] == "expired"
	})
	second := gatewayPaymentID(h.checkout(id, key, "streampay"))
	if err := sp.PayExact(second); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)

	// The first link is paid late, with more than asked; its callback is
	// lost at first, so the status API (no amounts) counts it first.
	sp.SetCallbackURL(httptestServer(t, http.StatusServiceUnavailable))
	if err := sp.Overpay(first); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second payment's note", 10*time.Second, func() bool { return contains(h.notes(id), "A second payment was received") })
	sp.SetCallbackURL(h.sidecars[0].url + "/v1/callbacks/streampay")
	waitFor(t, "the callback's figures in the note", 15*time.Second, func() bool {
		return contains(h.notes(id), "A second payment was received via StreamPay (payment "+first+", 10.989 EUR)")
	})
	time.Sleep(500 * time.Millisecond) // let any repeat show itself
	n := 0
	for _, note := range h.notes(id) {
		n += strings.Count(note, "A second payment was received")
	}
	if n != 1 {
		t.Fatalf("%d second-payment notes, want 1: %q", n, h.notes(id))
	}
	seconds := 0
	for _, e := range h.wp.eventsFor(id) {
		if strings.HasSuffix(e, ":second") {
			seconds++
		}
	}
	waitFor(t, "the second payment's notification", 10*time.Second, func() bool {
		seconds = 0
		for _, e := range h.wp.eventsFor(id) {
			if strings.HasSuffix(e, ":second") {
				seconds++
			}
		}
		return seconds > 0
	})
	if seconds != 1 {
		t.Fatalf("%d second-payment notifications, want 1", seconds)
	}
}

// Case 4: a CryptoCloud invoice paid in the project's test mode, with
// allow_test_mode off, is never silent: the order stays pending with a note
// saying why, the payment's last error says it, and so does the status
// report.
func TestE2ECryptoCloudTestModeIsNeverSilent(t *testing.T) {
	h := newHarness(t)
	h.sims.CryptoCloud.SetTestMode(true)
	id, key := h.order("cryptocloud", usd("20.00"))
	gid := gatewayPaymentID(h.checkout(id, key, "cryptocloud"))
	if err := h.sims.CryptoCloud.PayExact(gid); err != nil {
		t.Fatal(err)
	}
	const why = "paid in test mode: not counted; turn on allow_test_mode to count test payments"
	waitFor(t, "the note", 10*time.Second, func() bool { return contains(h.notes(id), why) })
	h.stays(id, bridge.StatusPending, 500*time.Millisecond)
	if notes := h.notes(id); len(notes) != 1 {
		t.Fatalf("notes %q, want one", notes)
	}
	if row := h.paymentRow(id); row["status"] != "pending" || row["last_error"] != why {
		t.Fatalf("payment %s, last error %q", row["status"], row["last_error"])
	}
	g := h.client().statusReport()["gateways"].(map[string]any)["cryptocloud"].(map[string]any)
	if n, _ := g["problem_payments"].(float64); n != 1 || !strings.Contains(fmt.Sprint(g["last_payment_problem"]), why) {
		t.Fatalf("status report: %v", g)
	}
}

// Case 4: a failed look must not park a payment: back-off follows the
// consecutive failures, capped by the regular pace. A payment looked at 40
// times before (the old rule backed off on those: 30 minutes) is looked at
// again within seconds of one failure, and its payment is seen.
func TestE2EFailedPollDoesNotParkThePayment(t *testing.T) {
	h := newHarness(t, withCheckDelay(slowPolling))
	bs := h.sims.Bitstream
	bs.SetWebhookURL("") // polling only
	id, key := h.order("bitstream", usd("13.00"))
	gid := gatewayPaymentID(h.checkout(id, key, "bitstream"))
	h.woo.Exec(t, "UPDATE {p}wcbridge_payments SET checks = 40, next_check_at = ? WHERE order_id = ?", time.Now().UTC().Add(-time.Second), id)
	if err := bs.PayExact(gid); err != nil {
		t.Fatal(err)
	}
	reads := bs.Calls("get")
	bs.FailNext(4, http.StatusInternalServerError) // one look: the first try and the client's 3 retries
	// The failed look plans the next one by the consecutive failures (one:
	// seconds), not by the 40 looks before it (the old back-off: 30 min) nor
	// by the regular pace (1 h). Read from the plan, not from a stopwatch.
	waitFor(t, "the failed look's plan", 30*time.Second, func() bool {
		r := h.woo.Row(t, "SELECT failures, TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), next_check_at) AS wait FROM {p}wcbridge_payments WHERE order_id = ? ORDER BY id DESC LIMIT 1", id)
		if r["failures"] != "1" {
			return false
		}
		if w, err := strconv.Atoi(r["wait"]); err != nil || w > 60 {
			t.Fatalf("after one failed look the next is planned in %s s, want seconds", r["wait"])
		}
		return true
	})
	h.waitStatus(id, bridge.StatusProcessing, 90*time.Second)
	if n := bs.Calls("get") - reads; n < 5 {
		t.Fatalf("%d reads, want the failed look (4) and a good one", n)
	}
	// The pass writes its plans (the failure count reset) after applying.
	h.waitPayment(id, "the consecutive failures reset by the good look", func(r map[string]string) bool { return r["failures"] == "0" })
}

// ctrlTxRef puts control characters and quotes in every transaction
// reference the gateway reports.
type ctrlTxRef struct{ bridge.Gateway }

func (g ctrlTxRef) PaymentState(ctx context.Context, id string) (*bridge.GatewayState, error) {
	st, err := g.Gateway.PaymentState(ctx, id)
	if err == nil && st.TxRef != "" {
		st.TxRef = "0x\x01\"tx\\\n" + st.TxRef
	}
	return st, err
}

func (g ctrlTxRef) ConfirmCallback(ctx context.Context, ev *bridge.CallbackEvent) (*bridge.GatewayState, error) {
	st, err := g.Gateway.ConfirmCallback(ctx, ev)
	if err == nil && st.TxRef != "" {
		st.TxRef = "0x\x01\"tx\\\n" + st.TxRef
	}
	return st, err
}

// Case 4: the notification is JSON by construction: a control character in
// a gateway's transaction reference reaches WordPress intact and parsed.
func TestE2ENotificationWithControlCharacters(t *testing.T) {
	h := newHarness(t, withWrap(func(g bridge.Gateway) bridge.Gateway { return ctrlTxRef{g} }))
	id, key := h.order("bitstream", usd("14.00"))
	if err := h.sims.Bitstream.PayExact(gatewayPaymentID(h.checkout(id, key, "bitstream"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the notification", 10*time.Second, func() bool { return len(h.wp.eventsFor(id)) == 1 })
	h.wp.mu.Lock()
	defer h.wp.mu.Unlock()
	for _, b := range h.wp.bodies {
		if oid, _ := b["order_id"].(float64); int64(oid) == id {
			if tx, _ := b["transaction_id"].(string); !strings.HasPrefix(tx, "0x\x01\"tx\\\n") {
				t.Fatalf("transaction_id %q", tx)
			}
			return
		}
	}
	t.Fatal("no notification body for the order")
}
