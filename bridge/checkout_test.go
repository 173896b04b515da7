package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// testGateway is fakeGateway that creates payments (recording each
// request, or failing with createErr) and verifies callbacks whose body is
// "signed:<gateway payment id>", confirming them from its state table.
type testGateway struct {
	*fakeGateway
	cmu       sync.Mutex
	created   []CreatePaymentRequest
	createErr error
}

func (g *testGateway) CreatePayment(_ context.Context, r CreatePaymentRequest) (*GatewayPayment, error) {
	g.cmu.Lock()
	defer g.cmu.Unlock()
	g.created = append(g.created, r)
	if g.createErr != nil {
		return nil, g.createErr
	}
	return &GatewayPayment{GatewayID: "sp-" + r.OrderRef, URL: "https://pay.example/" + r.OrderRef, Amount: r.Amount}, nil
}

func (g *testGateway) creations() []CreatePaymentRequest {
	g.cmu.Lock()
	defer g.cmu.Unlock()
	return append([]CreatePaymentRequest(nil), g.created...)
}

// newCheckoutCore is newCore with a testGateway.
func newCheckoutCore(t *testing.T) (*core, *testGateway) {
	t.Helper()
	c := newCore(t)
	gw := &testGateway{fakeGateway: c.gw}
	c.svc.Gateways = fakeGateways{gw}
	return c, gw
}

func checkoutOf(orderID int64) CheckoutRequest {
	return CheckoutRequest{OrderID: orderID, Gateway: "streampay", OrderKey: fmt.Sprintf("wc_order_%d", orderID), ReturnURL: "https://shop.example/thanks"}
}

// A first checkout creates one pending payment at the gateway for the
// order's total; a second one reuses it without calling the gateway again.
func TestStartCheckoutCreatesThenReuses(t *testing.T) {
	c, gw := newCheckoutCore(t)
	c.order(1, "40.00")
	res, err := c.svc.StartCheckout(ctx, checkoutOf(1))
	if err != nil {
		t.Fatal(err)
	}
	p := res.Payment
	if res.Reused || p.Status != PaymentPending || p.GatewayID != "sp-"+p.OrderRef || res.RedirectURL != "https://pay.example/"+p.OrderRef {
		t.Fatalf("first checkout: reused %v, payment %+v, redirect %q", res.Reused, p, res.RedirectURL)
	}
	cr := gw.creations()
	if len(cr) != 1 || !cr[0].Amount.Amount.Equal(d("40")) || cr[0].Amount.Currency != "USD" || cr[0].OrderRef != p.OrderRef {
		t.Fatalf("gateway creations %+v", cr)
	}
	again, err := c.svc.StartCheckout(ctx, checkoutOf(1))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Reused || again.Payment.ID != p.ID || again.RedirectURL != res.RedirectURL {
		t.Fatalf("second checkout: reused %v payment %d (first %d)", again.Reused, again.Payment.ID, p.ID)
	}
	if n := len(gw.creations()); n != 1 {
		t.Fatalf("gateway asked %d times, want 1", n)
	}
	if ps, _ := c.payments.OrderPayments(ctx, 1); len(ps) != 1 {
		t.Fatalf("%d payment rows, want 1", len(ps))
	}
}

