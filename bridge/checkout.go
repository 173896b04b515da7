package bridge

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"
)

// Starting a checkout: the order's live payment reused, or a new one
// created at the gateway; retiring payments nobody will pay.

// CheckoutRequest is the plugin's request to pay an order with a gateway.
type CheckoutRequest struct {
	OrderID   int64
	Gateway   string
	OrderKey  string
	ReturnURL string
	CancelURL string
	// PaidStatus is what the shop's woocommerce_payment_complete_order_status
	// filter gives this order (StatusProcessing or StatusCompleted); "" when
	// the plugin did not say.
	PaidStatus string
}

// CheckoutResult is where to send the customer.
type CheckoutResult struct {
	Payment     *Payment
	RedirectURL string
	Reused      bool
	HoldUntil   time.Time
}

// creatingTimeout is how long a payment may sit in "creating" before it is
// taken to have failed (the process died during the gateway call).
const creatingTimeout = 2 * time.Minute

// DefaultCreateTimeout is how long a checkout waits for the gateway to
// create a payment: 2 seconds less than the plugin waits for the sidecar
// (10 seconds, plugin-php/includes/class-gateway.php), which leaves time to
// record the outcome and answer.
const DefaultCreateTimeout = 8 * time.Second

// recordTimeout bounds the database write that records a creation's
// outcome, which runs even when the caller has gone.
const recordTimeout = 10 * time.Second

// StartCheckout returns the order's live payment for the gateway or creates
// one. It never creates a second live payment for an order.
func (s *Service) StartCheckout(ctx context.Context, r CheckoutRequest) (*CheckoutResult, error) {
	gw, err := s.Gateways.Gateway(r.Gateway)
	if err != nil {
		return nil, err
	}
	order, err := s.Orders.Order(ctx, r.OrderID)
	if err != nil {
		return nil, err
	}
	if err := checkOrderPayable(order, r); err != nil {
		return nil, err
	}
	if caps := gw.Capabilities(); len(caps.Currencies) > 0 && !contains(caps.Currencies, order.Currency) {
		return nil, &Error{Code: EUNSUPPORTED, Message: fmt.Sprintf("%s does not accept %s", r.Gateway, order.Currency), Err: ErrCurrency}
	}
	policy := s.Policy()

	for attempt := 0; attempt < 3; attempt++ {
		live, err := s.livePayment(ctx, order.ID)
		if err != nil {
			return nil, err
		}
		if live != nil {
			res, retry, err := s.reuseOrRetire(ctx, live, r.Gateway, policy)
			if err != nil || res != nil {
				return res, err
			}
			if retry {
				continue
			}
		}
		now := s.now()
		p := &Payment{
			OrderID:     order.ID,
			Gateway:     r.Gateway,
			OrderRef:    fmt.Sprintf("wc%d-%s", order.ID, randomHex(6)),
			Status:      PaymentCreating,
			Amount:      Money{Amount: order.Total, Currency: order.Currency},
			ExpiresAt:   now.Add(policy.Lifetime),
			NextCheckAt: now.Add(creatingTimeout),
			PaidStatus:  r.PaidStatus,
		}
		created, err := s.Payments.CreatePayment(ctx, p)
		if errors.Is(err, ErrLivePayment) {
			continue // another request won the slot: reuse its payment
		} else if err != nil {
			return nil, fmt.Errorf("create payment: %w", err)
		}
		return s.createAtGateway(ctx, gw, order, created, r, policy)
	}
	return nil, ErrBeingCreated
}

func checkOrderPayable(o *Order, r CheckoutRequest) error {
	if o.Type != "shop_order" {
		return ErrOrderType
	}
	if r.OrderKey == "" || subtle.ConstantTimeCompare([]byte(o.OrderKey), []byte(r.OrderKey)) != 1 {
		return &Error{Code: ENOTFOUND, Message: "order not found", Err: errors.New("order key mismatch")}
	}
	if o.PaymentMethod != PaymentMethodPrefix+r.Gateway {
		return &Error{Code: ECONFLICT, Message: fmt.Sprintf("order %d is to be paid with %q, not %s", o.ID, o.PaymentMethod, r.Gateway), Err: ErrPaymentMethod}
	}
	switch r.PaidStatus {
	case "", StatusProcessing, StatusCompleted:
	default:
		return &Error{Code: EINVALID, Message: "invalid checkout request", Fields: map[string]string{"paid_status": "must be processing or completed"}}
	}
	switch o.Status {
	case StatusPending, StatusFailed, StatusCheckoutDraft, StatusOnHold:
	default:
		return &Error{Code: ECONFLICT, Message: fmt.Sprintf("order %d is %s and needs no payment", o.ID, o.Status), Err: ErrOrderStatus}
	}
	if !o.Total.IsPositive() {
		return &Error{Code: EINVALID, Message: fmt.Sprintf("order %d has nothing to pay", o.ID)}
	}
	return nil
}

