package bridge

import (
	"time"

	"github.com/shopspring/decimal"
)

// Policy is the shop's choice of how payment outcomes become order statuses.
// The shop owner can change it from WordPress at run time; a hosting provider
// can pin any part of it in the sidecar's config.
type Policy struct {
	Lifetime time.Duration // how long a new payment stays payable (where the gateway takes one)
	// An amount received within TolerancePercent of the order total (or
	// ToleranceFixed in the order's currency, whichever is larger) of what was
	// asked counts as paid: wallets and networks shave fees.
	TolerancePercent decimal.Decimal
	ToleranceFixed   decimal.Decimal
	// LatePaymentGrace keeps WooCommerce's hold-stock timer off an order this
	// long after its payment expired, for payments still in flight.
	LatePaymentGrace time.Duration
	CancelOnExpiry   bool   // expired unpaid: cancel the order (else leave it pending)
	LateOnHold       bool   // paid after expiry/cancellation: on-hold (else processing)
	PaidStatus       string // "" decides from the items; or StatusProcessing / StatusCompleted
	GiveUpAfter      time.Duration
}

// DefaultPolicy is what a shop gets unless it says otherwise.
func DefaultPolicy() Policy {
	return Policy{
		Lifetime:         time.Hour,
		TolerancePercent: decimal.RequireFromString("0.5"),
		LatePaymentGrace: 24 * time.Hour,
		CancelOnExpiry:   true,
		GiveUpAfter:      7 * 24 * time.Hour,
	}
}

// tolerance is the shortfall that still counts as paid, in the order's
// currency.
func (p Policy) tolerance(total decimal.Decimal) decimal.Decimal {
	t := total.Mul(p.TolerancePercent).Div(decimal.NewFromInt(100))
	if p.ToleranceFixed.GreaterThan(t) {
		return p.ToleranceFixed
	}
	return t
}

// Classify decides a payment's status from what the gateway reported and the
// amounts, compared exactly. It returns the status and what arrived in the
// order's currency (zero Money when the gateway gave no amounts).
func (p Policy) Classify(order Money, st *GatewayState) (PaymentStatus, Money) {
	status := st.Status
	switch status {
	case PaymentPaid, PaymentOverpaid, PaymentUnderpaid:
	default:
		return status, Money{}
	}
	asked, got := st.Amount, st.Received
	if asked.Currency == "" || got.Currency == "" || asked.Currency != got.Currency || !asked.Amount.IsPositive() {
		return status, Money{}
	}
	// What arrived, in the order's currency: the order total scaled by the
	// gateway's received/asked ratio, kept to 8 places like WooCommerce.
	received := order.Amount
	if !got.Amount.Equal(asked.Amount) {
		received = order.Amount.Mul(got.Amount).Div(asked.Amount).Round(8)
	}
	diff := received.Sub(order.Amount)
	tol := p.tolerance(order.Amount)
	switch {
	case diff.Neg().GreaterThan(tol):
		status = PaymentUnderpaid
	case diff.IsPositive():
		status = PaymentOverpaid // any excess is worth a note
	default:
		status = PaymentPaid
	}
	return status, Money{Amount: received, Currency: order.Currency}
}
