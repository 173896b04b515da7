package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
)

// The callback storm (docs/BENCHMARKS.md): N orders, each with a paid
// StreamPay payment, are completed by N genuine signed callbacks sent at
// concurrency C to the real `wcbridge serve` binary running in its own
// process. In the same run, the floor: the same database writes per
// callback issued by a bare loop at the same concurrency, with no HTTP, no
// verification and no confirmation call.
//
//	WCBRIDGE_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/' go test -run '^$' -bench 'Storm' -benchtime 400x ./cmd/wcbridge/
func BenchmarkStorm(b *testing.B) {
	bin := wcbridgeBinary(b)
	for _, c := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("c=%d/sidecar", c), func(b *testing.B) { stormSidecar(b, bin, c) })
		b.Run(fmt.Sprintf("c=%d/floor", c), func(b *testing.B) { stormFloor(b, c) })
	}
}

// rssKB reads a process's resident memory (current and peak) in KiB.
func rssKB(pid int) (cur, peak int) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 {
			continue
		}
		n, _ := strconv.Atoi(fields[1])
		switch fields[0] {
		case "VmRSS:":
			cur = n
		case "VmHWM:":
			peak = n
		}
	}
	return cur, peak
}

// cpuTime is a process's user+system CPU time so far (Linux /proc).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start at ") ".
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// mariadbPID finds a local MariaDB/MySQL server's process, if any.
func mariadbPID() int {
	for _, name := range []string{"mariadbd", "mysqld"} {
		if out, err := exec.Command("pidof", name).Output(); err == nil {
			if pid, err := strconv.Atoi(strings.Fields(string(out))[0]); err == nil {
				return pid
			}
		}
	}
	return 0
}

