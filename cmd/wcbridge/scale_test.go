package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkReconcile100k measures one reconcile pass (claim a batch of 100
// due payments, read their state from CryptoCloud's batch status API, write
// each payment's next check) with 100,000 non-final payments in the table,
// and checks with EXPLAIN that the claim uses the (due, next_check_at) index.
//
//	WCBRIDGE_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/' go test -run '^$' -bench Reconcile100k -benchtime 20x ./cmd/wcbridge/
func BenchmarkReconcile100k(b *testing.B) {
	h := newHarness(b)
	h.sidecars[0].cancel() // the pass is driven by hand
	<-h.sidecars[0].done
	svc := h.sidecars[0].app.Service
	ctx := context.Background()

	const total = 100_000
	now := time.Now().UTC()
	for start := 0; start < total; start += 1000 {
		var sb strings.Builder
		args := []any{}
		sb.WriteString("INSERT INTO wp_wcbridge_payments (order_id, gateway, gateway_id, reference, status, amount, currency, expires_at, created_at, updated_at, next_check_at, due, live_order_id) VALUES ")
		for i := start; i < start+1000; i++ {
			if i > start {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, 'cryptocloud', ?, ?, 'pending', '25.00', 'USD', ?, ?, ?, ?, 1, ?)")
			due := now.Add(-time.Duration(i%3600) * time.Second)
			args = append(args, 1_000_000+i, fmt.Sprintf("INV-%08d", i), fmt.Sprintf("scale-%d", i), now.Add(time.Hour), now.Add(-time.Hour), now, due, 1_000_000+i)
		}
		if _, err := h.woo.DB.ExecContext(ctx, sb.String(), args...); err != nil {
			b.Fatal(err)
		}
	}
	h.woo.Exec(b, "ANALYZE TABLE {p}wcbridge_payments")

	explain := h.woo.Rows(b, "EXPLAIN SELECT id FROM {p}wcbridge_payments WHERE due = 1 AND next_check_at <= ? AND (lease_until IS NULL OR lease_until <= ?) ORDER BY next_check_at, id LIMIT 100", now, now)
	if len(explain) != 1 || explain[0]["key"] != "due_check" {
		b.Fatalf("the claim does not use the due_check index: %v", explain)
	}
	b.Logf("EXPLAIN claim: type=%s key=%s rows=%s extra=%s", explain[0]["type"], explain[0]["key"], explain[0]["rows"], explain[0]["Extra"])

	q0 := questions(b, h.woo.DB.DB)
	polls0 := h.sims.CryptoCloud.Requests("/v2/invoice/merchant/info")
	b.ResetTimer()
	handled := 0
	for i := 0; i < b.N; i++ {
		n, err := svc.Reconcile(ctx, 100)
		if err != nil {
			b.Fatal(err)
		}
		handled += n
	}
	b.StopTimer()
	if handled != 100*b.N {
		b.Fatalf("passes handled %d payments, want %d", handled, 100*b.N)
	}
	b.ReportMetric(float64(questions(b, h.woo.DB.DB)-q0-1)/float64(b.N), "queries/pass")
	b.ReportMetric(float64(h.sims.CryptoCloud.Requests("/v2/invoice/merchant/info")-polls0)/float64(b.N), "status_calls/pass")
	b.ReportMetric(float64(handled)/b.Elapsed().Seconds(), "payments/s")
}
