package main

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// reconcileBase is the pass time at 100,000 payments, measured first in the
// same run: the 1,000,000 line reports itself against it.
var reconcileBase float64

// BenchmarkReconcile measures one reconcile pass (claim a batch of 100 due
// payments, read their state from CryptoCloud's batch status API, write each
// payment's next check) with 100,000 and then 1,000,000 non-final payments
// in the table, most of them not due yet, the way a shop's history builds
// up. The 1,000,000 line carries the 100,000 figure of the same run as its
// baseline: the pass must cost what the traffic costs, not what the history
// does. Then it runs an idle tick (nothing due anywhere: the callback sweep,
// the reconciler and the outbox) on a sidecar with a single database
// connection and reads that session's Handler_read_* counters, which count
// every index entry and row the server read for it; the benchmark fails if an
// idle tick reads more than a handful, or if EXPLAIN shows a full scan.
//
//	WCBRIDGE_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/' go test -run '^$' -bench Reconcile -benchtime 20x ./cmd/wcbridge/
func BenchmarkReconcile(b *testing.B) {
	requireBenchDB(b)
	for _, total := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("payments=%dk", total/1000), func(b *testing.B) {
			if b.N == 1 {
				return // the testing package's probe run; the benchmark needs -benchtime Nx
			}
			b.StopTimer()
			reconcileAt(b, total)
		})
	}
}

// idleTickRowsMax is what an idle tick may read: a few index probes that
// find nothing, whatever the size of the tables.
const idleTickRowsMax = 20

func reconcileAt(b *testing.B, total int) {
	h := newHarness(b)
	h.sidecars[0].cancel() // the passes are driven by hand
	<-h.sidecars[0].done
	ctx := context.Background()
	// Sidecars with the production pacing: a payment looked at is not due
	// again for a while, so what a pass handled stays handled.
	sidecar := func(env ...string) *App {
		cfg, err := LoadConfig("", append(append([]string{}, h.env...), env...))
		if err != nil {
			b.Fatal(err)
		}
		app, err := NewApp(ctx, cfg, AppOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { app.Close() })
		return app
	}
	svc := sidecar().Service

	const extra = 200 // due payments left for the counted passes
	due := b.N*100 + extra
	seedPayments(b, h, total, due)
	h.woo.Exec(b, "ANALYZE TABLE {p}wcbridge_payments")

	b.StartTimer()
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
	ms := float64(b.Elapsed().Microseconds()) / 1000 / float64(b.N)
	b.ReportMetric(ms, "ms/pass")
	b.ReportMetric(float64(handled)/b.Elapsed().Seconds(), "payments/s")
	if total == 100_000 {
		reconcileBase = ms
	} else if reconcileBase > 0 {
		b.ReportMetric(reconcileBase, "ms/pass_at_100k")
		b.ReportMetric(ms/reconcileBase, "ratio_to_100k")
	}

	// A sidecar on one connection, through a counter: the session's own
	// Handler_read_* counters and round trips, per pass and per idle tick.
	counter := newSQLCounter(b, h.woo.DSN)
	one := sidecar("WCBRIDGE_DATABASE_DSN="+counter.dsn, "WCBRIDGE_DATABASE_MAX_OPEN_CONNS=1")
	reads := func() int64 { return handlerReads(b, one.db) }
	// SHOW STATUS reads its own rows: measured, then taken off.
	r0 := reads()
	showCost := reads() - r0

	r0, c0 := reads(), counter.snapshot()
	for range extra / 100 {
		if n, err := one.Service.Reconcile(ctx, 100); err != nil || n != 100 {
			b.Fatalf("counted pass handled %d payments (%v), want 100", n, err)
		}
	}
	r1, c1 := reads(), counter.snapshot()
	passes := float64(extra / 100)
	b.ReportMetric(float64(r1-r0-showCost)/passes, "rows_read/pass")
	b.ReportMetric(float64(c1[0]-c0[0]-1)/passes, "round_trips/pass")

	// The first statements of a new session on each table read the table's
	// definition and statistics, which the session's Handler_read_* count
	// too (about 50 for the sweep's and the outbox's tables): once per
	// connection, not per tick. One tick first, so the measured one is what
	// every later idle tick costs.
	one.Service.Tick(ctx, 100)
	r0, c0 = reads(), counter.snapshot()
	one.Service.Tick(ctx, 100)
	r1, c1 = reads(), counter.snapshot()
	idle := r1 - r0 - showCost
	b.ReportMetric(float64(idle), "idle_tick_rows_read")
	b.ReportMetric(float64(c1[0]-c0[0]-1), "idle_tick_round_trips")
	if idle > idleTickRowsMax {
		b.Errorf("an idle tick read %d rows at %d payments, want at most %d", idle, total, idleTickRowsMax)
	}
	explainIdle(b, h)
}

