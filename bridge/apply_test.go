package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var ctx = context.Background()

// Money on a payment whose creation failed (the gateway made the invoice
// although our call failed) reaches the order: paid, a note saying so, a
// notification.
func TestApplyStateMoneyOnFailedPayment(t *testing.T) {
	c := newCore(t)
	c.order(1, "40.00")
	p := c.payment(1, "", PaymentFailed, "40.00")
	got, err := c.svc.RecordGatewayState(ctx, p, &GatewayState{GatewayID: "gw1", Status: PaymentPaid, Amount: usdAmount("40"), Received: usdAmount("40")})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != PaymentPaid || got.AppliedStatus != PaymentPaid || got.GatewayID != "gw1" {
		t.Fatalf("payment after money on a failed row: %+v", got)
	}
	o, _ := c.orders.Order(ctx, 1)
	notes := c.orders.notesOf(1)
	if o.Status != StatusProcessing || len(notes) != 1 || !strings.Contains(notes[0], "had been reported as failed") {
		t.Fatalf("order %s, notes %q", o.Status, notes)
	}
	if ev := c.payments.events(); len(ev) != 1 || ev[0] != "wcbridge:1:paid" {
		t.Fatalf("notifications %q", ev)
	}
}

// A paid report without amounts records the amount asked as received; a
// later verified larger amount moves the payment to overpaid with the
// excess noted and a notification, once.
func TestApplyStatePaidThenOverpaid(t *testing.T) {
	c := newCore(t)
	c.order(1, "40.00")
	p := c.payment(1, "sp1", PaymentPending, "40.00")
	p, err := c.svc.RecordGatewayState(ctx, p, &GatewayState{GatewayID: "sp1", Status: PaymentPaid})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != PaymentPaid || !p.Received.Amount.Equal(d("40")) || p.Received.Currency != "USD" {
		t.Fatalf("paid without amounts: status %s received %s", p.Status, p.Received)
	}
	if m := c.paymentMeta(t, 1); m.Received != "40" {
		t.Fatalf("%s received = %q", MetaPayment, m.Received)
	}
	overpaid := &GatewayState{GatewayID: "sp1", Status: PaymentPaid, Amount: usdAmount("40.00"), Received: usdAmount("44.00")}
	for i := 0; i < 2; i++ { // the same callback twice
		if p, err = c.svc.RecordGatewayState(ctx, p, overpaid); err != nil {
			t.Fatal(err)
		}
	}
	if p.Status != PaymentOverpaid || p.AppliedStatus != PaymentOverpaid || !p.Received.Amount.Equal(d("44")) {
		t.Fatalf("after the larger amount: %s applied %s received %s", p.Status, p.AppliedStatus, p.Received)
	}
	notes := c.orders.notesOf(1)
	if len(notes) != 2 || !strings.Contains(notes[1], "an excess of 4 USD") {
		t.Fatalf("notes %q", notes)
	}
	if m := c.paymentMeta(t, 1); m.Received != "44" || m.Status != PaymentOverpaid {
		t.Fatalf("%s = %+v", MetaPayment, m)
	}
	if ev := c.payments.events(); len(ev) != 2 || ev[1] != "wcbridge:1:overpaid" {
		t.Fatalf("notifications %q", ev)
	}
	// A later amountless "paid" moves nothing back.
	if p, err = c.svc.RecordGatewayState(ctx, p, &GatewayState{GatewayID: "sp1", Status: PaymentPaid}); err != nil || p.Status != PaymentOverpaid {
		t.Fatalf("paid after overpaid: %s %v", p.Status, err)
	}
}