// What a new checkout does with the order's live payment: reuse it, answer
// "in progress", or retire it and create a new one.
func TestStartCheckoutLivePayment(t *testing.T) {
	for _, tc := range []struct {
		name       string
		live       func(c *core) *Payment
		wantReused bool
		wantCode   string
		wantOld    PaymentStatus // the live payment's status afterwards
	}{
		{"pending with a page is reused", func(c *core) *Payment {
			now := c.clock.Now()
			return c.payments.put(&Payment{OrderID: 1, Gateway: "streampay", GatewayID: "sp1", OrderRef: "ref1", Status: PaymentPending, PayURL: "https://pay.example/ref1",
				Amount: usdAmount("40.00"), CreatedAt: now, ExpiresAt: now.Add(30 * time.Minute)})
		}, true, "", PaymentPending},
		{"underpaid is reused", func(c *core) *Payment {
			return c.payment(1, "sp1", PaymentUnderpaid, "40.00")
		}, true, "", PaymentUnderpaid},
		{"creating just now is in progress", func(c *core) *Payment {
			return c.payment(1, "", PaymentCreating, "40.00")
		}, false, EINPROGRESS, PaymentCreating},
		{"creating too long fails and is replaced", func(c *core) *Payment {
			p := c.payment(1, "", PaymentCreating, "40.00")
			c.clock.Add(creatingTimeout + time.Second)
			return p
		}, false, "", PaymentFailed},
		{"expired is retired", func(c *core) *Payment {
			p := c.payment(1, "sp1", PaymentPending, "40.00")
			c.clock.Add(11 * time.Minute)
			return p
		}, false, "", PaymentExpired},
		{"another gateway's is cancelled", func(c *core) *Payment {
			now := c.clock.Now()
			return c.payments.put(&Payment{OrderID: 1, Gateway: "bitstream", GatewayID: "bs1", OrderRef: "ref-bs1", Status: PaymentPending, PayURL: "https://bs.example/1",
				Amount: usdAmount("40.00"), CreatedAt: now, ExpiresAt: now.Add(30 * time.Minute)})
		}, false, "", PaymentCancelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, gw := newCheckoutCore(t)
			c.order(1, "40.00")
			old := tc.live(c)
			res, err := c.svc.StartCheckout(ctx, checkoutOf(1))
			ps, _ := c.payments.OrderPayments(ctx, 1)
			after, _ := c.payments.Payment(ctx, old.ID)
			if after.Status != tc.wantOld {
				t.Fatalf("old payment %s, want %s", after.Status, tc.wantOld)
			}
			if tc.wantCode != "" {
				if ErrorCode(err) != tc.wantCode || !errors.Is(err, ErrBeingCreated) {
					t.Fatalf("err %v (code %q), want %s", err, ErrorCode(err), tc.wantCode)
				}
				if len(ps) != 1 || len(gw.creations()) != 0 {
					t.Fatalf("%d payment rows, %d gateway calls; want 1, 0", len(ps), len(gw.creations()))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantReused {
				if !res.Reused || res.Payment.ID != old.ID || len(ps) != 1 || len(gw.creations()) != 0 {
					t.Fatalf("reused %v payment %d (old %d), %d rows, %d gateway calls", res.Reused, res.Payment.ID, old.ID, len(ps), len(gw.creations()))
				}
				return
			}
			if res.Reused || res.Payment.ID == old.ID || res.Payment.Status != PaymentPending || len(ps) != 2 || len(gw.creations()) != 1 {
				t.Fatalf("reused %v payment %d %s (old %d), %d rows, %d gateway calls", res.Reused, res.Payment.ID, res.Payment.Status, old.ID, len(ps), len(gw.creations()))
			}
			if live := livePaymentOf(ps); live == nil || live.ID != res.Payment.ID {
				t.Fatalf("live payment %+v, want %d", live, res.Payment.ID)
			}
		})
	}
}

// An order that cannot be paid this way gets a coded error and nothing is
// created, here or at the gateway.
func TestStartCheckoutOrderNotPayable(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    func(o *Order, r *CheckoutRequest)
		wantCode string
		wantErr  error
	}{
		{"unknown order", func(o *Order, r *CheckoutRequest) { r.OrderID = 2 }, ENOTFOUND, ErrOrderNotFound},
		{"unknown gateway", func(o *Order, r *CheckoutRequest) { r.Gateway = "nosuch" }, ENOTFOUND, ErrUnknownGateway},
		{"wrong order key", func(o *Order, r *CheckoutRequest) { r.OrderKey = "wc_order_x" }, ENOTFOUND, nil},
		{"no order key", func(o *Order, r *CheckoutRequest) { r.OrderKey = "" }, ENOTFOUND, nil},
		{"not a shop order", func(o *Order, r *CheckoutRequest) { o.Type = "shop_order_refund" }, ECONFLICT, ErrOrderType},
		{"other payment method", func(o *Order, r *CheckoutRequest) { o.PaymentMethod = "bacs" }, ECONFLICT, ErrPaymentMethod},
		{"already paid", func(o *Order, r *CheckoutRequest) { o.Status = StatusProcessing }, ECONFLICT, ErrOrderStatus},
		{"cancelled", func(o *Order, r *CheckoutRequest) { o.Status = StatusCancelled }, ECONFLICT, ErrOrderStatus},
		{"nothing to pay", func(o *Order, r *CheckoutRequest) { o.Total = d("0") }, EINVALID, nil},
		{"bad paid status", func(o *Order, r *CheckoutRequest) { r.PaidStatus = "refunded" }, EINVALID, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, gw := newCheckoutCore(t)
			c.order(1, "40.00")
			r := checkoutOf(1)
			c.orders.mu.Lock()
			tc.setup(c.orders.orders[1], &r)
			c.orders.mu.Unlock()
			res, err := c.svc.StartCheckout(ctx, r)
			if err == nil || ErrorCode(err) != tc.wantCode || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("result %+v err %v (code %q), want code %s", res, err, ErrorCode(err), tc.wantCode)
			}
			if ps, _ := c.payments.OrderPayments(ctx, 1); len(ps) != 0 || len(gw.creations()) != 0 {
				t.Fatalf("%d payment rows, %d gateway calls; want none", len(ps), len(gw.creations()))
			}
		})
	}
}

// A gateway that refuses the creation leaves the payment failed with the
// reason, which frees the order for the next checkout.
func TestStartCheckoutGatewayRefuses(t *testing.T) {
	c, gw := newCheckoutCore(t)
	c.order(1, "40.00")
	gw.createErr = &Error{Code: EGATEWAY, Message: "gateway refused: amount too small"}
	if _, err := c.svc.StartCheckout(ctx, checkoutOf(1)); ErrorCode(err) != EGATEWAY {
		t.Fatalf("err %v, want %s", err, EGATEWAY)
	}
	ps, _ := c.payments.OrderPayments(ctx, 1)
	if len(ps) != 1 || ps[0].Status != PaymentFailed || ps[0].LastError == "" || livePaymentOf(ps) != nil {
		t.Fatalf("payments %+v", ps)
	}
	gw.createErr = nil
	res, err := c.svc.StartCheckout(ctx, checkoutOf(1))
	if err != nil || res.Reused || res.Payment.Status != PaymentPending {
		t.Fatalf("retry: %+v %v", res, err)
	}
}