// seedPayments inserts total pending CryptoCloud payments, due of them
// overdue at spread times over the last hour and the others due at spread
// times over the next day, with MariaDB's sequence engine (seq_1_to_N) where
// it is there, else in batches from here.
func seedPayments(b *testing.B, h *harness, total, due int) {
	b.Helper()
	ctx := context.Background()
	const chunk = 100_000
	cols := "order_id, gateway, gateway_id, reference, status, amount, currency, expires_at, created_at, updated_at, next_check_at, due, live_order_id"
	for start := 0; start < total; start += chunk {
		end := min(start+chunk, total)
		_, err := h.woo.DB.ExecContext(ctx, "INSERT INTO wp_wcbridge_payments ("+cols+") SELECT 1000000 + seq, 'cryptocloud', CONCAT('INV-', LPAD(seq, 8, '0')), CONCAT('scale-', seq), 'pending', 25, 'USD', "+
			"UTC_TIMESTAMP(6) + INTERVAL 1 HOUR, UTC_TIMESTAMP(6) - INTERVAL 1 HOUR, UTC_TIMESTAMP(6), "+
			"IF(seq <= ?, UTC_TIMESTAMP(6) - INTERVAL (seq MOD 3600) SECOND, UTC_TIMESTAMP(6) + INTERVAL 60 + (seq MOD 86400) SECOND), 1, 1000000 + seq "+
			fmt.Sprintf("FROM seq_%d_to_%d", start+1, end), due)
		if err == nil {
			continue
		}
		if start > 0 || !strings.Contains(err.Error(), "seq_") {
			b.Fatal(err)
		}
		seedPaymentsSlowly(b, h, total, due)
		return
	}
}

func seedPaymentsSlowly(b *testing.B, h *harness, total, due int) {
	ctx := context.Background()
	now := time.Now().UTC()
	for start := 0; start < total; start += 1000 {
		var sb strings.Builder
		args := []any{}
		sb.WriteString("INSERT INTO wp_wcbridge_payments (order_id, gateway, gateway_id, reference, status, amount, currency, expires_at, created_at, updated_at, next_check_at, due, live_order_id) VALUES ")
		for i := start + 1; i <= min(start+1000, total); i++ {
			if i > start+1 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, 'cryptocloud', ?, ?, 'pending', '25.00', 'USD', ?, ?, ?, ?, 1, ?)")
			next := now.Add(-time.Duration(i%3600) * time.Second)
			if i > due {
				next = now.Add(time.Minute + time.Duration(i%86400)*time.Second)
			}
			args = append(args, 1_000_000+i, fmt.Sprintf("INV-%08d", i), fmt.Sprintf("scale-%d", i), now.Add(time.Hour), now.Add(-time.Hour), now, next, 1_000_000+i)
		}
		if _, err := h.woo.DB.ExecContext(ctx, sb.String(), args...); err != nil {
			b.Fatal(err)
		}
	}
}

// handlerReads is the session's rows and index entries read so far: the sum
// of its Handler_read_* counters.
func handlerReads(tb testing.TB, db *sql.DB) int64 {
	tb.Helper()
	rows, err := db.Query("SHOW SESSION STATUS LIKE 'Handler_read%'")
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var sum int64
	for rows.Next() {
		var name, v string
		if err := rows.Scan(&name, &v); err != nil {
			tb.Fatal(err)
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		sum += n
	}
	return sum
}

// explainIdle checks the plans of what an idle tick asks: every one reads
// through an index, none scans a table.
func explainIdle(b *testing.B, h *harness) {
	now := time.Now().UTC()
	for name, q := range map[string]string{
		"due payments":      "SELECT id FROM {p}wcbridge_payments WHERE due = 1 AND next_check_at <= ? AND (lease_until IS NULL OR lease_until <= UTC_TIMESTAMP(6)) ORDER BY next_check_at, id LIMIT 100",
		"due callbacks":     "SELECT id FROM {p}wcbridge_callbacks WHERE verified = 1 AND applied_at IS NULL AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= UTC_TIMESTAMP(6)) ORDER BY next_attempt_at, id LIMIT 100",
		"due notifications": "SELECT id FROM {p}wcbridge_outbox WHERE delivered_at IS NULL AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= UTC_TIMESTAMP(6)) ORDER BY next_attempt_at, id LIMIT 100",
	} {
		plan := h.woo.Rows(b, "EXPLAIN "+q, now)
		for _, p := range plan {
			if p["type"] == "ALL" || p["key"] == "" || p["key"] == "NULL" {
				b.Errorf("EXPLAIN %s: full scan: %v", name, plan)
			}
		}
		if len(plan) > 0 {
			b.Logf("EXPLAIN %s: type=%s key=%s rows=%s extra=%s", name, plan[0]["type"], plan[0]["key"], plan[0]["rows"], plan[0]["Extra"])
		}
	}
}
