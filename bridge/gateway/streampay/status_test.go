package streampay

import (
	"testing"

	"github.com/wcbridge/wcbridge/bridge"
)

func TestMapStatus(t *testing.T) {
	tests := []struct {
		in   string
		want bridge.PaymentStatus
		ok   bool
	}{
		{"pending", bridge.PaymentPending, true},
		{"completed", bridge.PaymentPaid, true},
		{"ERR_CALLBACK", bridge.PaymentPaid, true},
		{"not_found", bridge.PaymentExpired, true},
		{"", "", false},
		{"Completed", "", false},
		{"partial", "", false},
		{"canceled", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := MapStatus(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("MapStatus(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}
