package main

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay/streampaysim"
)

// BenchmarkCheckout compares a checkout through the sidecar (signed plugin
// request, order read, payment row, gateway call, payment update) with the
// gateway call alone, against the same StreamPay simulator:
//
//	WCBRIDGE_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/' go test -run '^$' -bench Checkout -benchtime 300x ./cmd/wcbridge/
func BenchmarkCheckout(b *testing.B) {
	requireBenchDB(b)
	h := newHarness(b)
	b.Run("simulator-only", func(b *testing.B) {
		sp := streampaysim.DefaultConfig()
		c, err := streampay.New(streampay.Config{ClientID: sp.ClientIDs[0], SecretKey: sp.SecretKey,
			CreateURL: h.sims.URLs["streampay"] + "/api/v1", StatusURL: h.sims.URLs["streampay"] + "/api/v1"}, gateway.Options{})
		if err != nil {
			b.Fatal(err)
		}
		req := bridge.CreatePaymentRequest{OrderID: 1, OrderRef: "bench", Amount: bridge.Money{Amount: decimal.RequireFromString("25.00"), Currency: "USD"},
			ReturnURL: "http://shop.test/r", CancelURL: "http://shop.test/c", Lifetime: time.Hour}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := c.CreatePayment(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sidecar", func(b *testing.B) {
		ids, keys := make([]int64, b.N), make([]string, b.N)
		for i := range ids {
			ids[i], keys[i] = h.order("streampay", usd("25.00"))
		}
		lat := make([]time.Duration, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			h.checkout(ids[i], keys[i], "streampay")
			lat[i] = time.Since(start)
		}
		b.StopTimer()
		reportLatency(b, "checkout", lat)
	})
}
