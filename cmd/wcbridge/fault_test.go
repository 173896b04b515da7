package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway/cryptocloud"
	"github.com/wcbridge/wcbridge/bridge/gateway/cryptocloud/cryptocloudsim"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay/streampaysim"
	"github.com/wcbridge/wcbridge/woo/wootest"
)

// The fault suite: duplicates, replays, reordering, a database outage, a
// killed sidecar and failing gateways, each followed by the same checks
// (settledInvariants). Every loop is bounded in count and time and every
// address is loopback; docs/RELIABILITY.md reports what it covers.

// TestFaultDuplicateStorm posts one genuine callback 100 times at once.
func TestFaultDuplicateStorm(t *testing.T) {
	for _, d := range drivers[:2] {
		t.Run(d.name, func(t *testing.T) {
			h := newFaultHarness(t)
			d.mute(h) // the storm is ours alone
			id, key := h.order(d.name, usd("30.00"))
			gid := gatewayPaymentID(h.checkout(id, key, d.name))
			if err := d.pay(h, gid); err != nil {
				t.Fatal(err)
			}
			ct, body := genuineCallback(t, h, d.name, gid)
			codes := storm(t, h.sidecars[0].url+"/v1/callbacks/"+d.name, ct, body, 100)
			for i, c := range codes {
				if c != http.StatusOK {
					t.Fatalf("callback %d of 100 answered %d, want 200", i, c)
				}
			}
			h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
			h.waitDelivered(10 * time.Second)
			h.stays(id, bridge.StatusProcessing, 300*time.Millisecond)
			if n := h.woo.Count(t, "wcbridge_callbacks", "gateway = ? AND verified = 1", d.name); n != 1 {
				t.Fatalf("%d callbacks recorded for 100 identical ones, want 1", n)
			}
			h.settledInvariants([]int64{id}, false)
		})
	}
}

