package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway/bitstream/bitstreamsim"
	"github.com/wcbridge/wcbridge/bridge/gateway/cryptocloud"
	"github.com/wcbridge/wcbridge/bridge/gateway/cryptocloud/cryptocloudsim"
	"github.com/wcbridge/wcbridge/bridge/gateway/simkit"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay/streampaysim"
	"github.com/wcbridge/wcbridge/bridge/pluginsig"
	"github.com/wcbridge/wcbridge/woo/wootest"
)

// driver pays, underpays, overpays and expires payments at one simulator.
// driver runs a case against one gateway through its simulator's
// simkit.Simulator, the interface every simulator implements alike.
type driver struct{ name string }

var drivers = []driver{{"streampay"}, {"cryptocloud"}, {"bitstream"}}

func (d driver) sim(h *harness) simkit.Simulator      { return h.sims.Get(d.name) }
func (d driver) pay(h *harness, id string) error      { return d.sim(h).Act(id, simkit.Exact) }
func (d driver) underpay(h *harness, id string) error { return d.sim(h).Act(id, simkit.Under) }
func (d driver) overpay(h *harness, id string) error  { return d.sim(h).Act(id, simkit.Over) }
func (d driver) expire(h *harness, id string) error   { return d.sim(h).Act(id, simkit.Expire) }

// payLate pays a payment after it expired; simkit.ErrUnsupported where the
// gateway refuses payment after expiry.
func (d driver) payLate(h *harness, id string) error { return d.sim(h).Act(id, simkit.Late) }

// createCalls counts creation requests that reached the simulator.
func (d driver) createCalls(h *harness) int { return d.sim(h).CreateCalls() }

// mute stops callbacks reaching the sidecar (a lost callback).
func (d driver) mute(h *harness) { d.sim(h).SetCallbackURL("") }

func usd(total string) wootest.OrderSeed { return wootest.OrderSeed{Currency: "USD", Total: total} }

func TestE2EHappyPath(t *testing.T) {
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			h := newHarness(t)
			id, key := h.order(d.name, usd("25.00"))
			res := h.checkout(id, key, d.name)
			if res["redirect_url"] == "" || res["reused"] != false {
				t.Fatalf("checkout answer: %v", res)
			}
			gid := gatewayPaymentID(res)
			// Thank-you page while waiting: the stock is held.
			_, view := h.client().do("GET", "/v1/orders/"+itoa(id)+"/payment", nil)
			if view["state"] != "waiting" || view["hold_stock"] != true {
				t.Fatalf("payment view before paying: %v", view)
			}
			// A repeated checkout reuses the live payment.
			again := h.checkout(id, key, d.name)
			if again["reused"] != true || gatewayPaymentID(again) != gid {
				t.Fatalf("second checkout did not reuse payment %s: %v", gid, again)
			}
			if err := d.pay(h, gid); err != nil {
				t.Fatal(err)
			}
			h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
			notes := h.notes(id)
			if len(notes) != 1 || !strings.Contains(notes[0], "Payment of 25 USD received via") {
				t.Fatalf("notes = %q", notes)
			}
			o, _ := h.sidecars[0].app.Woo.Order(h.ctx, id)
			if o.TransactionID == "" || o.PaidAt == nil || o.Meta["_wcbridge_payment_id"] != gid {
				t.Fatalf("transaction id %q, paid at %v, meta %v", o.TransactionID, o.PaidAt, o.Meta)
			}
			_, view = h.client().do("POST", "/v1/orders/"+itoa(id)+"/recheck", map[string]any{})
			if view["state"] != "confirmed" || view["order_status"] != "processing" {
				t.Fatalf("payment view after paying: %v", view)
			}
			waitFor(t, "the paid notification to reach WordPress", 10*time.Second, func() bool {
				return len(h.wp.eventsFor(id)) == 1
			})

			// Virtual and downloadable only: straight to completed.
			vid, vkey := h.order(d.name, wootest.OrderSeed{Currency: "USD", Total: "9.99",
				Items: []wootest.ItemSeed{{Name: "E-book", Total: "9.99", Virtual: true, Downloadable: true}}})
			vres := h.checkout(vid, vkey, d.name)
			if err := d.pay(h, gatewayPaymentID(vres)); err != nil {
				t.Fatal(err)
			}
			h.waitStatus(vid, bridge.StatusCompleted, 10*time.Second)
		})
	}
}

