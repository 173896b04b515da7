package bridge

import (
	"testing"

	"github.com/shopspring/decimal"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// TestClassifyToleranceBoundary pins the tolerance: 0.5 % of 40.00 is 0.20,
// so 39.80 still counts as paid and 39.79 is underpaid; a fixed tolerance
// wins when it is larger.
func TestClassifyToleranceBoundary(t *testing.T) {
	order := Money{Amount: d("40.00"), Currency: "USD"}
	percent := Policy{TolerancePercent: d("0.5")}
	fixed := Policy{TolerancePercent: d("0.5"), ToleranceFixed: d("1.00")}
	none := Policy{}
	tests := []struct {
		name     string
		policy   Policy
		received string
		want     PaymentStatus
		got      string // received, in the order's currency
	}{
		{"exact", percent, "40.00", PaymentPaid, "40"},
		{"percent boundary: 0.20 short is paid", percent, "39.80", PaymentPaid, "39.8"},
		{"percent boundary: 0.21 short is underpaid", percent, "39.79", PaymentUnderpaid, "39.79"},
		{"one cent over is overpaid", percent, "40.01", PaymentOverpaid, "40.01"},
		{"fixed boundary: 1.00 short is paid", fixed, "39.00", PaymentPaid, "39"},
		{"fixed boundary: 1.01 short is underpaid", fixed, "38.99", PaymentUnderpaid, "38.99"},
		{"fixed larger than percent", fixed, "39.50", PaymentPaid, "39.5"},
		{"no tolerance: a cent short is underpaid", none, "39.99", PaymentUnderpaid, "39.99"},
		{"no tolerance: exact is paid", none, "40", PaymentPaid, "40"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &GatewayState{Status: PaymentPaid, Amount: Money{Amount: d("40.00"), Currency: "USD"}, Received: Money{Amount: d(tc.received), Currency: "USD"}}
			status, got := tc.policy.Classify(order, st)
			if status != tc.want || got.Currency != "USD" || !got.Amount.Equal(d(tc.got)) {
				t.Errorf("Classify(%s) = %s, %s; want %s, %s USD", tc.received, status, got, tc.want, tc.got)
			}
		})
	}
}

// TestClassifyOtherUnit: the gateway's figures are in another unit (USD for
// a EUR order, a token): what arrived is the order total scaled by their
// ratio, and the tolerance applies in the order's currency.
func TestClassifyOtherUnit(t *testing.T) {
	order := Money{Amount: d("40.00"), Currency: "EUR"}
	p := Policy{TolerancePercent: d("0.5")}
	tests := []struct {
		asked, received string
		want            PaymentStatus
		got             string
	}{
		{"44.00", "43.78", PaymentPaid, "39.8"},
		{"44.00", "43.77", PaymentUnderpaid, "39.79090909"},
		{"44.00", "88.00", PaymentOverpaid, "80"},
	}
	for _, tc := range tests {
		st := &GatewayState{Status: PaymentPaid, Amount: Money{Amount: d(tc.asked), Currency: "USD"}, Received: Money{Amount: d(tc.received), Currency: "USD"}}
		status, got := p.Classify(order, st)
		if status != tc.want || got.Currency != "EUR" || !got.Amount.Equal(d(tc.got)) {
			t.Errorf("%s of %s USD: %s, %s; want %s, %s EUR", tc.received, tc.asked, status, got, tc.want, tc.got)
		}
	}
}

// TestClassifyWithoutAmounts: a report without comparable figures keeps the
// gateway's status and says nothing arrived (the caller decides).
func TestClassifyWithoutAmounts(t *testing.T) {
	order := Money{Amount: d("40.00"), Currency: "USD"}
	p := DefaultPolicy()
	for _, st := range []*GatewayState{
		{Status: PaymentPaid},
		{Status: PaymentPaid, Amount: Money{Amount: d("40"), Currency: "USD"}},
		{Status: PaymentPaid, Amount: Money{Amount: d("40"), Currency: "USD"}, Received: Money{Amount: d("40"), Currency: "USDC"}},
		{Status: PaymentExpired, Amount: Money{Amount: d("40"), Currency: "USD"}, Received: Money{Amount: d("40"), Currency: "USD"}},
	} {
		status, got := p.Classify(order, st)
		if status != st.Status || !got.IsZero() {
			t.Errorf("Classify(%+v) = %s, %s; want %s and nothing", st, status, got, st.Status)
		}
	}
}