// TestFaultReplayHoursLater replays genuine callbacks long after the fact.
func TestFaultReplayHoursLater(t *testing.T) {
	t.Run("streampay captured callback", func(t *testing.T) {
		h := newFaultHarness(t)
		id, key := h.order("streampay", usd("20.00"))
		gid := gatewayPaymentID(h.checkout(id, key, "streampay"))
		if err := h.sims.StreamPay.PayExact(gid); err != nil {
			t.Fatal(err)
		}
		h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
		// Capture the genuine callback the gateway delivered.
		var captured []byte
		for _, d := range h.sims.StreamPay.Callbacks() {
			if d.ID == gid && d.StatusCode == http.StatusOK {
				captured = d.Body
			}
		}
		if captured == nil {
			t.Fatal("no delivered callback to capture")
		}
		// Further events: the link expires at the gateway, another order is
		// paid, the shop re-checks the order.
		if err := h.sims.StreamPay.Expire(gid); err != nil {
			t.Fatal(err)
		}
		id2, key2 := h.order("streampay", usd("5.00"))
		if err := h.sims.StreamPay.PayExact(gatewayPaymentID(h.checkout(id2, key2, "streampay"))); err != nil {
			t.Fatal(err)
		}
		h.waitStatus(id2, bridge.StatusProcessing, 10*time.Second)
		h.client().do("POST", "/v1/orders/"+itoa(id)+"/recheck", map[string]any{})
		url := h.sidecars[0].url + "/v1/callbacks/streampay"
		// The captured bytes again, and the same callback re-signed as if
		// sent three days later (StreamPay documents no freshness window).
		for i := 0; i < 5; i++ {
			if code, b := post(t, url, "application/json", captured); code != http.StatusOK {
				t.Fatalf("replay %d of the captured callback: %d %s, want 200", i, code, b)
			}
		}
		faultCounts.callbacks.Add(5)
		faultCounts.duplicates.Add(5)
		if code, err := h.sims.StreamPay.SendStale(gid); err != nil || code != http.StatusOK {
			t.Fatalf("stale re-signed callback: %d %v, want 200", code, err)
		}
		faultCounts.callbacks.Add(1)
		time.Sleep(400 * time.Millisecond)
		h.waitDelivered(10 * time.Second)
		h.settledInvariants([]int64{id, id2}, false)
	})

	t.Run("cryptocloud token expired hours ago", func(t *testing.T) {
		h := newFaultHarness(t)
		id, key := h.order("cryptocloud", usd("20.00"))
		gid := gatewayPaymentID(h.checkout(id, key, "cryptocloud"))
		url := h.sidecars[0].url + "/v1/callbacks/cryptocloud"
		for _, paid := range []bool{false, true} {
			if paid {
				if err := h.sims.CryptoCloud.PayExact(gid); err != nil {
					t.Fatal(err)
				}
				h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
				// The order is written before the payment row and its
				// notification: wait for that too, then for its delivery.
				waitFor(t, "the paid notification", 10*time.Second, func() bool { return h.woo.Count(t, "wcbridge_outbox", "order_id = ?", id) > 0 })
				h.waitDelivered(10 * time.Second)
			}
			before := h.snapshot()
			for _, age := range []time.Duration{10 * time.Minute, 3 * time.Hour, 72 * time.Hour} {
				ct, body, err := cryptocloud.NewSignedPostback(cryptocloud.PostbackPayload{Status: "success", InvoiceID: strings.TrimPrefix(gid, "INV-"),
					AmountCrypto: decimal.RequireFromString("0.001"), Currency: "BTC"},
					cryptocloudsim.DefaultConfig().SecretKey, cryptocloud.ClaimBareID, cryptocloud.FormatJSON, time.Now().Add(-age))
				if err != nil {
					t.Fatal(err)
				}
				code, b := post(t, url, ct, body)
				faultCounts.callbacks.Add(1)
				if code != http.StatusUnauthorized || !strings.Contains(string(b), `"code":"unauthorized"`) {
					t.Errorf("postback with a token expired %v ago (paid=%v): %d %s, want 401 unauthorized", age-cryptocloud.TokenLifetime, paid, code, b)
				}
			}
			time.Sleep(300 * time.Millisecond)
			if d := before.diff(h.snapshot()); d != "" {
				t.Errorf("expired postbacks (paid=%v) changed: %s", paid, d)
			}
		}
		h.settledInvariants([]int64{id}, false)
	})
}

// overrides makes the wrapped gateways report scripted states: a report that
// arrives out of order, after the payment has moved on.
type overrides struct {
	mu     sync.Mutex
	states map[string]*bridge.GatewayState
}

func (o *overrides) set(gid string, st *bridge.GatewayState) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.states == nil {
		o.states = map[string]*bridge.GatewayState{}
	}
	o.states[gid] = st
}

func (o *overrides) get(gid string) *bridge.GatewayState {
	o.mu.Lock()
	defer o.mu.Unlock()
	if st, ok := o.states[gid]; ok {
		c := *st
		return &c
	}
	return nil
}

type scriptedGateway struct {
	bridge.Gateway
	ov *overrides
}

func (g scriptedGateway) PaymentState(ctx context.Context, id string) (*bridge.GatewayState, error) {
	if st := g.ov.get(id); st != nil {
		return st, nil
	}
	return g.Gateway.PaymentState(ctx, id)
}

func (g scriptedGateway) ConfirmCallback(ctx context.Context, ev *bridge.CallbackEvent) (*bridge.GatewayState, error) {
	if st := g.ov.get(ev.GatewayID); st != nil {
		return st, nil
	}
	return g.Gateway.ConfirmCallback(ctx, ev)
}