// TestE2EPaidStatusFromTheShopsFilter: the plugin evaluates WooCommerce's
// woocommerce_payment_complete_order_status filter at checkout and sends
// the result; the sidecar writes that status when the order is paid. An
// explicit woocommerce.paid_status setting still wins; a value that is not
// processing or completed is refused with a field error.
func TestE2EPaidStatusFromTheShopsFilter(t *testing.T) {
	h := newHarness(t)
	checkout := func(id int64, key, paid string) (int, map[string]any) {
		return h.client().do("POST", "/v1/checkout", map[string]any{
			"order_id": id, "gateway": "streampay", "order_key": key, "paid_status": paid,
			"return_url": fmt.Sprintf("http://shop.test/checkout/order-received/%d/?key=%s", id, key),
			"cancel_url": "http://shop.test/cart/",
		})
	}
	// A physical order the shop's filter completes at once.
	id, key := h.order("streampay", usd("12.00"))
	status, res := checkout(id, key, "completed")
	if status != http.StatusOK {
		t.Fatalf("checkout: %d %v", status, res)
	}
	if err := h.sims.StreamPay.PayExact(gatewayPaymentID(res)); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(id, bridge.StatusCompleted, 10*time.Second)

	// A virtual, downloadable order the filter keeps at processing.
	vid, vkey := h.order("streampay", wootest.OrderSeed{Currency: "USD", Total: "9.99",
		Items: []wootest.ItemSeed{{Name: "E-book", Total: "9.99", Virtual: true, Downloadable: true}}})
	if status, res = checkout(vid, vkey, "processing"); status != http.StatusOK {
		t.Fatalf("checkout: %d %v", status, res)
	}
	if err := h.sims.StreamPay.PayExact(gatewayPaymentID(res)); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(vid, bridge.StatusProcessing, 10*time.Second)

	bid, bkey := h.order("streampay", usd("3.00"))
	status, res = checkout(bid, bkey, "shipped")
	if status != http.StatusBadRequest || errorCode(res) != "invalid" {
		t.Fatalf("checkout with paid_status shipped: %d %v, want 400 invalid", status, res)
	}
	if f, _ := res["error"].(map[string]any)["fields"].(map[string]any); f["paid_status"] == nil {
		t.Fatalf("error does not name paid_status: %v", res)
	}
}

// TestE2ECancelledInvoicesCannotBePaid: a CryptoCloud invoice that nobody
// should pay any more is cancelled at CryptoCloud (invoice/merchant/canceled):
// when the customer switches to another gateway, and when WordPress says the
// order will not be paid through wcbridge (cancelled, or another method).
// StreamPay has no cancel: its payment is retired in the sidecar only, stays
// watched, and money arriving on it still counts.
func TestE2ECancelledInvoicesCannotBePaid(t *testing.T) {
	h := newHarness(t)
	// The customer switches from CryptoCloud to StreamPay.
	id, key := h.order("cryptocloud", usd("15.00"))
	ccID := gatewayPaymentID(h.checkout(id, key, "cryptocloud"))
	h.woo.Exec(t, "UPDATE {p}wc_orders SET payment_method = 'wcbridge_streampay' WHERE id = ?", id)
	spID := gatewayPaymentID(h.checkout(id, key, "streampay"))
	if p, _ := h.sims.CryptoCloud.Payment(ccID); p.Status != "canceled" {
		t.Fatalf("the abandoned CryptoCloud invoice is %q, want canceled", p.Status)
	}
	if err := h.sims.CryptoCloud.PayExact(ccID); err == nil {
		t.Fatal("the abandoned CryptoCloud invoice could still be paid")
	}
	if err := h.sims.StreamPay.PayExact(spID); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)

	// The shop cancels the order in WordPress; the plugin tells the sidecar.
	id2, key2 := h.order("cryptocloud", usd("16.00"))
	cc2 := gatewayPaymentID(h.checkout(id2, key2, "cryptocloud"))
	h.woo.Exec(t, "UPDATE {p}wc_orders SET status = 'wc-cancelled' WHERE id = ?", id2)
	status, view := h.client().do("POST", "/v1/orders/"+itoa(id2)+"/cancel-payments", map[string]any{})
	if status != http.StatusOK || view["state"] != "cancelled" {
		t.Fatalf("cancel-payments: %d %v, want 200 with state cancelled", status, view)
	}
	if p, _ := h.sims.CryptoCloud.Payment(cc2); p.Status != "canceled" {
		t.Fatalf("the cancelled order's invoice is %q, want canceled", p.Status)
	}
	// Cancelling again is harmless.
	if status, _ := h.client().do("POST", "/v1/orders/"+itoa(id2)+"/cancel-payments", map[string]any{}); status != http.StatusOK {
		t.Fatalf("second cancel-payments: %d", status)
	}

	// StreamPay cannot cancel: the payment is retired but a late payment counts.
	id3, key3 := h.order("streampay", usd("17.00"))
	sp3 := gatewayPaymentID(h.checkout(id3, key3, "streampay"))
	h.woo.Exec(t, "UPDATE {p}wc_orders SET status = 'wc-cancelled' WHERE id = ?", id3)
	if status, _ := h.client().do("POST", "/v1/orders/"+itoa(id3)+"/cancel-payments", map[string]any{}); status != http.StatusOK {
		t.Fatalf("cancel-payments: %d", status)
	}
	if err := h.sims.StreamPay.PayExact(sp3); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(id3, bridge.StatusProcessing, 10*time.Second)
	if notes := h.notes(id3); !contains(notes, "please check that the items are still in stock") {
		t.Fatalf("late payment notes: %q", notes)
	}

	// A partly paid invoice is not cancelled: the rest may still come.
	id4, key4 := h.order("cryptocloud", usd("18.00"))
	cc4 := gatewayPaymentID(h.checkout(id4, key4, "cryptocloud"))
	if err := h.sims.CryptoCloud.Underpay(cc4); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(id4, bridge.StatusOnHold, 10*time.Second)
	if status, _ := h.client().do("POST", "/v1/orders/"+itoa(id4)+"/cancel-payments", map[string]any{}); status != http.StatusOK {
		t.Fatalf("cancel-payments: %d", status)
	}
	if p, _ := h.sims.CryptoCloud.Payment(cc4); p.Status != "partial" {
		t.Fatalf("the partly paid invoice is %q, want partial", p.Status)
	}
	if err := h.sims.CryptoCloud.PayExact(cc4); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(id4, bridge.StatusProcessing, 10*time.Second)
}

