package bridge

import (
	"context"
	"encoding/json"
	"time"
)

// PaymentView is a payment as the plugin sees it (docs/plugin-api.md).
type PaymentView struct {
	ID               int64  `json:"id"`
	Gateway          string `json:"gateway"`
	GatewayPaymentID string `json:"gateway_payment_id"`
	Status           string `json:"status"`
	Amount           string `json:"amount"`
	Currency         string `json:"currency"`
	Received         string `json:"received"`
	Shortfall        string `json:"shortfall"`
	Excess           string `json:"excess"`
	// The gateway's own figures, in its unit (a token's human units, or
	// USD); empty when unknown.
	GatewayAmount   string     `json:"gateway_amount,omitempty"`
	GatewayReceived string     `json:"gateway_received,omitempty"`
	GatewayCurrency string     `json:"gateway_currency,omitempty"`
	TxRef           string     `json:"tx_ref"`
	PayURL          string     `json:"pay_url"`
	ExpiresAt       *time.Time `json:"expires_at"`
	CreatedAt       time.Time  `json:"created_at"`
}

// NewPaymentView renders p for the plugin.
func NewPaymentView(p *Payment) *PaymentView {
	v := &PaymentView{
		ID: p.ID, Gateway: p.Gateway, GatewayPaymentID: p.GatewayID, Status: string(p.Status),
		Amount: p.Amount.Amount.String(), Currency: p.Amount.Currency,
		Received: "0", Shortfall: p.Shortfall().String(), Excess: p.Excess().String(),
		TxRef: p.TxRef, PayURL: p.PayURL, CreatedAt: p.CreatedAt.UTC(),
	}
	if !p.Received.IsZero() {
		v.Received = p.Received.Amount.String()
	}
	if !p.GatewayAmount.IsZero() {
		v.GatewayAmount, v.GatewayCurrency = p.GatewayAmount.Amount.String(), p.GatewayAmount.Currency
		v.GatewayReceived = "0"
		if !p.GatewayReceived.IsZero() && p.GatewayReceived.Currency == p.GatewayAmount.Currency {
			v.GatewayReceived = p.GatewayReceived.Amount.String()
		}
	}
	if !p.ExpiresAt.IsZero() {
		t := p.ExpiresAt.UTC()
		v.ExpiresAt = &t
	}
	return v
}

// PaymentJSON is the JSON of p's view.
func PaymentJSON(p *Payment) string {
	b, _ := json.Marshal(NewPaymentView(p))
	return string(b)
}

// OrderPaymentView is what the thank-you page shows.
type OrderPaymentView struct {
	OrderID     int64        `json:"order_id"`
	OrderStatus string       `json:"order_status"`
	State       string       `json:"state"`
	Payment     *PaymentView `json:"payment"`
	HoldStock   bool         `json:"hold_stock"`
	HoldUntil   *time.Time   `json:"hold_until"`
}

// Customer-facing payment states.
const (
	StateNone      = "none"
	StateWaiting   = "waiting"
	StateConfirmed = "confirmed"
	StateUnderpaid = "underpaid"
	StateExpired   = "expired"
	StateCancelled = "cancelled"
)

// OrderPayment returns the order's latest payment and what to tell the
// customer about it.
func (s *Service) OrderPayment(ctx context.Context, orderID int64) (*OrderPaymentView, error) {
	order, err := s.Orders.Order(ctx, orderID)
	if err != nil {
		return nil, err
	}
	ps, err := s.Payments.OrderPayments(ctx, orderID)
	if err != nil {
		return nil, err
	}
	return s.orderPaymentView(order, ps), nil
}

func (s *Service) orderPaymentView(o *Order, ps []*Payment) *OrderPaymentView {
	v := &OrderPaymentView{OrderID: o.ID, OrderStatus: o.Status, State: StateNone}
	// The payment that matters: a settled one, else the live one, else the newest.
	var p *Payment
	for _, q := range ps {
		if q.Status.Settled() {
			p = q
			break
		}
	}
	if p == nil {
		for _, q := range ps {
			if q.Status.Live() {
				p = q
				break
			}
		}
	}
	if p == nil && len(ps) > 0 {
		p = ps[0]
	}
	if p == nil {
		return v
	}
	v.Payment = NewPaymentView(p)
	switch p.Status {
	case PaymentPaid, PaymentOverpaid:
		v.State = StateConfirmed
	case PaymentUnderpaid:
		v.State = StateUnderpaid
	case PaymentExpired, PaymentFailed:
		v.State = StateExpired
	case PaymentCancelled:
		v.State = StateCancelled
	default:
		v.State = StateWaiting
	}
	if IsPaidStatus(o.Status) && v.State == StateWaiting {
		v.State = StateConfirmed
	}
	if p.Status.Live() && !p.ExpiresAt.IsZero() {
		until := p.ExpiresAt.Add(s.Policy().LatePaymentGrace).UTC()
		v.HoldUntil = &until
		v.HoldStock = p.Status == PaymentUnderpaid || s.now().Before(until)
	}
	return v
}