// TestFaultCallbacksOutOfOrder reports "expired" and a late underpayment
// after "paid": nothing moves backwards.
func TestFaultCallbacksOutOfOrder(t *testing.T) {
	for _, d := range drivers[:2] {
		t.Run(d.name, func(t *testing.T) {
			ov := &overrides{}
			h := newFaultHarness(t, withWrap(func(g bridge.Gateway) bridge.Gateway { return scriptedGateway{g, ov} }))
			id, key := h.order(d.name, usd("50.00"))
			res := h.checkout(id, key, d.name)
			gid := gatewayPaymentID(res)
			if err := d.pay(h, gid); err != nil {
				t.Fatal(err)
			}
			h.waitStatus(id, bridge.StatusProcessing, 30*time.Second)
			h.waitDelivered(30 * time.Second)
			p, _ := h.sims.StreamPay.Payment(gid)
			amount := bridge.Money{Amount: decimal.RequireFromString("50"), Currency: "USD"}
			if d.name == "streampay" {
				amount = bridge.Money{Amount: p.AmountUSD, Currency: "USD"}
			}
			late := []struct {
				name string
				st   bridge.GatewayState
			}{
				{"expired after paid", bridge.GatewayState{GatewayID: gid, Status: bridge.PaymentExpired, Amount: amount}},
				{"cancelled after paid", bridge.GatewayState{GatewayID: gid, Status: bridge.PaymentCancelled, Amount: amount}},
				{"underpaid after paid", bridge.GatewayState{GatewayID: gid, Status: bridge.PaymentUnderpaid, Amount: amount,
					Received: bridge.Money{Amount: amount.Amount.Mul(decimal.RequireFromString("0.9")), Currency: amount.Currency}}},
				{"pending after paid", bridge.GatewayState{GatewayID: gid, Status: bridge.PaymentPending, Amount: amount}},
			}
			// The gateway itself expires the link after payment too.
			if err := d.expire(h, gid); err != nil {
				t.Logf("expire at the simulator after payment: %v", err)
			}
			url := h.sidecars[0].url + "/v1/callbacks/" + d.name
			for i, l := range late {
				ov.set(gid, &l.st)
				// A fresh genuine callback (new bytes, so not a duplicate)
				// delivers the stale report; so does the shop's re-check.
				time.Sleep(1100 * time.Millisecond * time.Duration(min(i, 1))) // new timestamp, new bytes
				ct, body := genuineCallback(t, h, d.name, gid)
				if code, b := post(t, url, ct, body); code != http.StatusOK {
					t.Fatalf("%s: callback answered %d %s", l.name, code, b)
				}
				faultCounts.callbacks.Add(1)
				h.client().do("POST", "/v1/orders/"+itoa(id)+"/recheck", map[string]any{})
				h.stays(id, bridge.StatusProcessing, 400*time.Millisecond)
				if st := h.woo.Value(t, "SELECT status FROM {p}wcbridge_payments WHERE order_id = ?", id); st != string(bridge.PaymentPaid) {
					t.Fatalf("%s: payment moved to %s", l.name, st)
				}
			}
			waitFor(t, "the out-of-order callbacks to be processed", 30*time.Second, func() bool {
				return h.woo.Count(t, "wcbridge_callbacks", "verified = 1 AND applied_at IS NULL") == 0
			})
			h.settledInvariants([]int64{id}, false)
			if n := len(h.wp.eventsFor(id)); n != 1 {
				t.Fatalf("%d notifications for the order, want 1 (paid)", n)
			}
		})
	}
}