func TestE2EAllStorageModes(t *testing.T) {
	for _, mode := range []bridge.StorageMode{bridge.StoragePosts, bridge.StoragePostsSync, bridge.StorageHPOSSync, bridge.StorageHPOS} {
		t.Run(string(mode), func(t *testing.T) {
			h := newHarness(t, withMode(mode))
			id, key := h.order("cryptocloud", usd("12.34"))
			res := h.checkout(id, key, "cryptocloud")
			if err := h.sims.CryptoCloud.PayExact(gatewayPaymentID(res)); err != nil {
				t.Fatal(err)
			}
			h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
			if n := len(h.notes(id)); n != 1 {
				t.Fatalf("%d notes, want 1", n)
			}
		})
	}
}

func TestE2EUnderpaidAndOverpaid(t *testing.T) {
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			h := newHarness(t)
			id, key := h.order(d.name, usd("40.00"))
			gid := gatewayPaymentID(h.checkout(id, key, d.name))
			if err := d.underpay(h, gid); err != nil {
				t.Fatal(err)
			}
			if d.name == "streampay" {
				// StreamPay waits for the full amount and reports nothing
				// for an underpayment: the order keeps waiting.
				h.stays(id, bridge.StatusPending, time.Second)
			} else {
				h.waitStatus(id, bridge.StatusOnHold, 10*time.Second)
				notes := h.notes(id)
				if !contains(notes, "36 USD received of 40 USD, 4 USD short") {
					t.Fatalf("underpayment note missing the shortfall: %q", notes)
				}
				// The order is written before the payment row: the view
				// follows a moment later.
				var view map[string]any
				waitFor(t, "the underpaid view", 10*time.Second, func() bool {
					_, view = h.client().do("GET", "/v1/orders/"+itoa(id)+"/payment", nil)
					return view["state"] != "waiting"
				})
				p := view["payment"].(map[string]any)
				if view["state"] != "underpaid" || p["shortfall"] != "4" || view["hold_stock"] != true {
					t.Fatalf("view of an underpaid order: %v", view)
				}
				if m := h.paymentMeta(id); m.Status != bridge.PaymentUnderpaid || m.Amount != "40" || m.Received != "36" || m.Currency != "USD" {
					t.Fatalf("%s of an underpaid order: %+v", bridge.MetaPayment, m)
				}
			}
			// The customer pays the rest: the order is paid, its payment
			// figures still one meta row, now the paid ones.
			if err := d.sim(h).Act(gid, simkit.Rest); err != nil {
				t.Fatal(err)
			}
			h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
			if m := h.paymentMeta(id); m.Status != bridge.PaymentPaid || m.Amount != "40" || m.Received != "40" || m.Currency != "USD" {
				t.Fatalf("%s of the order paid in full: %+v", bridge.MetaPayment, m)
			}

			oid, okey := h.order(d.name, usd("40.00"))
			if err := d.overpay(h, gatewayPaymentID(h.checkout(oid, okey, d.name))); err != nil {
				t.Fatal(err)
			}
			h.waitStatus(oid, bridge.StatusProcessing, 10*time.Second)
			if notes := h.notes(oid); !contains(notes, "an excess of 4 USD") {
				t.Fatalf("overpayment note missing the excess: %q", notes)
			}
		})
	}
}

func TestE2EExpiredThenPaidLate(t *testing.T) {
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			h := newHarness(t)
			id, key := h.order(d.name, usd("15.00"))
			gid := gatewayPaymentID(h.checkout(id, key, d.name))
			if err := d.expire(h, gid); err != nil {
				t.Fatal(err)
			}
			h.waitStatus(id, bridge.StatusCancelled, 10*time.Second)
			if notes := h.notes(id); !contains(notes, "expired without payment") {
				t.Fatalf("expiry note: %q", notes)
			}
			if err := d.payLate(h, gid); errors.Is(err, simkit.ErrUnsupported) {
				return // CryptoCloud cancels an invoice at its expiry
			} else if err != nil {
				t.Fatal(err)
			}
			h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
			if notes := h.notes(id); !contains(notes, "please check that the items are still in stock") {
				t.Fatalf("late payment note: %q", notes)
			}
		})
	}
}

func TestE2EPaidAfterOrderCancelled(t *testing.T) {
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			h := newHarness(t, withEnv("WCBRIDGE_ORDERS_ON_LATE_PAYMENT=on-hold"))
			id, key := h.order(d.name, usd("15.00"))
			gid := gatewayPaymentID(h.checkout(id, key, d.name))
			// WooCommerce's hold-stock timer cancels the order meanwhile.
			h.woo.Exec(t, "UPDATE wp_wc_orders SET status = 'wc-cancelled' WHERE id = ?", id)
			if err := d.pay(h, gid); err != nil {
				t.Fatal(err)
			}
			h.waitStatus(id, bridge.StatusOnHold, 10*time.Second)
			if notes := h.notes(id); !contains(notes, "check that the items are still in stock") {
				t.Fatalf("notes: %q", notes)
			}
		})
	}
}

