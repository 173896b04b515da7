package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The forged-callback flood (docs/RELIABILITY.md): 100,000 forged StreamPay
// callbacks (signed with the wrong secret, naming a real payment) sent at
// concurrency 256 to the real `wcbridge serve` binary, while a plugin reads
// an order's payment state with signed requests, one after the other. In
// the same run, the baseline: the same signed requests with no flood. It
// reports how much the shop's database grew and the signed requests'
// latency during the flood against the baseline.
//
// Two cases: the default rate limit (every forgery comes from one address,
// so nearly all are answered 429 before they are read) and no rate limit
// (every forgery is read, verified and refused: what a botnet of many
// addresses gets).
//
//	WCBRIDGE_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/' go test -run '^$' -bench 'ForgedFlood' -benchtime 1x ./cmd/wcbridge/
//
// WCBRIDGE_BENCH_FORGED (default 100000) and WCBRIDGE_BENCH_CONC (256)
// change the flood.
func BenchmarkForgedFlood(b *testing.B) {
	requireBenchDB(b)
	bin := wcbridgeBinary(b)
	n, conc := envInt("WCBRIDGE_BENCH_FORGED", 100000), envInt("WCBRIDGE_BENCH_CONC", 256)
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"rate_limited", nil},
		{"no_rate_limit", []string{"WCBRIDGE_SERVER_CALLBACK_RATE_LIMIT=0"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				forgedFlood(b, bin, n, conc, tc.env)
			}
		})
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// dbBytes is the size of every table of the test database, as InnoDB counts
// it after fresh statistics (data, indexes and free space kept).
func dbBytes(b *testing.B, h *harness) int64 {
	b.Helper()
	var tables []string
	for _, r := range h.woo.Rows(b, "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()") {
		tables = append(tables, r["table_name"])
	}
	for _, t := range tables {
		h.woo.Exec(b, "ANALYZE TABLE `"+t+"`")
	}
	var n int64
	if err := h.woo.DB.DB.QueryRow("SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

func forgedFlood(b *testing.B, bin string, n, conc int, extraEnv []string) {
	b.StopTimer()
	h := newHarness(b)
	id, key := h.order("streampay", usd("25.00"))
	gid := gatewayPaymentID(h.checkout(id, key, "streampay"))
	h.sidecars[0].cancel() // only the binary works from here on
	<-h.sidecars[0].done
	forged := forgedCallbacks(b, gid, "ABCD1234")["streampay"][1]

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	// The harness turns the callback rate limit off for its storms: the
	// defaults apply here unless the case says otherwise.
	env := append(append([]string{}, h.env...), "WCBRIDGE_SERVER_CALLBACK_RATE_LIMIT=10", "WCBRIDGE_SERVER_CALLBACK_BURST=40",
		"WCBRIDGE_DATABASE_MAX_OPEN_CONNS=20", "WCBRIDGE_SERVER_LISTEN="+addr, "WCBRIDGE_LOG_LEVEL=info")
	env = append(env, extraEnv...)
	var logs logBuffer
	p := startProcess(b, bin, addr, env, &logs)
	base := "http://" + addr
	client := &pluginClient{t: b, base: base, secret: []byte(testSecret)}
	read := func() time.Duration {
		t0 := time.Now()
		if status, body := client.do("GET", "/v1/orders/"+itoa(id)+"/payment", nil); status != http.StatusOK {
			b.Fatalf("signed read: %d %v", status, body)
		}
		return time.Since(t0)
	}
	// Baseline: 300 signed reads, one after the other, nothing else going on.
	var baseline []time.Duration
	for range 300 {
		baseline = append(baseline, read())
	}
	size0, rows0 := dbBytes(b, h), h.woo.Count(b, "wcbridge_callbacks", "1=1")
	cpu0 := cpuTime(p.cmd.Process.Pid)

	// The flood, with the signed reads going on beside it.
	var during []time.Duration
	var mu sync.Mutex
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			d := read()
			mu.Lock()
			during = append(during, d)
			mu.Unlock()
		}
	}()
	// The flood comes from a process of its own, as an attacker's would:
	// the signed reads are not queued behind its goroutines here.
	b.StartTimer()
	start := time.Now()
	counts := floodFromProcess(b, base+"/v1/callbacks/streampay", forged, n, conc)
	took := time.Since(start)
	b.StopTimer()
	close(stop)
	<-readerDone
	cpu := cpuTime(p.cmd.Process.Pid) - cpu0
	_, peak := rssKB(p.cmd.Process.Pid)
	size1, rows1 := dbBytes(b, h), h.woo.Count(b, "wcbridge_callbacks", "1=1")
	p.kill()

	if got := counts[401] + counts[429]; got != n {
		b.Errorf("%d of %d forgeries answered 401 or 429: %v", got, n, counts)
	}
	if rows1 != rows0 {
		b.Errorf("callbacks table: %d rows before the flood, %d after", rows0, rows1)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	p50 := func(l []time.Duration) time.Duration { return percentile(l, 50) }
	b.ReportMetric(float64(n)/took.Seconds(), "forged/s")
	b.ReportMetric(float64(counts[429]), "answered_429")
	b.ReportMetric(float64(counts[401]), "answered_401")
	b.ReportMetric(float64(size1-size0)/(1<<20), "db_growth_MB")
	b.ReportMetric(float64(rows1-rows0), "callback_rows_added")
	b.ReportMetric(ms(p50(baseline)), "signed_baseline_p50_ms")
	b.ReportMetric(ms(p50(during)), "signed_flood_p50_ms")
	b.ReportMetric(ms(percentile(during, 95)), "signed_flood_p95_ms")
	b.ReportMetric(float64(p50(during))/float64(p50(baseline)), "signed_p50_ratio")
	b.ReportMetric(float64(len(during)), "signed_during")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "sidecar_cpu_us/forged")
	b.ReportMetric(float64(peak)/1024, "rss_peak_MB")
	b.ReportMetric(float64(bytes.Count([]byte(logs.String()), []byte("callbacks rejected"))), "log_lines")
	if size1-size0 >= 1<<20 {
		b.Errorf("the database grew by %d bytes during %d forgeries", size1-size0, n)
	}
	b.Logf("%s: %d forgeries in %v (%v): db %+d bytes, signed reads p50 %v → %v (%d during)", b.Name(), n, took.Round(time.Millisecond),
		fmt.Sprintf("401: %d, 429: %d", counts[401], counts[429]), size1-size0, p50(baseline), p50(during), len(during))
}

