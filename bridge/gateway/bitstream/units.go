package bitstream

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/shopspring/decimal"
)

// ToUnits converts a token amount to the API's integer units,
// amount × 10^scale, rounded up where the amount has more decimals than the
// scale: the shop is never underpaid by rounding (Copperx's plugin rounds up
// "to avoid underpaid payments" too). Amounts that are not positive are
// refused.
func ToUnits(amount decimal.Decimal, scale int) (*big.Int, error) {
	if scale < 0 || scale > maxUnitDecimals {
		return nil, fmt.Errorf("unit scale %d out of range", scale)
	}
	if amount.Sign() <= 0 {
		return nil, fmt.Errorf("amount %s is not positive", amount)
	}
	// amount = coef × 10^exp, so units = coef × 10^(exp+scale).
	coef := amount.Coefficient()
	shift := int64(amount.Exponent()) + int64(scale)
	ten := big.NewInt(10)
	if shift >= 0 {
		return coef.Mul(coef, new(big.Int).Exp(ten, big.NewInt(shift), nil)), nil
	}
	div := new(big.Int).Exp(ten, big.NewInt(-shift), nil)
	q, r := new(big.Int).QuoRem(coef, div, new(big.Int))
	if r.Sign() != 0 {
		q.Add(q, big.NewInt(1)) // positive amounts: up is away from zero
	}
	return q, nil
}

// FromUnits converts integer units back to a token amount.
func FromUnits(units *big.Int, scale int) decimal.Decimal {
	return decimal.NewFromBigInt(units, int32(-scale))
}

// parseUnits reads an integer string of units; empty (JSON null) means zero.
// Signs, decimal points and exponents are refused.
func parseUnits(s string) (*big.Int, error) {
	if s == "" {
		return new(big.Int), nil
	}
	if len(s) > 80 || strings.TrimLeft(s, "0123456789") != "" {
		return nil, fmt.Errorf("amount %q is not an integer string", truncate(s, 40))
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("amount %q is not an integer string", truncate(s, 40))
	}
	return n, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