// TestFaultDatabaseOutageDuringStorm pays 40 orders across the three
// gateways at once and cuts the database in the middle of it.
func TestFaultDatabaseOutageDuringStorm(t *testing.T) {
	wootest.RequireReal(t, "40 concurrent payments need real row locks")
	h := newFaultHarness(t, func(c *harnessConfig) { c.dbProxy = true })
	type job struct {
		id  int64
		d   driver
		gid string
	}
	var jobs []job
	for i := 0; i < 40; i++ {
		d := drivers[i%3]
		id, key := h.order(d.name, usd(fmt.Sprintf("%d.%02d", 10+i, i)))
		jobs = append(jobs, job{id, d, gatewayPaymentID(h.checkout(id, key, d.name))})
	}
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 15 * time.Millisecond) // spread over 600ms
			if err := j.d.pay(h, j.gid); err != nil {
				t.Error(err)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	h.proxy.setDown(true) // MariaDB "stops" mid-storm
	faultCounts.outages.Add(1)
	time.Sleep(2 * time.Second)
	wg.Wait()
	h.proxy.setDown(false) // and comes back
	var ids []int64
	for _, j := range jobs {
		ids = append(ids, j.id)
	}
	start := time.Now()
	h.waitAll(ids, 45*time.Second, bridge.StatusProcessing, bridge.StatusCompleted)
	h.waitDelivered(30 * time.Second)
	t.Logf("40 orders settled %v after the database came back", time.Since(start).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	h.settledInvariants(ids, true)
}

// TestFaultGatewayErrorsAndHangs makes the gateways answer 500 or hang while
// callbacks are confirmed and payments reconciled.
func TestFaultGatewayErrorsAndHangs(t *testing.T) {
	wootest.RequireReal(t, "concurrent callback and reconciler writers need real row locks")
	h := newFaultHarness(t)
	var ids []int64
	pay := func(d driver, total string, fault func()) {
		id, key := h.order(d.name, usd(total))
		gid := gatewayPaymentID(h.checkout(id, key, d.name))
		fault()
		if err := d.pay(h, gid); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	sp, cc, bs := drivers[0], drivers[1], drivers[2]
	// 500s during confirmation of a callback (more than the client's retries).
	pay(sp, "11.00", func() { h.sims.StreamPay.FailNext(6, http.StatusInternalServerError) })
	pay(cc, "12.00", func() { h.sims.CryptoCloud.FailNext(6, http.StatusInternalServerError) })
	// 500s while confirming Bitstream's webhook and polling.
	pay(bs, "13.00", func() { h.sims.Bitstream.FailNext(6, http.StatusInternalServerError) })
	h.waitAll(ids, 30*time.Second, bridge.StatusProcessing)

	// Hanging answers (slow, within the client's timeout).
	var hung []int64
	for i, d := range []driver{sp, cc, bs} {
		id, key := h.order(d.name, usd(fmt.Sprintf("%d.50", 20+i)))
		gid := gatewayPaymentID(h.checkout(id, key, d.name))
		hung = append(hung, id)
		ids = append(ids, id)
		if err := d.pay(h, gid); err != nil {
			t.Fatal(err)
		}
	}
	h.sims.StreamPay.Hang(1500 * time.Millisecond)
	h.sims.CryptoCloud.Hang(1500 * time.Millisecond)
	h.sims.Bitstream.Hang(1500 * time.Millisecond)
	h.waitAll(hung, 30*time.Second, bridge.StatusProcessing)
	h.sims.StreamPay.Hang(0)
	h.sims.CryptoCloud.Hang(0)
	h.sims.Bitstream.Hang(0)
	h.waitDelivered(20 * time.Second)
	time.Sleep(300 * time.Millisecond)
	h.settledInvariants(ids, false)
}

// TestFaultSidecarKilled runs the real binary, kills it with SIGKILL while
// callbacks are in flight, twice, and restarts it on the same port; the
// gateways' retries and the reconciler must finish the work.
func TestFaultSidecarKilled(t *testing.T) {
	wootest.RequireReal(t, "a subprocess and concurrent writers need a real server")
	bin := wcbridgeBinary(t)
	h := newFaultHarness(t)
	// The in-process sidecar only seeds and reads; the subprocess does the work.
	h.sidecars[0].cancel()
	<-h.sidecars[0].done

	dsn, password := h.woo.DSN, ""
	if wootest.Real() {
		dsn, password = passwordUser(t, h)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	base := "http://" + addr
	env := append(append([]string{}, h.env...),
		"WCBRIDGE_DATABASE_DSN="+dsn,
		"WCBRIDGE_SERVER_LISTEN="+addr,
		"WCBRIDGE_SERVER_PUBLIC_URL="+base,
		"WCBRIDGE_LOG_LEVEL=debug",
		"WCBRIDGE_SERVER_SHUTDOWN_TIMEOUT=2s",
	)
	h.sims.StreamPay.SetCallbackURL(base + "/v1/callbacks/streampay")
	h.sims.CryptoCloud.SetCallbackURL(base + "/v1/callbacks/cryptocloud")
	var logs logBuffer
	proc := startProcess(t, bin, addr, env, &logs)
	t.Cleanup(func() {
		proc.kill()
		assertNoSecrets(t, "wcbridge serve stderr", logs.String(), configuredSecrets(password))
	})
	client := &pluginClient{t: t, base: base, secret: []byte(testSecret)}

	type job struct {
		id  int64
		d   driver
		gid string
	}
	var jobs []job
	for i := 0; i < 30; i++ {
		d := drivers[i%3]
		id, key := h.order(d.name, usd(fmt.Sprintf("%d.00", 10+i)))
		status, res := client.do("POST", "/v1/checkout", map[string]any{"order_id": id, "gateway": d.name, "order_key": key,
			"return_url": "http://shop.test/r", "cancel_url": "http://shop.test/c"})
		if status != http.StatusOK {
			t.Fatalf("checkout %d: %d %v", id, status, res)
		}
		jobs = append(jobs, job{id, d, gatewayPaymentID(res)})
	}
	accepted := func() int {
		n := 0
		for _, d := range h.sims.StreamPay.Callbacks() {
			if d.StatusCode == http.StatusOK {
				n++
			}
		}
		for _, d := range h.sims.CryptoCloud.Callbacks() {
			if d.StatusCode == http.StatusOK {
				n++
			}
		}
		return n
	}
	// Two rounds: pay half the orders at once, kill the sidecar as soon as it
	// has accepted a few of their callbacks, restart it.
	for round, part := range [][]job{jobs[:15], jobs[15:]} {
		before := accepted()
		var wg sync.WaitGroup
		for _, j := range part {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := j.d.pay(h, j.gid); err != nil {
					t.Error(err)
				}
			}()
		}
		waitFor(t, "the sidecar to accept callbacks", 10*time.Second, func() bool { return accepted() >= before+2 })
		proc.kill()
		faultCounts.kills.Add(1)
		wg.Wait()
		time.Sleep(300 * time.Millisecond) // the gateways meet a closed port
		proc.start()
		t.Logf("round %d: killed after %d accepted callbacks, restarted", round+1, accepted()-before)
	}
	var ids []int64
	for _, j := range jobs {
		ids = append(ids, j.id)
	}
	start := time.Now()
	h.waitAll(ids, 150*time.Second, bridge.StatusProcessing, bridge.StatusCompleted)
	h.waitDelivered(30 * time.Second)
	t.Logf("30 orders settled %v after the last restart", time.Since(start).Round(time.Millisecond))
	// Callbacks the killed process had accepted but not processed are swept
	// once their in-flight grace (30s) is over.
	h.waitCallbacks(60 * time.Second)
	t.Logf("every accepted callback processed %v after the last restart", time.Since(start).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	h.settledInvariants(ids, true)
}

// passwordUser creates a MariaDB user with a password for the test's
// database, so the secrets check covers the DSN's password too.
func passwordUser(t *testing.T, h *harness) (dsn, password string) {
	t.Helper()
	password = "wcb-dsn-pw-" + strings.ToLower(wootest.OrderKey()[9:])
	user := "wcbf_" + h.woo.Name[len(h.woo.Name)-8:]
	for _, host := range []string{"%", "localhost", "127.0.0.1"} {
		h.woo.Exec(t, fmt.Sprintf("CREATE USER IF NOT EXISTS '%s'@'%s' IDENTIFIED BY '%s'", user, host, password))
		h.woo.Exec(t, fmt.Sprintf("GRANT ALL ON `%s`.* TO '%s'@'%s'", h.woo.Name, user, host))
	}
	t.Cleanup(func() {
		for _, host := range []string{"%", "localhost", "127.0.0.1"} {
			h.woo.DB.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%s'", user, host))
		}
	})
	cfg, err := mysql.ParseDSN(h.woo.DSN)
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Passwd = user, password
	return cfg.FormatDSN(), password
}

// TestFaultDatabaseBlackHole makes the database a black hole (connections
// accepted, nothing answered, nothing refused) while a gateway delivers a
// genuine callback: the gateway gets 503 within server.callback_timeout,
// not a hung request, so it retries; a forged callback is still refused at
// once (it never needs the database); /readyz says not ready. When the
// database answers again the retried callback pays the order, once.
func TestFaultDatabaseBlackHole(t *testing.T) {
	wootest.RequireReal(t, "the black hole is a TCP proxy in front of a real server")
	const timeout = 2 * time.Second
	h := newFaultHarness(t, func(c *harnessConfig) { c.dbProxy = true }, withEnv("WCBRIDGE_SERVER_CALLBACK_TIMEOUT="+timeout.String()))
	base := h.sidecars[0].url
	id, key := h.order("streampay", usd("12.00"))
	gid := gatewayPaymentID(h.checkout(id, key, "streampay"))
	h.sims.StreamPay.SetCallbackURL("") // this test delivers the callback itself
	if err := h.sims.StreamPay.PayExact(gid); err != nil {
		t.Fatal(err)
	}
	cb := streampay.Callback{PaymentID: gid, Amount: "12", AmountUSD: "12.00", ReceivedAmount: "12", ReceivedAmountUSD: "12.00",
		CurrentDateTime: time.Now().UTC().Format(time.RFC3339)}
	genuine := streampay.SignedPayload(cb, streampaysim.DefaultConfig().SecretKey)
	forged := streampay.SignedPayload(cb, "not-the-secret")

	h.proxy.setBlackHole(true)
	faultCounts.outages.Add(1)
	for i := range 3 {
		start := time.Now()
		status, body := post(t, base+"/v1/callbacks/streampay", "application/json", genuine)
		took := time.Since(start)
		faultCounts.callbacks.Add(1)
		if status != http.StatusServiceUnavailable || took > timeout+2*time.Second {
			t.Errorf("callback %d into the black hole: %d %s after %v; want 503 within %v", i+1, status, body, took.Round(time.Millisecond), timeout)
		}
		t.Logf("callback %d into the black hole: %d after %v", i+1, status, took.Round(time.Millisecond))
	}
	start := time.Now()
	if status, _ := post(t, base+"/v1/callbacks/streampay", "application/json", forged); status != http.StatusUnauthorized || time.Since(start) > time.Second {
		t.Errorf("forged callback during the black hole: %d after %v, want 401 at once", status, time.Since(start))
	}
	start = time.Now()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || time.Since(start) > 5*time.Second {
		t.Errorf("/readyz during the black hole: %d after %v, want 503 within a few seconds", resp.StatusCode, time.Since(start))
	}
	t.Logf("/readyz during the black hole: %d after %v", resp.StatusCode, time.Since(start).Round(time.Millisecond))
	h.proxy.setBlackHole(false)
	// The gateway retries.
	waitFor(t, "the retried callback to be accepted", 30*time.Second, func() bool {
		status, _ := post(t, base+"/v1/callbacks/streampay", "application/json", genuine)
		faultCounts.callbacks.Add(1)
		return status == http.StatusOK
	})
	h.waitStatus(id, bridge.StatusProcessing, 30*time.Second)
	h.waitDelivered(30 * time.Second)
	time.Sleep(300 * time.Millisecond)
	h.settledInvariants([]int64{id}, true)
}
