package bitstream

import (
	"math/big"
	"testing"

	"github.com/shopspring/decimal"
)

func TestToUnits(t *testing.T) {
	tests := []struct {
		name   string
		amount string
		scale  int
		want   string // "" means an error is expected
	}{
		{"documented example: 1 usdc at 8", "1", 8, "100000000"},
		{"cents", "25.99", 8, "2599000000"},
		{"full precision", "0.00000001", 8, "1"},
		{"trailing zeros beyond scale", "1.5000000000", 8, "150000000"},
		{"a legacy scale", "25.99", 6, "25990000"},
		{"large total", "123456789012.34", 18, "123456789012340000000000000000"},
		{"rounded up: a tenth of a unit", "0.000000001", 8, "1"},
		{"rounded up: nine tenths of a unit", "1.000000009", 8, "100000001"},
		{"rounded up at scale 0", "1.5", 0, "2"},
		{"zero", "0", 8, ""},
		{"negative", "-1", 8, ""},
		{"scale out of range", "1", 37, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ToUnits(dec(tt.amount), tt.scale)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ToUnits(%s, %d) = %s, want error", tt.amount, tt.scale, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ToUnits(%s, %d): %v", tt.amount, tt.scale, err)
			}
			if got.String() != tt.want {
				t.Fatalf("ToUnits(%s, %d) = %s, want %s", tt.amount, tt.scale, got, tt.want)
			}
			back := FromUnits(got, tt.scale)
			if back.LessThan(dec(tt.amount)) || back.Sub(dec(tt.amount)).GreaterThanOrEqual(decimal.New(1, int32(-tt.scale))) {
				t.Fatalf("FromUnits(%s) = %s: want at least %s and less than one unit more", got, back, tt.amount)
			}
		})
	}
}

func TestParseUnits(t *testing.T) {
	good := map[string]string{"": "0", "0": "0", "100000000": "100000000", "000123": "123",
		"123456789012345678901234567890": "123456789012345678901234567890"}
	for in, want := range good {
		n, err := parseUnits(in)
		if err != nil || n.String() != want {
			t.Errorf("parseUnits(%q) = %v, %v; want %s", in, n, err, want)
		}
	}
	for _, in := range []string{"-1", "+1", "1.5", "1e6", " 1", "0x10", "1_000", "١٢"} {
		if n, err := parseUnits(in); err == nil {
			t.Errorf("parseUnits(%q) = %v, want error", in, n)
		}
	}
	if _, err := parseUnits(new(big.Int).Exp(big.NewInt(10), big.NewInt(100), nil).String()); err == nil {
		t.Error("parseUnits accepted a 101-digit amount")
	}
}