// TestE2EDuplicateCallbackStorm posts one genuine callback 50 times at once.
// A request that finds no turn within a second (8 at a time on 2 cores) is
// answered 503 busy with Retry-After, and is sent again then, as a gateway
// does; every one ends 200.
func TestE2EDuplicateCallbackStorm(t *testing.T) {
	for _, d := range drivers[:2] {
		t.Run(d.name, func(t *testing.T) {
			h := newHarness(t)
			d.mute(h) // the storm is ours alone
			id, key := h.order(d.name, usd("30.00"))
			gid := gatewayPaymentID(h.checkout(id, key, d.name))
			if err := d.pay(h, gid); err != nil {
				t.Fatal(err)
			}
			ct, body := genuineCallback(t, h, d.name, gid)
			var wg sync.WaitGroup
			codes := make([]int, 50)
			for i := range codes {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					for deadline := time.Now().Add(time.Minute); ; {
						resp, err := http.Post(h.sidecars[0].url+"/v1/callbacks/"+d.name, ct, bytes.NewReader(body))
						if err != nil {
							t.Error(err)
							return
						}
						raw, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						codes[i] = resp.StatusCode
						busy := resp.StatusCode == http.StatusServiceUnavailable && bytes.Contains(raw, []byte("busy")) && resp.Header.Get("Retry-After") == "1"
						if !busy || time.Now().After(deadline) {
							return
						}
						time.Sleep(time.Second)
					}
				}(i)
			}
			wg.Wait()
			for i, c := range codes {
				if c != http.StatusOK {
					t.Fatalf("callback %d answered %d", i, c)
				}
			}
			h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
			h.stays(id, bridge.StatusProcessing, 500*time.Millisecond)
			if notes := h.notes(id); len(notes) != 1 {
				t.Fatalf("%d notes after 50 duplicates, want 1: %q", len(notes), notes)
			}
			if n := h.woo.Count(t, "wcbridge_callbacks", "gateway = ?", d.name); n != 1 {
				t.Fatalf("%d callbacks recorded, want 1", n)
			}
		})
	}
}