// A second payment on a paid order gets one note, keyed by the payment:
// reported paid by the status API and then overpaid by the callback, the
// note is replaced, not repeated, and WordPress hears of it once.
func TestApplyStateSecondPaymentOneNote(t *testing.T) {
	c := newCore(t)
	c.order(1, "9.99")
	first := c.payment(1, "spA", PaymentPending, "9.99")
	if _, err := c.svc.RecordGatewayState(ctx, first, &GatewayState{GatewayID: "spA", Status: PaymentPaid}); err != nil {
		t.Fatal(err)
	}
	second := c.payment(1, "spB", PaymentExpired, "9.99")
	second, err := c.svc.RecordGatewayState(ctx, second, &GatewayState{GatewayID: "spB", Status: PaymentPaid})
	if err != nil {
		t.Fatal(err)
	}
	second, err = c.svc.RecordGatewayState(ctx, second, &GatewayState{GatewayID: "spB", Status: PaymentPaid, Amount: usdAmount("10.89"), Received: usdAmount("20.70")})
	if err != nil {
		t.Fatal(err)
	}
	notes := c.orders.notesOf(1)
	var second_ []string
	for _, n := range notes {
		if strings.Contains(n, "second payment") {
			second_ = append(second_, n)
		}
	}
	if len(second_) != 1 || !strings.Contains(second_[0], "payment spB, 18.98") {
		t.Fatalf("second-payment notes %q (all: %q)", second_, notes)
	}
	if second.Status != PaymentOverpaid || second.AppliedStatus != PaymentOverpaid {
		t.Fatalf("second payment %s applied %s", second.Status, second.AppliedStatus)
	}
	n := 0
	for _, e := range c.payments.events() {
		if e == "wcbridge:2:second" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("notifications %q: want wcbridge:2:second once", c.payments.events())
	}
}

// Money that does not count (a test-mode payment) is told once: an order
// note and the payment's last error; the order stays pending.
func TestApplyStateNotCounted(t *testing.T) {
	c := newCore(t)
	c.order(1, "10.00")
	p := c.payment(1, "INV-1", PaymentPending, "10.00")
	st := &GatewayState{GatewayID: "INV-1", Status: PaymentPending, Test: true, NotCounted: "paid in test mode: not counted; turn on allow_test_mode to count test payments"}
	var err error
	for i := 0; i < 3; i++ {
		if p, err = c.svc.RecordGatewayState(ctx, p, st); err != nil {
			t.Fatal(err)
		}
	}
	o, _ := c.orders.Order(ctx, 1)
	notes := c.orders.notesOf(1)
	if o.Status != StatusPending || p.Status != PaymentPending || p.LastError != st.NotCounted {
		t.Fatalf("order %s payment %s last error %q", o.Status, p.Status, p.LastError)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "paid in test mode: not counted; turn on allow_test_mode") {
		t.Fatalf("notes %q", notes)
	}
}

// An underpayment on an order that is already paid (by another payment)
// cannot put the order on hold; it still reaches the order as a note.
func TestApplyStateMoneyOnPaidOrderIsNoted(t *testing.T) {
	c := newCore(t)
	c.order(1, "40.00")
	c.orders.orders[1].Status = StatusCompleted
	c.orders.orders[1].Meta["_wcbridge_payment_id"] = "spA"
	p := c.payment(1, "spB", PaymentExpired, "40.00")
	p, err := c.svc.RecordGatewayState(ctx, p, &GatewayState{GatewayID: "spB", Status: PaymentUnderpaid, Amount: usdAmount("40"), Received: usdAmount("10")})
	if err != nil {
		t.Fatal(err)
	}
	notes := c.orders.notesOf(1)
	if p.Status != PaymentUnderpaid || len(notes) != 1 || !strings.Contains(notes[0], "10 USD received of 40 USD") || !strings.Contains(notes[0], "did not allow") {
		t.Fatalf("payment %s, notes %q", p.Status, notes)
	}
}

