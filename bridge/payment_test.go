package bridge

import (
	"fmt"
	"testing"
)

var allStatuses = []PaymentStatus{PaymentCreating, PaymentPending, PaymentUnderpaid, PaymentPaid,
	PaymentOverpaid, PaymentExpired, PaymentCancelled, PaymentFailed}

// TestCanMove pins the payment state machine: every pair of statuses, the
// moves allowed and the ones refused.
func TestCanMove(t *testing.T) {
	allowed := map[PaymentStatus][]PaymentStatus{
		PaymentCreating:  {PaymentPending, PaymentUnderpaid, PaymentPaid, PaymentOverpaid, PaymentExpired, PaymentCancelled, PaymentFailed},
		PaymentPending:   {PaymentUnderpaid, PaymentPaid, PaymentOverpaid, PaymentExpired, PaymentCancelled},
		PaymentUnderpaid: {PaymentPaid, PaymentOverpaid, PaymentExpired, PaymentCancelled},
		// A verified larger amount reported after the payment counted as
		// paid (StreamPay's callback after its status API).
		PaymentPaid:     {PaymentOverpaid},
		PaymentOverpaid: {},
		// Late payments.
		PaymentExpired:   {PaymentUnderpaid, PaymentPaid, PaymentOverpaid},
		PaymentCancelled: {PaymentUnderpaid, PaymentPaid, PaymentOverpaid},
		// Creation failed at our end, but the gateway made the invoice and
		// it was paid: the money counts.
		PaymentFailed: {PaymentUnderpaid, PaymentPaid, PaymentOverpaid},
	}
	for _, from := range allStatuses {
		want := map[PaymentStatus]bool{}
		for _, to := range allowed[from] {
			want[to] = true
		}
		for _, to := range allStatuses {
			t.Run(fmt.Sprintf("%s->%s", from, to), func(t *testing.T) {
				if got := from.CanMove(to); got != want[to] {
					t.Errorf("CanMove(%s -> %s) = %v, want %v", from, to, got, want[to])
				}
			})
		}
	}
}

func TestStatusPredicates(t *testing.T) {
	tests := []struct {
		status                      PaymentStatus
		live, settled, final, money bool
	}{
		{PaymentCreating, true, false, false, false},
		{PaymentPending, true, false, false, false},
		{PaymentUnderpaid, true, false, false, true},
		{PaymentPaid, false, true, true, true},
		{PaymentOverpaid, false, true, true, true},
		{PaymentExpired, false, false, false, false},
		{PaymentCancelled, false, false, false, false},
		{PaymentFailed, false, false, true, false},
	}
	for _, tc := range tests {
		t.Run(string(tc.status), func(t *testing.T) {
			s := tc.status
			if s.Live() != tc.live || s.Settled() != tc.settled || s.Final() != tc.final || s.Money() != tc.money {
				t.Errorf("live %v settled %v final %v money %v; want %v %v %v %v",
					s.Live(), s.Settled(), s.Final(), s.Money(), tc.live, tc.settled, tc.final, tc.money)
			}
		})
	}
}

func TestApplyDue(t *testing.T) {
	for _, s := range allStatuses {
		for _, applied := range append([]PaymentStatus{""}, allStatuses...) {
			p := Payment{Status: s, AppliedStatus: applied}
			want := s != applied && s != PaymentCreating && s != PaymentPending && s != PaymentFailed
			if got := p.ApplyDue(); got != want {
				t.Errorf("status %s applied %q: ApplyDue = %v, want %v", s, applied, got, want)
			}
		}
	}
}