// genuineCallback builds a correctly signed callback for a paid payment.
func genuineCallback(t testing.TB, h *harness, gateway, gid string) (string, []byte) {
	t.Helper()
	switch gateway {
	case "streampay":
		p, ok := h.sims.StreamPay.Payment(gid)
		if !ok {
			t.Fatalf("no simulated payment %s", gid)
		}
		cb := streampay.Callback{PaymentID: gid, Amount: p.AmountToken.String(), AmountUSD: p.AmountUSD.String(),
			ReceivedAmount: p.ReceivedTok.String(), ReceivedAmountUSD: p.ReceivedUSD.String(), CurrentDateTime: time.Now().UTC().Format(time.RFC3339)}
		return "application/json", streampay.SignedPayload(cb, streampaysim.DefaultConfig().SecretKey)
	case "cryptocloud":
		ct, body, err := cryptocloud.NewSignedPostback(cryptocloud.PostbackPayload{Status: "success", InvoiceID: strings.TrimPrefix(gid, "INV-"),
			AmountCrypto: decimal.RequireFromString("0.001"), Currency: "BTC"},
			cryptocloudsim.DefaultConfig().SecretKey, cryptocloud.ClaimBareID, cryptocloud.FormatJSON, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return ct, body
	}
	t.Fatalf("no callbacks for %s", gateway)
	return "", nil
}

func TestE2EForgedAndReplayedCallbacks(t *testing.T) {
	h := newHarness(t)
	id, key := h.order("streampay", usd("20.00"))
	gid := gatewayPaymentID(h.checkout(id, key, "streampay"))
	url := h.sidecars[0].url + "/v1/callbacks/streampay"

	forged := streampay.SignedPayload(streampay.Callback{PaymentID: gid, Amount: "10", AmountUSD: "20.00",
		ReceivedAmount: "10", ReceivedAmountUSD: "20.00", CurrentDateTime: time.Now().UTC().Format(time.RFC3339)}, "not-the-secret")
	for name, body := range map[string][]byte{
		"wrong secret": forged,
		"tampered":     bytes.Replace(forged, []byte(`"20.00"`), []byte(`"99.00"`), 1),
		"not json":     []byte("payment_id=" + gid),
		"empty":        nil,
	} {
		resp, err := http.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s callback answered %d, want 401/400", name, resp.StatusCode)
		}
	}
	big := bytes.Repeat([]byte("x"), 70<<10)
	resp, err := http.Post(url, "application/json", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized callback answered %d, want 413", resp.StatusCode)
	}
	h.stays(id, bridge.StatusPending, 400*time.Millisecond)
	if n := len(h.notes(id)); n != 0 {
		t.Fatalf("forged callbacks left %d notes", n)
	}
	// A genuine callback claiming a payment that was never paid does not
	// count: the status API is the source of truth.
	ct, body := genuineCallback(t, h, "streampay", gid)
	resp, _ = http.Post(url, ct, bytes.NewReader(body))
	resp.Body.Close()
	h.stays(id, bridge.StatusPending, 600*time.Millisecond)

	// Pay for real; a replay of the genuine callback later changes nothing.
	if err := h.sims.StreamPay.PayExact(gid); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
	for i := 0; i < 3; i++ {
		resp, _ := http.Post(url, ct, bytes.NewReader(body))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("replayed genuine callback answered %d, want 200", resp.StatusCode)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if notes := h.notes(id); len(notes) != 1 {
		t.Fatalf("notes after replays: %q", notes)
	}
	_, status := h.client().do("GET", "/v1/status", nil)
	sp := status["gateways"].(map[string]any)["streampay"].(map[string]any)
	if sp["last_callback_accepted"] == nil || sp["last_callback_rejected"] == nil || sp["last_rejected_reason"] == "" || sp["reachable"] != true {
		t.Fatalf("status report for streampay: %v", sp)
	}
	for _, name := range []string{"cryptocloud", "bitstream"} {
		if g := status["gateways"].(map[string]any)[name].(map[string]any); g["reachable"] != true || g["reachability_checked"] != true {
			t.Errorf("status report: %s not reachable: %v", name, g)
		}
	}
	// Without probing (the plugin's checkout check): configuration only, no
	// call to any gateway.
	before := h.sims.CryptoCloud.Requests("/v2/invoice/merchant/info")
	_, quick := h.client().do("GET", "/v1/status?probe=0", nil)
	for name, g := range quick["gateways"].(map[string]any) {
		g := g.(map[string]any)
		if g["enabled"] != true || g["configured"] != true || g["reachability_checked"] != false || g["reachable"] != false {
			t.Errorf("quick status report for %s: %v", name, g)
		}
	}
	if after := h.sims.CryptoCloud.Requests("/v2/invoice/merchant/info"); after != before {
		t.Errorf("a quick status asked CryptoCloud %d times", after-before)
	}
	for _, secret := range []string{testSecret, streampaysim.DefaultConfig().SecretKey, cryptocloudsim.DefaultConfig().APIKey, cryptocloudsim.DefaultConfig().SecretKey,
		bitstreamsim.DefaultConfig().APIKey, bitstreamsim.DefaultConfig().WebhookSecret} {
		if strings.Contains(h.logs.String(), secret) {
			t.Fatalf("a secret appears in the logs")
		}
	}
}

// callbackFirst pays every payment at the simulator, and waits for its
// callback to be answered, before the checkout's own answer comes back.
type callbackFirst struct {
	bridge.Gateway
	h **harness // set once the harness exists; the wrap runs while it is built
}

func (g callbackFirst) CreatePayment(ctx context.Context, r bridge.CreatePaymentRequest) (*bridge.GatewayPayment, error) {
	gp, err := g.Gateway.CreatePayment(ctx, r)
	if err != nil || g.Name() != "cryptocloud" {
		return gp, err
	}
	if err := (*g.h).sims.CryptoCloud.PayExact(gp.GatewayID); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, d := range (*g.h).sims.CryptoCloud.Callbacks() {
			if d.StatusCode == http.StatusOK {
				time.Sleep(100 * time.Millisecond) // let the worker look at it
				return gp, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, context.DeadlineExceeded
}

func TestE2ECallbackBeforeCheckoutAnswer(t *testing.T) {
	var h *harness
	h = newHarness(t, withWrap(func(g bridge.Gateway) bridge.Gateway { return callbackFirst{Gateway: g, h: &h} }))
	id, key := h.order("cryptocloud", usd("18.00"))
	h.checkout(id, key, "cryptocloud")
	h.waitStatus(id, bridge.StatusProcessing, 15*time.Second)
	if n := len(h.notes(id)); n != 1 {
		t.Fatalf("%d notes, want 1", n)
	}
}

func TestE2ELostCallbackHealedByReconciler(t *testing.T) {
	for _, d := range drivers[:2] {
		t.Run(d.name, func(t *testing.T) {
			h := newHarness(t)
			d.mute(h)
			id, key := h.order(d.name, usd("22.00"))
			gid := gatewayPaymentID(h.checkout(id, key, d.name))
			if err := d.pay(h, gid); err != nil {
				t.Fatal(err)
			}
			h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
			if n := h.woo.Count(t, "wcbridge_callbacks", "1=1"); n != 0 {
				t.Fatalf("%d callbacks arrived; the test meant them lost", n)
			}
		})
	}
}

func TestE2EDatabaseAndWordPressDown(t *testing.T) {
	h := newHarness(t, func(c *harnessConfig) { c.dbProxy = true })
	id, key := h.order("streampay", usd("33.00"))
	gid := gatewayPaymentID(h.checkout(id, key, "streampay"))
	h.proxy.setDown(true)
	h.wp.setDown(true)
	if err := h.sims.StreamPay.PayExact(gid); err != nil {
		t.Fatal(err)
	}
	// While the database is down the callback is refused with 5xx, so the
	// gateway keeps retrying.
	waitFor(t, "a refused callback", 5*time.Second, func() bool {
		for _, d := range h.sims.StreamPay.Callbacks() {
			if d.StatusCode == http.StatusServiceUnavailable {
				return true
			}
		}
		return false
	})
	resp, err := http.Get(h.sidecars[0].url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz with the database down answered %d", resp.StatusCode)
	}
	h.proxy.setDown(false)
	h.waitStatus(id, bridge.StatusProcessing, 20*time.Second)
	if n := len(h.notes(id)); n != 1 {
		t.Fatalf("%d notes, want 1", n)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(h.wp.eventsFor(id)); n != 0 {
		t.Fatalf("notification delivered while WordPress was down")
	}
	h.wp.setDown(false)
	waitFor(t, "the notification after WordPress came back", 30*time.Second, func() bool { return len(h.wp.eventsFor(id)) == 1 })
}

func TestE2EGatewayFailsOnCreation(t *testing.T) {
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			h := newHarness(t)
			switch d.name {
			case "streampay":
				h.sims.StreamPay.FailNextCreate(1, http.StatusInternalServerError)
			case "cryptocloud":
				h.sims.CryptoCloud.FailNextCreate(1, http.StatusInternalServerError)
			case "bitstream":
				h.sims.Bitstream.FailNextCreate(1, http.StatusInternalServerError)
			}
			id, key := h.order(d.name, usd("10.00"))
			before := d.createCalls(h)
			status, body := h.client().do("POST", "/v1/checkout", map[string]any{"order_id": id, "gateway": d.name, "order_key": key,
				"return_url": "http://shop.test/r", "cancel_url": "http://shop.test/c"})
			if status != http.StatusBadGateway || errorCode(body) != "gateway_error" {
				t.Fatalf("checkout with the gateway failing: %d %v", status, body)
			}
			if msg := body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, d.name) || !strings.Contains(msg, "500") {
				t.Errorf("error message %q does not say which gateway failed and how", msg)
			}
			if n := d.createCalls(h) - before; n != 1 {
				t.Fatalf("%d creation requests reached the gateway, want exactly 1 (no blind retry)", n)
			}
			res := h.checkout(id, key, d.name)
			if err := d.pay(h, gatewayPaymentID(res)); err != nil {
				t.Fatal(err)
			}
			h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
			if n := h.woo.Count(t, "wcbridge_payments", "order_id = ? AND status = 'failed'", id); n != 1 {
				t.Fatalf("%d failed payments recorded, want 1", n)
			}
		})
	}
}

