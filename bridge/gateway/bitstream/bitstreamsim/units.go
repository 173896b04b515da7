package bitstreamsim

import (
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/shopspring/decimal"
)

// fromUnits is units × 10^-scale.
func fromUnits(units *big.Int, scale int) decimal.Decimal {
	return decimal.NewFromBigInt(units, int32(-scale))
}

// parseUnits reads an integer string of units; signs, decimal points and
// exponents are refused.
func parseUnits(s string) (*big.Int, error) {
	if s == "" || len(s) > 80 || strings.TrimLeft(s, "0123456789") != "" {
		return nil, fmt.Errorf("amount %q is not an integer string", s)
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("amount %q is not an integer string", s)
	}
	return n, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