// questions is the server's count of statements received (all sessions).
func questions(tb testing.TB, db *sql.DB) int64 {
	var name string
	var n int64
	if err := db.QueryRow("SHOW GLOBAL STATUS LIKE 'Questions'").Scan(&name, &n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func stormSidecar(b *testing.B, bin string, conc int) {
	h := newHarness(b)
	// The in-process sidecar prepares the orders; the storm goes to the
	// binary, on the same database. The simulators' own callbacks are off.
	h.sims.StreamPay.SetCallbackURL("")
	bodies := make([][]byte, b.N)
	ids := make([]int64, b.N)
	gids := make([]string, b.N)
	for i := range ids {
		id, key := h.order("streampay", usd("25.00"))
		ids[i], gids[i] = id, gatewayPaymentID(h.checkout(id, key, "streampay"))
	}
	h.sidecars[0].cancel() // only the binary works from here on
	<-h.sidecars[0].done
	// The storm measures callbacks: no poll may pay an order first.
	h.woo.Exec(b, "UPDATE {p}wcbridge_payments SET next_check_at = '2100-01-01 00:00:00'")
	for i, gid := range gids {
		if err := h.sims.StreamPay.PayExact(gid); err != nil {
			b.Fatal(err)
		}
		_, bodies[i] = genuineCallback(b, h, "streampay", gid)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env := append(append([]string{}, h.env...), "WCBRIDGE_DATABASE_MAX_OPEN_CONNS=20", "WCBRIDGE_RECONCILE_INTERVAL=100ms", "WCBRIDGE_SERVER_LISTEN="+addr, "WCBRIDGE_LOG_LEVEL=warn")
	p := startProcess(b, bin, addr, env, &logBuffer{})
	for _, id := range ids {
		if s := h.orderStatus(id); s != bridge.StatusPending {
			b.Fatalf("order %d is %s before the storm", id, s)
		}
	}
	idle, _ := rssKB(p.cmd.Process.Pid)

	url := "http://" + addr + "/v1/callbacks/streampay"
	q0 := questions(b, h.woo.DB.DB)
	dbPID := mariadbPID()
	cpu0 := [3]time.Duration{cpuTime(p.cmd.Process.Pid), cpuTime(os.Getpid()), cpuTime(dbPID)}
	b.ResetTimer()
	start := time.Now()
	lat := concurrently(b, len(bodies), conc, func(i int) error {
		resp, err := http.Post(url, "application/json", bytes.NewReader(bodies[i]))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("callback answered %d", resp.StatusCode)
		}
		return nil
	})
	answered := time.Since(start)
	polls := 0
	var peakDuring int
	for {
		polls++
		if cur, _ := rssKB(p.cmd.Process.Pid); cur > peakDuring {
			peakDuring = cur
		}
		if h.woo.Count(b, "wcbridge_callbacks", "applied_at IS NOT NULL") == b.N {
			break
		}
		if time.Since(start) > 3*time.Minute {
			b.Fatalf("not all callbacks applied after 3 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	all := time.Since(start)
	b.StopTimer()
	perCB := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(perCB(cpuTime(p.cmd.Process.Pid)-cpu0[0]), "sidecar_cpu_ms/cb")
	b.ReportMetric(perCB(cpuTime(os.Getpid())-cpu0[1]), "loadgen+sims_cpu_ms/cb")
	if dbPID != 0 {
		b.ReportMetric(perCB(cpuTime(dbPID)-cpu0[2]), "db_cpu_ms/cb")
	}
	rt := float64(questions(b, h.woo.DB.DB)-q0-int64(polls)-1) / float64(b.N)
	for _, id := range ids {
		if s := h.orderStatus(id); s != bridge.StatusProcessing {
			b.Fatalf("order %d is %s after the storm", id, s)
		}
	}
	// Time from receipt to the order being paid, as the sidecar recorded it.
	var apply []time.Duration
	for _, r := range h.woo.Rows(b, "SELECT TIMESTAMPDIFF(MICROSECOND, received_at, applied_at) AS us FROM {p}wcbridge_callbacks") {
		us, _ := strconv.ParseInt(r["us"], 10, 64)
		apply = append(apply, time.Duration(us)*time.Microsecond)
	}
	_, peak := rssKB(p.cmd.Process.Pid)
	reportLatency(b, "answer", lat)
	reportLatency(b, "paid", apply)
	b.ReportMetric(float64(b.N)/all.Seconds(), "orders_paid/s")
	b.ReportMetric(float64(b.N)/answered.Seconds(), "answered/s")
	b.ReportMetric(rt, "queries/callback")
	b.ReportMetric(float64(idle)/1024, "rss_idle_MB")
	b.ReportMetric(float64(max(peak, peakDuring))/1024, "rss_peak_MB")
}

// stormFloor issues, per callback, the writes the sidecar makes — record
// the callback, move the payment, apply the order, mark the payment applied
// with its notification, finish the callback — from a bare loop at the same
// concurrency: no HTTP, no signature, no confirmation call, no reads beyond
// the locks the writes take.
func stormFloor(b *testing.B, conc int) {
	h := newHarness(b)
	h.sidecars[0].cancel()
	<-h.sidecars[0].done
	app := h.sidecars[0].app
	ctx := context.Background()
	type job struct {
		orderID int64
		payment *bridge.Payment
		body    []byte
	}
	jobs := make([]job, b.N)
	for i := range jobs {
		id, _ := h.order("streampay", usd("25.00"))
		p, err := app.Store.CreatePayment(ctx, &bridge.Payment{OrderID: id, Gateway: "streampay", GatewayID: fmt.Sprintf("floor-%d", i),
			Reference: fmt.Sprintf("floor-ref-%d", i), Status: bridge.PaymentPending,
			Amount: bridge.Money{Amount: mustDec("25.00"), Currency: "USD"}, ExpiresAt: time.Now().Add(time.Hour), NextCheckAt: time.Now().Add(time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		jobs[i] = job{orderID: id, payment: p, body: []byte(fmt.Sprintf(`{"payment_id":"floor-%d","n":%d}`, i, i))}
	}
	q0 := questions(b, h.woo.DB.DB)
	dbPID := mariadbPID()
	dbCPU := cpuTime(dbPID)
	b.ResetTimer()
	start := time.Now()
	lat := concurrently(b, len(jobs), conc, func(i int) error {
		j := jobs[i]
		cb, _, err := app.Store.RecordCallback(ctx, &bridge.Callback{Gateway: "streampay", Body: j.body, Verified: true, PaymentKey: j.payment.GatewayID})
		if err != nil {
			return err
		}
		if _, err = app.Store.UpdatePayment(ctx, j.payment.ID, func(p *bridge.Payment) (*bridge.Notification, error) {
			p.Status, p.Received, p.TxRef = bridge.PaymentPaid, p.Amount, "tx"
			return nil, nil
		}); err != nil {
			return err
		}
		res, err := app.Woo.ApplyOrder(ctx, bridge.OrderUpdate{OrderID: j.orderID, Outcome: bridge.OutcomePaid,
			EventID: fmt.Sprintf("wcbridge:%d:paid", j.payment.ID), PaymentMethod: "wcbridge_streampay", TransactionID: "tx",
			Note: "Payment of 25 USD received via StreamPay.", Meta: map[string]string{"_wcbridge_gateway": "streampay",
				"_wcbridge_payment_id": j.payment.GatewayID, "_wcbridge_payment_status": "paid", "_wcbridge_amount": "25",
				"_wcbridge_currency": "USD", "_wcbridge_received": "25", "_wcbridge_tx_ref": "tx"}})
		if err != nil {
			return err
		}
		if _, err = app.Store.UpdatePayment(ctx, j.payment.ID, func(p *bridge.Payment) (*bridge.Notification, error) {
			p.AppliedStatus = bridge.PaymentPaid
			return &bridge.Notification{EventID: fmt.Sprintf("wcbridge:%d:paid", p.ID), OrderID: p.OrderID,
				Payload: []byte(fmt.Sprintf(`{"to":%q}`, res.To)), NextAttempt: time.Now()}, nil
		}); err != nil {
			return err
		}
		return app.Store.FinishCallback(ctx, cb.ID, "", "applied", true, time.Time{})
	})
	all := time.Since(start)
	b.StopTimer()
	if dbPID != 0 {
		b.ReportMetric(float64((cpuTime(dbPID)-dbCPU).Microseconds())/1000/float64(b.N), "db_cpu_ms/cb")
	}
	rt := float64(questions(b, h.woo.DB.DB)-q0-1) / float64(b.N)
	reportLatency(b, "paid", lat)
	b.ReportMetric(float64(b.N)/all.Seconds(), "orders_paid/s")
	b.ReportMetric(rt, "queries/callback")
}

// concurrently runs fn for 0..n-1 on conc goroutines and returns each
// call's duration; a failure fails tb.
func concurrently(tb testing.TB, n, conc int, fn func(i int) error) []time.Duration {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := fn(i); err != nil {
					tb.Error(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	return lat
}

func reportLatency(b *testing.B, what string, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	s := append([]time.Duration(nil), lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(s[len(s)/2]), what+"_p50_ms")
	b.ReportMetric(ms(s[(len(s)*99)/100]), what+"_p99_ms")
	b.ReportMetric(ms(s[len(s)-1]), what+"_max_ms")
}

func mustDec(s string) decimal.Decimal { return decimal.RequireFromString(s) }