func TestE2ETwoSidecarsOneDatabase(t *testing.T) {
	wootest.RequireReal(t, "two sidecars contend for rows")
	h := newHarness(t)
	h.startSidecar(nil)
	var ids []int64
	for i := 0; i < 12; i++ {
		d := drivers[i%3]
		id, key := h.order(d.name, usd("11.00"))
		gid := gatewayPaymentID(h.checkout(id, key, d.name))
		if err := d.pay(h, gid); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		h.waitStatus(id, bridge.StatusProcessing, 30*time.Second)
	}
	h.waitDelivered(30 * time.Second)
	time.Sleep(500 * time.Millisecond) // let a second note or notification show itself
	for _, id := range ids {
		if notes := h.notes(id); len(notes) != 1 {
			t.Errorf("order %d has %d notes with two sidecars, want 1: %q", id, len(notes), notes)
		}
		if ev := h.wp.eventsFor(id); len(ev) != 1 {
			t.Errorf("order %d: %d distinct notifications, want 1", id, len(ev))
		}
	}
}

func TestE2EPluginRequestsMustBeSigned(t *testing.T) {
	h := newHarness(t)
	id, key := h.order("streampay", usd("10.00"))
	c := h.client()
	body := []byte(`{"order_id":` + itoa(id) + `,"gateway":"streampay","order_key":"` + key + `","return_url":"http://shop.test/r","cancel_url":"http://shop.test/c"}`)
	now := time.Now().Unix()
	cases := []struct {
		name   string
		ts     int64
		secret []byte
	}{
		{"unsigned", now, nil},
		{"wrong secret", now, []byte("wcbridge-wrong-secret-0123456789abcdef")},
		{"stale", now - 3600, []byte(testSecret)},
		{"from the future", now + 3600, []byte(testSecret)},
	}
	for _, tc := range cases {
		status, res := c.raw("POST", "/v1/checkout", body, "application/json", tc.ts, tc.secret)
		if status != http.StatusUnauthorized || errorCode(res) != "unauthorized" {
			t.Errorf("%s: %d %v, want 401 unauthorized", tc.name, status, res)
		}
	}
	// Signed for one body, sent with another.
	req, _ := http.NewRequest("POST", h.sidecars[0].url+"/v1/checkout", bytes.NewReader(bytes.Replace(body, []byte("streampay"), []byte("cryptocloud"), 1)))
	req.Header.Set("Content-Type", "application/json")
	pluginsig.Sign([]byte(testSecret), time.Unix(now, 0), "POST", "/v1/checkout", body).Set(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a body other than the signed one answered %d, want 401", resp.StatusCode)
	}
	status, _ := c.raw("POST", "/v1/status", nil, "", now, []byte(testSecret))
	if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
		t.Errorf("POST /v1/status answered %d", status)
	}
	if n := h.woo.Count(t, "wcbridge_payments", "1=1"); n != 0 {
		t.Fatalf("%d payments created by rejected requests", n)
	}
	// Bad input, properly signed: clear 4xx, nothing created.
	for name, b := range map[string]string{
		"malformed":     `{"order_id":`,
		"unknown field": `{"order_id":1,"gateway":"streampay","order_key":"k","return_url":"http://a/","cancel_url":"http://a/","amount":"0.01"}`,
		"bad gateway":   `{"order_id":` + itoa(id) + `,"gateway":"paypal","order_key":"` + key + `","return_url":"http://a/","cancel_url":"http://a/"}`,
		"bad key":       `{"order_id":` + itoa(id) + `,"gateway":"streampay","order_key":"wc_order_nope","return_url":"http://a/","cancel_url":"http://a/"}`,
		"sql in key":    `{"order_id":` + itoa(id) + `,"gateway":"streampay","order_key":"' OR 1=1 --","return_url":"http://a/","cancel_url":"http://a/"}`,
		"wrong method":  `{"order_id":` + itoa(id) + `,"gateway":"cryptocloud","order_key":"` + key + `","return_url":"http://a/","cancel_url":"http://a/"}`,
	} {
		status, res := c.raw("POST", "/v1/checkout", []byte(b), "application/json", time.Now().Unix(), []byte(testSecret))
		if status < 400 || status > 499 || errorCode(res) == "" {
			t.Errorf("%s: %d %v, want a 4xx with a code", name, status, res)
		}
	}
	if n := h.woo.Count(t, "wcbridge_payments", "1=1"); n != 0 {
		t.Fatalf("%d payments created by bad requests", n)
	}
}