// percentile returns the q-th percentile of l.
func percentile(l []time.Duration, q int) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*q/100]
}

// floodFromProcess runs the flood in a child process (this test binary,
// TestFloodHelperProcess) and returns how many answers had each status.
func floodFromProcess(b *testing.B, url, body string, n, conc int) map[int]int {
	b.Helper()
	// At the lowest priority: an attacker's machines are not the shop's,
	// and on one small machine the flood's own client would otherwise take
	// the CPU the sidecar and the database need.
	args := []string{os.Args[0], "-test.run=^TestFloodHelperProcess$", "-test.count=1"}
	if nice, err := exec.LookPath("nice"); err == nil {
		args = append([]string{nice, "-n", "19"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "WCBRIDGE_FLOOD_HELPER=1", "WCBRIDGE_FLOOD_URL="+url, "WCBRIDGE_FLOOD_BODY="+body,
		fmt.Sprintf("WCBRIDGE_FLOOD_N=%d", n), fmt.Sprintf("WCBRIDGE_FLOOD_CONC=%d", conc))
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("flood process: %v\n%s", err, out)
	}
	var counts map[int]int
	i := bytes.Index(out, []byte("FLOOD "))
	if i < 0 {
		b.Fatalf("flood process said: %s", out)
	}
	line := out[i+len("FLOOD "):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	if err := json.Unmarshal(line, &counts); err != nil {
		b.Fatalf("flood process answer %q: %v", line, err)
	}
	return counts
}

// TestFloodHelperProcess is the flood's own process when
// WCBRIDGE_FLOOD_HELPER is set (BenchmarkForgedFlood starts it); otherwise
// it has nothing to do.
func TestFloodHelperProcess(t *testing.T) {
	if os.Getenv("WCBRIDGE_FLOOD_HELPER") != "1" {
		return
	}
	url, body := os.Getenv("WCBRIDGE_FLOOD_URL"), []byte(os.Getenv("WCBRIDGE_FLOOD_BODY"))
	n, conc := envInt("WCBRIDGE_FLOOD_N", 1000), envInt("WCBRIDGE_FLOOD_CONC", 16)
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var mu sync.Mutex
	counts := map[int]int{}
	concurrently(t, n, conc, func(int) error {
		resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		mu.Lock()
		counts[resp.StatusCode]++
		mu.Unlock()
		return nil
	})
	out, _ := json.Marshal(counts)
	fmt.Printf("FLOOD %s\n", out)
}
