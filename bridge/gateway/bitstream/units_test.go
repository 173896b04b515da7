package bitstream

import (
	"errors"
	"math/big"
	"testing"
)

func TestToUnits(t *testing.T) {
	tests := []struct {
		name     string
		amount   string
		decimals int
		want     string // "" means an error is expected
		prec     bool   // the error is ErrPrecision
	}{
		{"one usdc", "1", 6, "1000000", false},
		{"cents", "25.99", 6, "25990000", false},
		{"full precision", "0.000001", 6, "1", false},
		{"trailing zeros beyond scale", "1.50000000", 6, "1500000", false},
		{"documented example at 8", "1", 8, "100000000", false},
		{"eighteen decimals", "0.123456789012345678", 18, "123456789012345678", false},
		{"large total", "123456789012.34", 18, "123456789012340000000000000000", false},
		{"zero decimals", "42", 0, "42", false},
		{"needs rounding", "0.0000001", 6, "", true},
		{"needs rounding at 0", "1.5", 0, "", true},
		{"zero", "0", 6, "", false},
		{"negative", "-1", 6, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ToUnits(dec(tt.amount), tt.decimals)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ToUnits(%s, %d) = %s, want error", tt.amount, tt.decimals, got)
				}
				if tt.prec != errors.Is(err, ErrPrecision) {
					t.Fatalf("ToUnits(%s, %d) error %v, ErrPrecision want %v", tt.amount, tt.decimals, err, tt.prec)
				}
				return
			}
			if err != nil {
				t.Fatalf("ToUnits(%s, %d): %v", tt.amount, tt.decimals, err)
			}
			if got.String() != tt.want {
				t.Fatalf("ToUnits(%s, %d) = %s, want %s", tt.amount, tt.decimals, got, tt.want)
			}
			if back := FromUnits(got, tt.decimals); !back.Equal(dec(tt.amount)) {
				t.Fatalf("FromUnits(%s) = %s, want %s", got, back, tt.amount)
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