func itoa(n int64) string { return decimal.NewFromInt(n).String() }

func TestE2ENotificationForDeletedOrderIsClosed(t *testing.T) {
	h := newHarness(t)
	id, key := h.order("streampay", usd("10.00"))
	h.wp.mu.Lock()
	h.wp.gone[id] = true
	h.wp.mu.Unlock()
	if err := h.sims.StreamPay.PayExact(gatewayPaymentID(h.checkout(id, key, "streampay"))); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
	waitFor(t, "the notification to be closed", 10*time.Second, func() bool {
		return h.woo.Count(t, "wcbridge_outbox", "order_id = ? AND delivered_at IS NOT NULL AND last_error LIKE 'closed:%'", id) == 1
	})
	if n := h.woo.Count(t, "wcbridge_outbox", "delivered_at IS NULL"); n != 0 {
		t.Fatalf("%d notifications still pending", n)
	}
}

func TestE2ESettingsFromWordPress(t *testing.T) {
	// The hosting provider pins the tolerance; StreamPay is configured by
	// the harness's environment (pinned too); CryptoCloud's credentials are
	// left to the shop owner.
	h := newHarness(t, withEnv("WCBRIDGE_PAYMENTS_UNDERPAID_TOLERANCE_PERCENT=1"))
	c := h.client()

	status, got := c.do("GET", "/v1/settings", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /v1/settings: %d %v", status, got)
	}
	settings := got["settings"].(map[string]any)
	tol := settings["payments.underpaid_tolerance_percent"].(map[string]any)
	if tol["pinned"] != true || tol["value"] != "1" {
		t.Fatalf("pinned tolerance shown as %v", tol)
	}
	secret := settings["gateways.streampay.secret_key"].(map[string]any)
	if _, shown := secret["value"]; shown || secret["set"] != true || secret["secret"] != true {
		t.Fatalf("a secret setting is shown as %v", secret)
	}
	raw, _ := json.Marshal(got)
	if bytes.Contains(raw, []byte(streampaysim.DefaultConfig().SecretKey)) {
		t.Fatal("GET /v1/settings returns a secret")
	}
	if _, ok := settings["database.dsn"]; ok {
		t.Fatal("the DSN is offered as a WordPress setting")
	}
	// What is in force is shown, in the format PUT accepts.
	for key, want := range map[string]string{"gateways.bitstream.unit_decimals": "8",
		"gateways.cryptocloud.token_leeway": "30s", "gateways.bitstream.currency_map": "USD=usdc", "gateways.bitstream.currency": "usdc"} {
		if v, _ := settings[key].(map[string]any)["value"].(string); v != want {
			t.Errorf("%s shown as %q, want %q", key, v, want)
		}
	}

	status, got = c.do("PUT", "/v1/settings", map[string]any{"settings": map[string]string{"payments.underpaid_tolerance_percent": "3"}})
	if status != http.StatusConflict || errorCode(got) != "conflict" {
		t.Fatalf("changing a pinned value: %d %v", status, got)
	}
	status, got = c.do("PUT", "/v1/settings", map[string]any{"settings": map[string]string{
		"orders.on_expired": "explode", "payments.lifetime": "soon", "database.dsn": "root@/x"}})
	fields, _ := got["error"].(map[string]any)["fields"].(map[string]any)
	if status != http.StatusBadRequest || fields["orders.on_expired"] == nil || fields["payments.lifetime"] == nil || fields["database.dsn"] == nil {
		t.Fatalf("invalid settings: %d %v", status, got)
	}

	// A dry run names every problem, including a gateway enabled without
	// its credentials, and stores nothing.
	status, got = c.do("PUT", "/v1/settings", map[string]any{"dry_run": true, "settings": map[string]string{
		"gateways.cryptocloud.enabled": "true", "orders.on_expired": "explode"}})
	fields, _ = got["error"].(map[string]any)["fields"].(map[string]any)
	if status != http.StatusBadRequest || fields["orders.on_expired"] == nil || len(fields) < 2 {
		t.Fatalf("dry run of invalid settings: %d %v", status, got)
	}
	status, got = c.do("PUT", "/v1/settings", map[string]any{"dry_run": true, "settings": map[string]string{"orders.on_expired": "leave_pending"}})
	if status != http.StatusOK {
		t.Fatalf("dry run of valid settings: %d %v", status, got)
	}
	if v := got["settings"].(map[string]any)["orders.on_expired"].(map[string]any)["value"]; v != "cancel" {
		t.Fatalf("a dry run changed orders.on_expired to %v", v)
	}
	if p := h.sidecars[0].app.Runtime.Policy(); !p.CancelOnExpiry {
		t.Fatal("a dry run changed the policy in force")
	}

	// Valid: takes effect at once, without a restart.
	status, got = c.do("PUT", "/v1/settings", map[string]any{"settings": map[string]string{"orders.on_expired": "leave_pending"}})
	if status != http.StatusOK {
		t.Fatalf("PUT valid settings: %d %v", status, got)
	}
	id, key := h.order("streampay", usd("15.00"))
	gid := gatewayPaymentID(h.checkout(id, key, "streampay"))
	if err := h.sims.StreamPay.Expire(gid); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the expiry note", 10*time.Second, func() bool { return contains(h.notes(id), "expired without payment") })
	if s := h.orderStatus(id); s != bridge.StatusPending {
		t.Fatalf("order %s after expiry with on_expired=leave_pending", s)
	}

	// A second replica picks the settings up from the database.
	second := h.startSidecar(nil)
	if p := second.app.Runtime.Policy(); p.CancelOnExpiry {
		t.Fatal("a new replica does not see the settings stored by another")
	}
}

