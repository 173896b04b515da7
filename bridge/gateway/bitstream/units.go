package bitstream

import (
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/shopspring/decimal"
)

// ErrPrecision is returned when an amount has more decimals than the token:
// it is refused rather than rounded, so the customer never pays a different
// amount than the order says.
var ErrPrecision = errors.New("amount needs more decimals than the token has")

// ToUnits converts a token amount to the token's smallest units:
// amount × 10^decimals, exactly. Amounts that are not positive, or that would
// need rounding, are refused.
func ToUnits(amount decimal.Decimal, decimals int) (*big.Int, error) {
	if decimals < 0 || decimals > maxDecimals {
		return nil, fmt.Errorf("decimals %d out of range", decimals)
	}
	if amount.Sign() <= 0 {
		return nil, fmt.Errorf("amount %s is not positive", amount)
	}
	// amount = coef × 10^exp, so units = coef × 10^(exp+decimals).
	coef := amount.Coefficient()
	shift := int64(amount.Exponent()) + int64(decimals)
	ten := big.NewInt(10)
	if shift >= 0 {
		return coef.Mul(coef, new(big.Int).Exp(ten, big.NewInt(shift), nil)), nil
	}
	div := new(big.Int).Exp(ten, big.NewInt(-shift), nil)
	q, r := new(big.Int).QuoRem(coef, div, new(big.Int))
	if r.Sign() != 0 {
		return nil, fmt.Errorf("%w: %s with %d decimals", ErrPrecision, amount, decimals)
	}
	return q, nil
}

// FromUnits converts smallest units back to a token amount.
func FromUnits(units *big.Int, decimals int) decimal.Decimal {
	return decimal.NewFromBigInt(units, int32(-decimals))
}

// parseUnits reads an integer string of smallest units; empty (JSON null)
// means zero. Signs, decimals points and exponents are refused.
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
