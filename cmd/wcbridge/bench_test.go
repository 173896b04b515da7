package main

import (
	"bytes"
	"context"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay"
)

// BenchmarkCheckout compares a checkout through the sidecar (signed plugin
// request, order read, payment row, gateway call, payment update) with the
// gateway call alone, against the same StreamPay simulator:
//
//	WCBRIDGE_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/' go test -run '^$' -bench Checkout -benchtime 300x ./cmd/wcbridge/
func BenchmarkCheckout(b *testing.B) {
	h := newHarness(b)
	b.Run("simulator-only", func(b *testing.B) {
		sp := streampay.DefaultSimulatorConfig()
		c, err := streampay.New(streampay.Config{ClientID: sp.ClientIDs[0], SecretKey: sp.SecretKey,
			CreateURL: h.sims.URLs["streampay"] + "/api/v1", StatusURL: h.sims.URLs["streampay"] + "/api/v1"}, gateway.Options{})
		if err != nil {
			b.Fatal(err)
		}
		req := bridge.CreatePaymentRequest{OrderID: 1, Reference: "bench", Amount: bridge.Money{Amount: decimal.RequireFromString("25.00"), Currency: "USD"},
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
		reportPercentiles(b, lat)
	})
}

// BenchmarkCallbacks posts one genuine, signed StreamPay callback per paid
// order at concurrency 8 and waits until every order is processing: the
// callbacks' answer latency and the end-to-end rate (verify, record,
// confirm with the status API, apply to the order, queue the notification).
//
//	WCBRIDGE_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/' go test -run '^$' -bench Callbacks -benchtime 400x ./cmd/wcbridge/
func BenchmarkCallbacks(b *testing.B) {
	h := newHarness(b)
	h.sims.StreamPay.SetCallbackURL("http://127.0.0.1:1/nowhere") // ours alone
	type cb struct {
		id   int64
		body []byte
	}
	cbs := make([]cb, b.N)
	for i := range cbs {
		id, key := h.order("streampay", usd("25.00"))
		gid := gatewayPaymentID(h.checkout(id, key, "streampay"))
		if err := h.sims.StreamPay.PayExact(gid); err != nil {
			b.Fatal(err)
		}
		_, body := genuineCallback(b, h, "streampay", gid)
		cbs[i] = cb{id, body}
	}
	url := h.sidecars[0].url + "/v1/callbacks/streampay"
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(cbs) {
					return
				}
				t0 := time.Now()
				resp, err := http.Post(url, "application/json", bytes.NewReader(cbs[i].body))
				if err != nil {
					b.Error(err)
					return
				}
				resp.Body.Close()
				lat[i] = time.Since(t0)
				if resp.StatusCode != http.StatusOK {
					b.Errorf("callback answered %d", resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	answered := time.Since(start)
	for _, c := range cbs {
		for h.orderStatus(c.id) != bridge.StatusProcessing {
			if time.Since(start) > 2*time.Minute {
				b.Fatalf("order %d not processing after 2 minutes", c.id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	all := time.Since(start)
	b.StopTimer()
	reportPercentiles(b, lat)
	b.ReportMetric(float64(b.N)/answered.Seconds(), "answered/s")
	b.ReportMetric(float64(b.N)/all.Seconds(), "orders_paid/s")
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	s := append([]time.Duration(nil), lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	pct := func(p float64) float64 { return float64(s[int(p*float64(len(s)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.5), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
}