func TestE2EMetricsAndHealth(t *testing.T) {
	h := newHarness(t)
	id, key := h.order("streampay", usd("10.00"))
	if err := h.sims.StreamPay.PayExact(gatewayPaymentID(h.checkout(id, key, "streampay"))); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
	resp, _ := http.Post(h.sidecars[0].url+"/v1/callbacks/streampay", "application/json", strings.NewReader(`{"payment_id":"x"}`))
	resp.Body.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(h.sidecars[0].url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("healthz %d", code)
	}
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Errorf("readyz %d", code)
	}
	want := []string{
		`wcbridge_callbacks_total{gateway="streampay",result="accepted"} 1`,
		`wcbridge_callbacks_total{gateway="streampay",result="rejected"} 1`,
		`wcbridge_payments_applied_total{gateway="streampay",status="paid"} 1`,
		"wcbridge_outbox_backlog", "wcbridge_reconcile_lag_seconds",
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, m := get("/metrics")
		var missing []string
		for _, w := range want {
			if !strings.Contains(m, w) {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			var ours []string
			for _, l := range strings.Split(m, "\n") {
				if strings.HasPrefix(l, "wcbridge_") {
					ours = append(ours, l)
				}
			}
			t.Fatalf("metrics: missing %q; wcbridge lines:\n%s", missing, strings.Join(ours, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get("/v1/status"); code != http.StatusUnauthorized || !strings.Contains(body, "unauthorized") {
		t.Errorf("unsigned /v1/status: %d %s", code, body)
	}
}

// TestE2EPaidAfterSwitchingGateway: the customer starts paying with
// StreamPay, switches the order to CryptoCloud on the order-pay page, and
// then pays the StreamPay link after all. The money counts for the order.
func TestE2EPaidAfterSwitchingGateway(t *testing.T) {
	h := newHarness(t)
	id, key := h.order("streampay", usd("21.00"))
	spID := gatewayPaymentID(h.checkout(id, key, "streampay"))
	h.woo.Exec(t, "UPDATE {p}wc_orders SET payment_method = 'wcbridge_cryptocloud' WHERE id = ?", id)
	h.checkout(id, key, "cryptocloud")
	if err := h.sims.StreamPay.PayExact(spID); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
	if notes := h.notes(id); !contains(notes, "switched to CryptoCloud; this payment was made with StreamPay") {
		t.Fatalf("notes: %q", notes)
	}
	// Switched to a method outside wcbridge: a note for the shop, no status change.
	id2, key2 := h.order("streampay", usd("21.00"))
	sp2 := gatewayPaymentID(h.checkout(id2, key2, "streampay"))
	h.woo.Exec(t, "UPDATE {p}wc_orders SET payment_method = 'bacs' WHERE id = ?", id2)
	if err := h.sims.StreamPay.PayExact(sp2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the note about the switched order", 10*time.Second, func() bool {
		return contains(h.notes(id2), `switched to the payment method "bacs"`)
	})
	if s := h.orderStatus(id2); s != bridge.StatusPending {
		t.Fatalf("order paid outside wcbridge moved to %s", s)
	}
}