// livePayment returns the order's payment that holds the live slot, if any.
func (s *Service) livePayment(ctx context.Context, orderID int64) (*Payment, error) {
	ps, err := s.Payments.OrderPayments(ctx, orderID)
	if err != nil {
		return nil, err
	}
	return livePaymentOf(ps), nil
}

// livePaymentOf returns the payment of ps that holds the live slot, if any.
func livePaymentOf(ps []*Payment) *Payment {
	for _, p := range ps {
		if p.Status.Live() {
			return p
		}
	}
	return nil
}

// reuseOrRetire decides what to do with the order's live payment at a new
// checkout: reuse it, or retire it (expired, superseded, stale creation) so
// a new one can be made (retry=true).
func (s *Service) reuseOrRetire(ctx context.Context, live *Payment, gateway string, policy Policy) (*CheckoutResult, bool, error) {
	now := s.now()
	switch {
	case live.Status == PaymentCreating && now.Sub(live.CreatedAt) < creatingTimeout:
		return nil, false, ErrBeingCreated
	case live.Status == PaymentCreating:
		_, err := s.Payments.UpdatePayment(ctx, live.ID, func(p *Payment) (*Notification, error) {
			p.Status, p.LastError = PaymentFailed, "creation did not finish"
			return nil, nil
		})
		return nil, true, ignoreStatusConflict(err)
	case live.Status == PaymentUnderpaid:
		// Money has arrived on this payment: the customer tops it up there,
		// whatever gateway they picked now.
		return s.checkoutResult(live, true, policy), false, nil
	case live.Gateway == gateway && live.PayURL != "" && live.ExpiresAt.After(now.Add(time.Minute)):
		return s.checkoutResult(live, true, policy), false, nil
	}
	// Expired, or the customer switched gateway: retire the old payment. It
	// stays watched, so a late payment on it still counts; where the gateway
	// can, it is cancelled there so it cannot be paid any more.
	if !live.ExpiresAt.After(now) {
		_, err := s.retire(ctx, live, PaymentExpired)
		return nil, true, err
	}
	s.cancelAtGateway(ctx, live, "the customer chose another payment")
	_, err := s.retire(ctx, live, PaymentCancelled)
	return nil, true, err
}

// retire takes a live payment out of its order's live slot as next (expired
// or cancelled) without telling the order; the reconciler keeps watching it,
// so money that still arrives counts as a late payment.
func (s *Service) retire(ctx context.Context, p *Payment, next PaymentStatus) (*Payment, error) {
	now := s.now()
	q, err := s.Payments.UpdatePayment(ctx, p.ID, func(q *Payment) (*Notification, error) {
		if !q.Status.Live() {
			return nil, nil
		}
		q.Status = next
		q.AppliedStatus = next // the order is not told
		q.NextCheckAt = now
		return nil, nil
	})
	return q, ignoreStatusConflict(err)
}

// cancelAtGateway makes a payment that nobody should pay any more unpayable
// where the gateway allows it (a Canceler). Best effort: a failure (the
// payment received money meanwhile, the gateway is down) leaves the payment
// watched, and whatever arrives on it is applied as a late payment.
func (s *Service) cancelAtGateway(ctx context.Context, p *Payment, why string) {
	if p.GatewayID == "" || p.Status != PaymentPending {
		return
	}
	gw, err := s.Gateways.Gateway(p.Gateway)
	if err != nil {
		return
	}
	c, ok := gw.(Canceler)
	if !ok {
		return
	}
	if err := c.CancelPayment(ctx, p.GatewayID); err != nil {
		s.Logger.Warn("cancelling the payment at the gateway failed; it stays watched", "order_id", p.OrderID, "payment_id", p.ID, "gateway", p.Gateway, "reason", why, "err", err)
		return
	}
	s.Logger.Info("payment cancelled at the gateway", "order_id", p.OrderID, "payment_id", p.ID, "gateway", p.Gateway, "reason", why)
}

