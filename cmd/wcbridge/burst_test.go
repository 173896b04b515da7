package main

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkBurst sends N genuine callbacks at concurrency 256 to the real
// binary (5,000 is far past the 1,024 callbacks it keeps in memory: the
// rest are taken up from the database) and waits until every order is paid
// and WordPress has heard of every one. It samples the process's resident
// memory every 10 ms throughout; the baseline is the same process's
// resident memory when idle, connected and migrated, just before the burst.
//
//	WCBRIDGE_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/' go test -run '^$' -bench Burst -benchtime 5000x ./cmd/wcbridge/
func BenchmarkBurst(b *testing.B) {
	requireBenchDB(b)
	if b.N == 1 {
		return // the testing package's probe run; the benchmark needs -benchtime Nx
	}
	const conc = 256
	b.StopTimer()
	bin := wcbridgeBinary(b)
	h := newHarness(b)
	ids, bodies := paidOrders(b, h, b.N)
	addr := freeAddr(b)
	env := append(append([]string{}, h.env...), "WCBRIDGE_DATABASE_MAX_OPEN_CONNS=20", "WCBRIDGE_SERVER_LISTEN="+addr, "WCBRIDGE_LOG_LEVEL=warn",
		"WCBRIDGE_RECONCILE_INTERVAL=1s")
	p := startProcess(b, bin, addr, env, &logBuffer{})
	pid := p.cmd.Process.Pid
	time.Sleep(500 * time.Millisecond)
	idle, _ := rssKB(pid)

	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if cur, _ := rssKB(pid); int64(cur) > peak.Load() {
				peak.Store(int64(cur))
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	b.StartTimer()
	start := time.Now()
	answer, retried := sendCallbacks(b, addr, bodies, conc)
	paidAt, _ := waitOrders(b, h, ids, 0, 10*time.Minute)
	notifiedAt := waitNotified(b, h.wp, b.N, 10*time.Minute, nil)
	b.StopTimer()
	close(stop)
	wg.Wait()
	_, hwm := rssKB(pid)
	if n := h.wp.notifiedTwice(); n != 0 {
		b.Logf("%d events reached WordPress twice", n)
	}
	var paid []time.Duration
	for _, row := range h.woo.Rows(b, "SELECT TIMESTAMPDIFF(MICROSECOND, received_at, applied_at) AS us FROM {p}wcbridge_callbacks") {
		us, _ := strconv.ParseInt(row["us"], 10, 64)
		paid = append(paid, time.Duration(us)*time.Microsecond)
	}
	b.ReportMetric(float64(max(int64(hwm), peak.Load()))/1024, "rss_peak_MB")
	b.ReportMetric(float64(idle)/1024, "rss_idle_MB")
	b.ReportMetric(float64(b.N)/paidAt.Sub(start).Seconds(), "orders_paid/s")
	b.ReportMetric(float64(b.N)/notifiedAt.Sub(start).Seconds(), "orders_finished/s")
	b.ReportMetric(float64(retried), "callbacks_resent")
	reportLatency(b, "answer", answer)
	reportLatency(b, "paid", paid)
	p.kill()
}