// The reconciler backs off on consecutive failures, capped by the
// age-based pace: one failure on an old payment is retried within seconds,
// not half an hour; a good look resets the count.
func TestReconcileBackOffOnConsecutiveFailures(t *testing.T) {
	c := newCore(t)
	c.order(1, "10.00")
	p := c.payment(1, "sp1", PaymentPending, "10.00")
	c.payments.payments[p.ID].Checks = 40 // looked at many times before
	c.payments.payments[p.ID].ExpiresAt = c.clock.Now().Add(time.Hour)
	c.gw.err = &Error{Code: EUNAVAILABLE, Message: "gateway down"}
	var delays []time.Duration
	for i := 0; i < 8; i++ {
		if _, err := c.svc.Reconcile(ctx, 10); err != nil {
			t.Fatal(err)
		}
		q, _ := c.payments.Payment(ctx, p.ID)
		delays = append(delays, q.NextCheckAt.Sub(c.clock.Now()))
		c.clock.Add(q.NextCheckAt.Sub(c.clock.Now()))
	}
	want := []time.Duration{5 * time.Second, 10 * time.Second, 15 * time.Second, 15 * time.Second}
	for i, w := range want {
		if delays[i] != w {
			t.Fatalf("delays after consecutive failures %v, want to start %v", delays, want)
		}
	}
	if q, _ := c.payments.Payment(ctx, p.ID); q.Failures != 8 || q.LastError == "" {
		t.Fatalf("failures %d last error %q", q.Failures, q.LastError)
	}
	c.gw.err = nil
	c.gw.states["sp1"] = &GatewayState{GatewayID: "sp1", Status: PaymentPending}
	if _, err := c.svc.Reconcile(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if q, _ := c.payments.Payment(ctx, p.ID); q.Failures != 0 {
		t.Fatalf("failures %d after a good look", q.Failures)
	}
	// An old payment: the regular pace is slow, a failure is still retried soon.
	c.clock.Add(30 * time.Hour)
	c.payments.payments[p.ID].NextCheckAt = c.clock.Now()
	c.gw.err = errors.New("connection reset")
	if _, err := c.svc.Reconcile(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if q, _ := c.payments.Payment(ctx, p.ID); q.NextCheckAt.Sub(c.clock.Now()) != 5*time.Second {
		t.Fatalf("an old payment's first failure is retried in %v", q.NextCheckAt.Sub(c.clock.Now()))
	}
}

// A payment keeps the unit scale it was created with: a report read at
// another scale is rescaled to it, and one created before scales were
// recorded gets the scale its own recorded amount implies.
func TestApplyStateKeepsUnitScale(t *testing.T) {
	token := func(s string) Money { return Money{Amount: d(s), Currency: "usdc"} }
	tests := []struct {
		name                   string
		scale                  int   // the payment's
		asked                  Money // the payment's recorded gateway amount
		reportAsked, reportGot string
		wantScale              int
		wantAsked, wantGot     string
		want                   PaymentStatus
	}{
		// 19.99 asked at 10^-8: 1999000000 units, read at 8.
		{"same scale", 8, token("19.99"), "19.99", "19.99", 8, "19.99", "19.99", PaymentPaid},
		// Created at 10^-6 (19990000 units); the client now reads at 8.
		{"older scale kept", 6, token("19.99"), "0.1999", "0.1999", 6, "19.99", "19.99", PaymentPaid},
		{"unrecorded, implied by the stored amount", 0, token("19.99"), "0.1999", "0.0999", 6, "19.99", "9.99", PaymentUnderpaid},
		{"unrecorded, nothing stored: the current scale", 0, Money{}, "19.99", "20.99", 8, "19.99", "20.99", PaymentOverpaid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCore(t)
			c.order(1, "19.99")
			p := c.payment(1, "bs1", PaymentPending, "19.99")
			q := c.payments.payments[p.ID]
			q.Gateway, q.UnitScale, q.GatewayAmount = "streampay", tc.scale, tc.asked
			p, _ = c.payments.Payment(ctx, p.ID)
			got, err := c.svc.RecordGatewayState(ctx, p, &GatewayState{GatewayID: "bs1", Status: PaymentPaid, UnitScale: 8,
				Amount: token(tc.reportAsked), Received: token(tc.reportGot)})
			if err != nil {
				t.Fatal(err)
			}
			if got.UnitScale != tc.wantScale || !got.GatewayAmount.Amount.Equal(d(tc.wantAsked)) || !got.GatewayReceived.Amount.Equal(d(tc.wantGot)) || got.Status != tc.want {
				t.Fatalf("scale %d asked %s received %s status %s; want %d, %s, %s, %s",
					got.UnitScale, got.GatewayAmount, got.GatewayReceived, got.Status, tc.wantScale, tc.wantAsked, tc.wantGot, tc.want)
			}
			if notes := c.orders.notesOf(1); len(notes) != 1 || !strings.Contains(notes[0], tc.wantGot+" usdc received of "+tc.wantAsked+" usdc asked") {
				t.Fatalf("notes %q: want the token figures", notes)
			}
		})
	}
}

// Case 3: "not found" before the payment's expiry plus the grace means the
// gateway does not know it yet: nothing changes. After it, it is expired.
// The gateway's own expiry in the answer wins over the payment's.
func TestApplyStateNotFoundBeforeExpiry(t *testing.T) {
	c := newCore(t)
	c.order(1, "10.00")
	p := c.payment(1, "sp1", PaymentPending, "10.00") // expires in 10 minutes
	notFound := &GatewayState{GatewayID: "sp1", Status: PaymentExpired, NotFound: true}
	for _, st := range []*GatewayState{
		notFound,
		{GatewayID: "sp1", Status: PaymentExpired, NotFound: true, ExpiresAt: c.clock.Now().Add(10 * time.Minute)},
	} {
		got, err := c.svc.RecordGatewayState(ctx, p, st)
		if err != nil || got.Status != PaymentPending || len(c.orders.notesOf(1)) != 0 {
			t.Fatalf("not found before expiry: %s, %v, notes %q", got.Status, err, c.orders.notesOf(1))
		}
	}
	c.clock.Add(11 * time.Minute) // past expiry, within the grace
	if got, _ := c.svc.RecordGatewayState(ctx, p, notFound); got.Status != PaymentPending {
		t.Fatalf("within the grace: %s", got.Status)
	}
	c.clock.Add(2 * time.Minute)
	got, err := c.svc.RecordGatewayState(ctx, p, notFound)
	if err != nil || got.Status != PaymentExpired {
		t.Fatalf("after expiry and grace: %s, %v", got.Status, err)
	}
	if o, _ := c.orders.Order(ctx, 1); o.Status != StatusCancelled {
		t.Fatalf("order %s", o.Status)
	}

	// The gateway says the payment expired long ago: expired at once.
	c.order(2, "10.00")
	p2 := c.payment(2, "sp2", PaymentPending, "10.00")
	got, err = c.svc.RecordGatewayState(ctx, p2, &GatewayState{GatewayID: "sp2", Status: PaymentExpired, NotFound: true, ExpiresAt: c.clock.Now().Add(-5 * time.Minute)})
	if err != nil || got.Status != PaymentExpired {
		t.Fatalf("gateway's own expiry long past: %s, %v", got.Status, err)
	}
}

// Case 3: a payment the gateway calls paid while its callback is still
// being retried (ERR_CALLBACK) stays watched: polled until the gateway says
// it is done, with the attention text as its last error.
func TestReconcileKeepsWatching(t *testing.T) {
	c := newCore(t)
	c.order(1, "10.00")
	p := c.payment(1, "sp1", PaymentPending, "10.00")
	c.gw.states["sp1"] = &GatewayState{GatewayID: "sp1", Status: PaymentPaid, KeepPolling: true, Attention: "callbacks fail"}
	if _, err := c.svc.Reconcile(ctx, 10); err != nil {
		t.Fatal(err)
	}
	q, _ := c.payments.Payment(ctx, p.ID)
	if q.Status != PaymentPaid || !q.Watch || q.LastError != "callbacks fail" || q.NextCheckAt.After(c.clock.Now().Add(time.Hour)) {
		t.Fatalf("paid with callbacks failing: %s watch %v error %q next %v", q.Status, q.Watch, q.LastError, q.NextCheckAt)
	}
	calls := c.gw.calls
	c.clock.Add(time.Minute)
	c.gw.states["sp1"] = &GatewayState{GatewayID: "sp1", Status: PaymentPaid}
	if _, err := c.svc.Reconcile(ctx, 10); err != nil {
		t.Fatal(err)
	}
	q, _ = c.payments.Payment(ctx, p.ID)
	if c.gw.calls == calls || q.Watch || q.LastError != "" || q.NextCheckAt.Year() != 9999 {
		t.Fatalf("after the callback got through: polled %v, watch %v error %q next %v", c.gw.calls > calls, q.Watch, q.LastError, q.NextCheckAt)
	}
	if n := len(c.orders.notesOf(1)); n != 1 {
		t.Fatalf("%d notes, want 1", n)
	}
}

// A report read before the payment was paid, applied by another worker
// while the paid outcome is being applied (it has reached the order, not
// yet committed): the other worker waits for the payment's row lock and
// then finds it paid, so the order is never told an expiry, cancellation
// or underpayment after it was paid, and the payment ends paid with one
// note and one notification.
func TestApplyStateStaleReportWhilePaidIsApplied(t *testing.T) {
	for _, stale := range []GatewayState{
		{GatewayID: "sp1", Status: PaymentExpired},
		{GatewayID: "sp1", Status: PaymentCancelled},
		{GatewayID: "sp1", Status: PaymentUnderpaid, Amount: usdAmount("40"), Received: usdAmount("30")},
	} {
		t.Run(string(stale.Status), func(t *testing.T) {
			c := newCore(t)
			c.order(1, "40.00")
			p := c.payment(1, "sp1", PaymentPending, "40.00") // both workers read it pending
			var staleErr error
			ran := false
			staleDone := make(chan struct{})
			c.orders.afterApply = func(u OrderUpdate) {
				if ran || u.Outcome != OutcomePaid {
					return
				}
				ran = true
				go func() {
					defer close(staleDone)
					_, staleErr = c.svc.RecordGatewayState(ctx, p, &stale)
				}()
			}
			got, err := c.svc.RecordGatewayState(ctx, p, &GatewayState{GatewayID: "sp1", Status: PaymentPaid, Amount: usdAmount("40"), Received: usdAmount("40")})
			if ran {
				<-staleDone
			}
			if err != nil || staleErr != nil {
				t.Fatalf("paid: %v; stale %s: %v", err, stale.Status, staleErr)
			}
			if !ran {
				t.Fatal("the stale report was not applied between the two writes")
			}
			if got.Status != PaymentPaid || got.AppliedStatus != PaymentPaid {
				t.Fatalf("payment %s applied %s, want paid applied paid", got.Status, got.AppliedStatus)
			}
			if stored, _ := c.payments.Payment(ctx, p.ID); stored.Status != PaymentPaid || stored.AppliedStatus != PaymentPaid {
				t.Fatalf("stored payment %s applied %s, want paid applied paid", stored.Status, stored.AppliedStatus)
			}
			o, _ := c.orders.Order(ctx, 1)
			notes := c.orders.notesOf(1)
			if o.Status != StatusProcessing || len(notes) != 1 || !strings.Contains(notes[0], "Payment of 40 USD received") {
				t.Fatalf("order %s, notes %q; want processing with the payment note only", o.Status, notes)
			}
			if m := c.paymentMeta(t, 1); m.Status != PaymentPaid {
				t.Fatalf("%s status = %q, want paid", MetaPayment, m.Status)
			}
			if ev := c.payments.events(); len(ev) != 1 || ev[0] != "wcbridge:1:paid" {
				t.Fatalf("notifications %q, want the paid one only", ev)
			}
		})
	}
}

// An outcome is superseded by those of the statuses the payment cannot
// move from to its own: nothing after paid or overpaid, no expiry after a
// cancellation and no cancellation after an expiry; a late payment still
// follows an expiry.
func TestSupersededBy(t *testing.T) {
	want := map[PaymentStatus]string{
		PaymentUnderpaid: "[wcbridge:5:paid wcbridge:5:overpaid]",
		PaymentPaid:      "[wcbridge:5:overpaid]",
		PaymentOverpaid:  "[]",
		PaymentExpired:   "[wcbridge:5:paid wcbridge:5:overpaid wcbridge:5:cancelled]",
		PaymentCancelled: "[wcbridge:5:paid wcbridge:5:overpaid wcbridge:5:expired]",
	}
	for st, w := range want {
		if got := fmt.Sprint(supersededBy(&Payment{ID: 5, Status: st})); got != w {
			t.Errorf("%s: got %s, want %s", st, got, w)
		}
	}
}

// paymentMeta decodes the order's MetaPayment; it fails the test when the
// meta is missing or not JSON.
func (c *core) paymentMeta(t testing.TB, orderID int64) PaymentMeta {
	t.Helper()
	o, err := c.orders.Order(ctx, orderID)
	if err != nil {
		t.Fatal(err)
	}
	var m PaymentMeta
	if err := json.Unmarshal([]byte(o.Meta[MetaPayment]), &m); err != nil {
		t.Fatalf("%s = %q: %v", MetaPayment, o.Meta[MetaPayment], err)
	}
	return m
}

// An outcome's meta is the gateway, the gateway's payment id and the
// payment's figures as one compact JSON value, its fields always in the
// same order, what is unknown left out.
func TestOrderUpdateMeta(t *testing.T) {
	c := newCore(t)
	for _, tc := range []struct {
		name string
		p    Payment
		want string
	}{
		{"paid", Payment{Status: PaymentPaid, Amount: usdAmount("25.00"), Received: usdAmount("25.00"), TxRef: "0xabc"},
			`{"status":"paid","amount":"25","currency":"USD","received":"25","tx_ref":"0xabc"}`},
		{"underpaid, no transaction", Payment{Status: PaymentUnderpaid, Amount: usdAmount("40.50"), Received: usdAmount("36.45")},
			`{"status":"underpaid","amount":"40.5","currency":"USD","received":"36.45"}`},
		{"paid without amounts", Payment{Status: PaymentPaid, Amount: usdAmount("19.99")},
			`{"status":"paid","amount":"19.99","currency":"USD"}`},
		{"text that needs escaping", Payment{Status: PaymentOverpaid, Amount: usdAmount("1"), Received: usdAmount("2"), TxRef: "a\"b\u2028"},
			`{"status":"overpaid","amount":"1","currency":"USD","received":"2","tx_ref":"a\"b\u2028"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			p.ID, p.OrderID, p.Gateway, p.GatewayID = 7, 1, "streampay", "sp7"
			u, skip, err := c.svc.orderUpdate(ctx, nil, &p, PaymentPending, Policy{})
			if err != nil || skip {
				t.Fatalf("orderUpdate: skip %v, %v", skip, err)
			}
			want := map[string]string{"_wcbridge_gateway": "streampay", MetaGatewayPaymentID: "sp7", MetaPayment: tc.want}
			if fmt.Sprint(u.Meta) != fmt.Sprint(want) {
				t.Fatalf("meta\n%v\nwant\n%v", u.Meta, want)
			}
			var back PaymentMeta
			if err := json.Unmarshal([]byte(u.Meta[MetaPayment]), &back); err != nil || back.TxRef != p.TxRef || back.Status != p.Status {
				t.Fatalf("decoded %+v, %v", back, err)
			}
		})
	}
}

// An underpaid order that is then paid in full keeps one MetaPayment, with
// the last outcome's figures.
func TestApplyStateUnderpaidThenPaid(t *testing.T) {
	c := newCore(t)
	c.order(1, "40.00")
	p := c.payment(1, "sp1", PaymentPending, "40.00")
	p, err := c.svc.RecordGatewayState(ctx, p, &GatewayState{GatewayID: "sp1", Status: PaymentUnderpaid, Amount: usdAmount("40"), Received: usdAmount("30")})
	if err != nil {
		t.Fatal(err)
	}
	if m := c.paymentMeta(t, 1); m != (PaymentMeta{Status: PaymentUnderpaid, Amount: "40", Currency: "USD", Received: "30"}) {
		t.Fatalf("underpaid: %s = %+v", MetaPayment, m)
	}
	if _, err = c.svc.RecordGatewayState(ctx, p, &GatewayState{GatewayID: "sp1", Status: PaymentPaid, Amount: usdAmount("40"), Received: usdAmount("40"), TxRef: "0xabc"}); err != nil {
		t.Fatal(err)
	}
	if o, _ := c.orders.Order(ctx, 1); o.Status != StatusProcessing {
		t.Fatalf("order %s, want processing", o.Status)
	}
	if m := c.paymentMeta(t, 1); m != (PaymentMeta{Status: PaymentPaid, Amount: "40", Currency: "USD", Received: "40", TxRef: "0xabc"}) {
		t.Fatalf("paid: %s = %+v", MetaPayment, m)
	}
}