// CancelOrderPayments is WordPress saying the order will not be paid through
// wcbridge any more (the shop or WooCommerce cancelled it, or it was
// switched to another payment method): its pending payments are cancelled
// at the gateway where the gateway allows it and retired without touching
// the order. A payment that has received money (underpaid) stays live: the
// rest may still arrive and must be accounted for.
func (s *Service) CancelOrderPayments(ctx context.Context, orderID int64) (*OrderPaymentView, error) {
	ps, err := s.Payments.OrderPayments(ctx, orderID)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if p.Status != PaymentPending {
			continue
		}
		s.cancelAtGateway(ctx, p, "wordpress no longer expects it")
		if _, err := s.retire(ctx, p, PaymentCancelled); err != nil {
			return nil, err
		}
	}
	return s.OrderPayment(ctx, orderID)
}

func ignoreStatusConflict(err error) error {
	if errors.Is(err, ErrPaymentStatus) {
		return nil
	}
	return err
}

func (s *Service) checkoutResult(p *Payment, reused bool, policy Policy) *CheckoutResult {
	return &CheckoutResult{Payment: p, RedirectURL: p.PayURL, Reused: reused, HoldUntil: p.ExpiresAt.Add(policy.LatePaymentGrace)}
}

// createAtGateway asks the gateway for the payment reserved in p.
func (s *Service) createAtGateway(ctx context.Context, gw Gateway, o *Order, p *Payment, r CheckoutRequest, policy Policy) (*CheckoutResult, error) {
	gctx, cancel := context.WithTimeout(ctx, s.CreateTimeout)
	defer cancel()
	gp, gerr := gw.CreatePayment(gctx, CreatePaymentRequest{
		OrderID:     o.ID,
		OrderRef:    p.OrderRef,
		Amount:      p.Amount,
		Email:       o.BillingEmail,
		Description: fmt.Sprintf("Order #%d", o.ID),
		ReturnURL:   r.ReturnURL,
		CancelURL:   r.CancelURL,
		Lifetime:    policy.Lifetime,
	})
	now := s.now()
	// The outcome is recorded even when the caller has gone (the plugin gave
	// up, the customer left): a payment left creating would answer every new
	// checkout of the order with "being created" until creatingTimeout.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer wcancel()
	updated, err := s.Payments.UpdatePayment(wctx, p.ID, func(q *Payment) (*Notification, error) {
		if gerr != nil {
			q.Status, q.LastError = PaymentFailed, truncate(gerr.Error(), 250)
			return nil, nil
		}
		if q.Status != PaymentCreating {
			// A callback got here first (it can arrive before the answer).
			q.GatewayID, q.PayURL = gp.GatewayID, gp.URL
			if q.UnitScale == 0 {
				q.UnitScale = gp.UnitScale
			}
			return nil, nil
		}
		q.Status = PaymentPending
		q.GatewayID, q.PayURL = gp.GatewayID, gp.URL
		if !gp.ExpiresAt.IsZero() {
			q.ExpiresAt = gp.ExpiresAt.UTC()
		}
		q.GatewayAmount, q.UnitScale = gp.Amount, gp.UnitScale
		q.NextCheckAt = now.Add(s.CheckDelay(0))
		return nil, nil
	})
	if gerr != nil {
		s.Logger.Warn("gateway refused payment creation", "order_id", o.ID, "payment_id", p.ID, "gateway", gw.Name(), "err", gerr)
		return nil, gerr
	}
	if err != nil {
		// The payment exists at the gateway but we could not record its id:
		// the reconciler cannot find it; the customer may retry.
		return nil, fmt.Errorf("record created payment: %w", err)
	}
	s.Logger.Info("payment created", "order_id", o.ID, "payment_id", updated.ID, "gateway", gw.Name(), "gateway_payment_id", updated.GatewayID)
	return s.checkoutResult(updated, false, policy), nil
}
