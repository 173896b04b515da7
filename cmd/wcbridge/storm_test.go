package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/woo/wootest"
)

// The callback storm (docs/BENCHMARKS.md): N orders, each with a paid
// StreamPay payment, are completed by N genuine signed callbacks sent at
// concurrency C to the real `wcbridge serve` binary running in its own
// process. In the same run, the floor: the least writing that makes an
// order paid, per order one transaction of SELECT ... FOR UPDATE on
// wc_orders, UPDATE wc_orders, UPDATE wc_order_operational_data, INSERT the
// note into comments, UPDATE the payment row, COMMIT, issued by a bare loop
// at the same concurrency on the same database, with no HTTP. Each line
// reports both and their ratio.
// When the database server runs on this machine, its CPU time per callback
// and per floor transaction are reported too: on shared cores, that is
// what bounds the ratio.
// A second, smaller storm through a counting proxy gives the database round
// trips, statements and write commits per callback, and the commits split
// at the last answer: those while the callbacks arrived (per callback) and
// those after (the last applies and notifications, in all).
// WCBRIDGE_BENCH_SIDECAR_ENV gives the sidecar settings to compare.
//
//	WCBRIDGE_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/' go test -run '^$' -bench 'Storm' -benchtime 400x ./cmd/wcbridge/
func BenchmarkStorm(b *testing.B) {
	requireBenchDB(b)
	bin := wcbridgeBinary(b)
	for _, c := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			if b.N == 1 {
				return // the testing package's probe run; the storm needs -benchtime Nx
			}
			b.StopTimer()
			floor := stormFloor(b, c)
			counted := stormSidecar(b, bin, c, min(b.N, 200), true)
			run := stormSidecar(b, bin, c, b.N, false)
			b.ReportMetric(run.paidPerSec, "orders_paid/s")
			b.ReportMetric(floor.perSec, "floor_orders/s")
			b.ReportMetric(run.paidPerSec/floor.perSec, "ratio_to_floor")
			b.ReportMetric(run.answeredPerSec, "answered/s")
			reportLatency(b, "answer", run.answer)
			reportLatency(b, "paid", run.paid)
			reportLatency(b, "floor_tx", floor.lat)
			b.ReportMetric(counted.roundTrips, "round_trips/cb")
			b.ReportMetric(counted.statements, "statements/cb")
			b.ReportMetric(counted.commits, "commits/cb")
			b.ReportMetric(counted.streamCommits, "commits_while_arriving/cb")
			b.ReportMetric(counted.tailCommits, "commits_after_last_cb")
			b.ReportMetric(floor.roundTrips, "floor_round_trips/tx")
			b.ReportMetric(floor.commits, "floor_commits/tx")
			b.ReportMetric(run.sidecarCPU, "sidecar_cpu_ms/cb")
			if run.dbCPU >= 0 && floor.dbCPU >= 0 {
				b.ReportMetric(run.dbCPU, "db_cpu_ms/cb")
				b.ReportMetric(floor.dbCPU, "floor_db_cpu_ms/tx")
			}
			b.ReportMetric(run.idleMB, "rss_idle_MB")
			b.ReportMetric(run.peakMB, "rss_peak_MB")
			b.ReportMetric(float64(run.resent), "callbacks_resent")
		})
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

// dbServerPID is the process of the database server db reaches when it
// runs on this machine (a loopback address whose server's pid file is
// readable here), so the storm can tell the database's CPU from the
// sidecar's; 0 when it cannot.
func dbServerPID(ctx context.Context, db *sql.DB, dsn string) int {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil || cfg.Net != "tcp" {
		return 0
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil || (host != "localhost" && !net.ParseIP(host).IsLoopback()) {
		return 0
	}
	var file string
	if err := db.QueryRowContext(ctx, "SELECT @@pid_file").Scan(&file); err != nil {
		return 0
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		return 0
	}
	return pid
}

// perOp is a CPU time spread over n operations, in ms; -1 without a
// process to read it from.
func perOp(pid int, cpu time.Duration, n int) float64 {
	if pid == 0 {
		return -1
	}
	return float64(cpu.Microseconds()) / 1000 / float64(n)
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

type stormResult struct {
	paidPerSec, answeredPerSec      float64
	answer, paid                    []time.Duration
	roundTrips, statements, commits float64 // per callback, counted runs only
	streamCommits                   float64 // per callback, until the last answer
	tailCommits                     float64 // after the last answer, in all
	sidecarCPU                      float64 // ms per callback
	dbCPU                           float64 // the database server's, ms per callback; -1: not on this machine
	idleMB, peakMB                  float64
	resent                          int // callbacks sent again after a 503 or 429
}

// stormSidecar sends n genuine callbacks at concurrency conc to a fresh
// `wcbridge serve` process and waits until every order is paid. Counted
// runs reach the database through a sqlCounter and report only its figures.
func stormSidecar(b *testing.B, bin string, conc, n int, counted bool) stormResult {
	h := newHarness(b)
	ids, bodies := paidOrders(b, h, n)
	dsn := h.woo.DSN
	var counter *sqlCounter
	if counted {
		counter = newSQLCounter(b, dsn)
		dsn = counter.dsn
	}
	addr := freeAddr(b)
	env := append(append([]string{}, h.env...), "WCBRIDGE_DATABASE_DSN="+dsn, "WCBRIDGE_DATABASE_MAX_OPEN_CONNS=20",
		"WCBRIDGE_RECONCILE_INTERVAL=100ms", "WCBRIDGE_SERVER_LISTEN="+addr, "WCBRIDGE_LOG_LEVEL=warn")
	// Settings to compare, e.g. WCBRIDGE_WORKERS_APPLY_WRITERS=2: KEY=VALUE
	// pairs separated by spaces, given to the sidecar after the above.
	env = append(env, strings.Fields(os.Getenv("WCBRIDGE_BENCH_SIDECAR_ENV"))...)
	p := startProcess(b, bin, addr, env, &logBuffer{})
	pid := p.cmd.Process.Pid
	idle, _ := rssKB(pid)
	var c0 [3]int64
	if counted {
		time.Sleep(300 * time.Millisecond) // let start-up work settle
		c0 = counter.snapshot()
	}
	cpu0 := cpuTime(pid)
	dbPID := dbServerPID(context.Background(), h.woo.DB.DB, h.woo.DSN)
	db0 := cpuTime(dbPID)
	if !counted {
		b.StartTimer()
	}
	start := time.Now()
	answer, retried := sendCallbacks(b, addr, bodies, conc)
	answered := time.Since(start)
	var cLast [3]int64 // at the last answer
	if counted {
		cLast = counter.snapshot()
	}
	paidAt, peakDuring := waitOrders(b, h, ids, pid, 3*time.Minute)
	if !counted {
		b.StopTimer()
	}
	r := stormResult{answer: answer, resent: retried}
	all := paidAt.Sub(start)
	r.paidPerSec = float64(n) / all.Seconds()
	r.answeredPerSec = float64(n) / answered.Seconds()
	r.sidecarCPU = perOp(pid, cpuTime(pid)-cpu0, n)
	r.dbCPU = perOp(dbPID, cpuTime(dbPID)-db0, n)
	// Time from receipt to the order being paid, as the sidecar recorded it.
	for _, row := range h.woo.Rows(b, "SELECT TIMESTAMPDIFF(MICROSECOND, received_at, applied_at) AS us FROM {p}wcbridge_callbacks") {
		us, _ := strconv.ParseInt(row["us"], 10, 64)
		r.paid = append(r.paid, time.Duration(us)*time.Microsecond)
	}
	_, peak := rssKB(pid)
	r.idleMB, r.peakMB = float64(idle)/1024, float64(max(peak, peakDuring))/1024
	if counted {
		// The notifications are part of each callback's cost: wait for them.
		waitNotified(b, h.wp, n, time.Minute, nil)
		time.Sleep(200 * time.Millisecond)
		c1 := counter.snapshot()
		// The background loops' own queries (ticks every 100ms) are counted
		// in an idle stretch of the same length and taken off.
		idleFor := time.Since(start)
		i0 := counter.snapshot()
		time.Sleep(idleFor)
		i1 := counter.snapshot()
		per := func(k int) float64 { return float64((c1[k]-c0[k])-(i1[k]-i0[k])) / float64(n) }
		r.roundTrips, r.statements, r.commits = per(0), per(1), per(2)
		// The same split at the last answer: the commits made while the
		// callbacks arrived, per callback, and those after (the last
		// applies and the delivery of the last notifications), per storm.
		idle := float64(i1[2]-i0[2]) / idleFor.Seconds()
		stream := float64(cLast[2]-c0[2]) - idle*answered.Seconds()
		r.streamCommits = stream / float64(n)
		r.tailCommits = r.commits*float64(n) - stream
	}
	p.kill()
	return r
}

type floorResult struct {
	perSec              float64
	lat                 []time.Duration
	roundTrips, commits float64
	dbCPU               float64 // the database server's, ms per transaction; -1: not on this machine
}

// stormFloor is the floor: per order one transaction of the writes that
// make an order paid (and its payment row), issued by a bare loop at
// concurrency conc with the sidecar's own connection settings, straight to
// the database. A
// few more orders done the same way through a sqlCounter check its round
// trips and commits.
func stormFloor(b *testing.B, conc int) floorResult {
	h := newHarness(b)
	ctx := context.Background()
	const countedJobs = 20
	n := b.N
	jobs := pendingPayments(b, h, "floor", n+countedJobs)
	pay := func(db *sql.DB, j pendingPayment) error {
		return commitTx(ctx, db, func(tx *sql.Tx) error { return floorWrites(ctx, tx, j) })
	}
	db, err := openDB(ctx, h.woo.DSN, conc+2)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	dbPID := dbServerPID(ctx, db, h.woo.DSN)
	db0 := cpuTime(dbPID)
	start := time.Now()
	lat := concurrently(b, n, conc, func(i int) error { return pay(db, jobs[i]) })
	all := time.Since(start)
	dbCPU := perOp(dbPID, cpuTime(dbPID)-db0, n)

	counter := newSQLCounter(b, h.woo.DSN)
	cdb, err := openDB(ctx, counter.dsn, 2)
	if err != nil {
		b.Fatal(err)
	}
	defer cdb.Close()
	c0 := counter.snapshot()
	concurrently(b, countedJobs, 1, func(i int) error { return pay(cdb, jobs[n+i]) })
	c1 := counter.snapshot()
	return floorResult{perSec: float64(n) / all.Seconds(), lat: lat, dbCPU: dbCPU,
		roundTrips: float64(c1[0]-c0[0]) / countedJobs, commits: float64(c1[2]-c0[2]) / countedJobs}
}

// commitTx runs fn in a transaction of db and commits it; a failure rolls
// it back.
func commitTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// floorWrites are the floor's writes for one order, in tx.
func floorWrites(ctx context.Context, tx *sql.Tx, j pendingPayment) error {
	at := time.Now().UTC()
	ts := at.Format("2006-01-02 15:04:05")
	var status string
	if err := tx.QueryRowContext(ctx, "SELECT status FROM wp_wc_orders WHERE id = ? FOR UPDATE", j.orderID).Scan(&status); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE wp_wc_orders SET status = 'wc-processing', transaction_id = ?, date_updated_gmt = ? WHERE id = ?",
		fmt.Sprintf("floor-%d", j.paymentID), ts, j.orderID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE wp_wc_order_operational_data SET date_paid_gmt = ? WHERE order_id = ?", ts, j.orderID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO wp_comments (comment_post_ID, comment_author, comment_author_email,
 comment_author_url, comment_author_IP, comment_date, comment_date_gmt, comment_content, comment_karma, comment_approved,
 comment_agent, comment_type, comment_parent, user_id) VALUES (?, 'WooCommerce', 'woocommerce@shop.test', '', '', ?, ?, ?, 0, '1', 'WooCommerce', 'order_note', 0, 0)`,
		j.orderID, ts, ts, "Payment of 25.00 USD received via StreamPay (payment floor). Order status changed from Pending payment to Processing."); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "UPDATE wp_wcbridge_payments SET status = 'paid', applied_status = 'paid', received = '25.00', received_currency = 'USD', updated_at = ?, due = 0, live_order_id = NULL WHERE id = ?",
		at.Format("2006-01-02 15:04:05.000000"), j.paymentID)
	return err
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

// pendingPayment is an order of 25.00 USD with a pending StreamPay payment.
type pendingPayment struct {
	orderID, paymentID int64
	gatewayID          string
}

// pendingPayments stops h's sidecar (the caller drives the work) and
// creates n orders, each with a pending StreamPay payment named
// prefix-<i> that no poll looks at for an hour.
func pendingPayments(tb testing.TB, h *harness, prefix string, n int) []pendingPayment {
	tb.Helper()
	h.sidecars[0].cancel()
	<-h.sidecars[0].done
	app := h.sidecars[0].app
	now := time.Now().UTC()
	ps := make([]pendingPayment, n)
	for i := range ps {
		id, _ := h.order("streampay", usd("25.00"))
		p, err := app.Store.CreatePayment(context.Background(), &bridge.Payment{OrderID: id, Gateway: "streampay", GatewayID: fmt.Sprintf("%s-%d", prefix, i),
			OrderRef: fmt.Sprintf("%s-ref-%d", prefix, i), Status: bridge.PaymentPending,
			Amount: bridge.Money{Amount: mustDec("25.00"), Currency: "USD"}, ExpiresAt: now.Add(time.Hour), NextCheckAt: now.Add(time.Hour)})
		if err != nil {
			tb.Fatal(err)
		}
		ps[i] = pendingPayment{orderID: id, paymentID: p.ID, gatewayID: p.GatewayID}
	}
	return ps
}

// TestDBServerPID: the storm reads the database server's CPU only from a
// server the DSN reaches on this machine, and then from that server.
func TestDBServerPID(t *testing.T) {
	wootest.RequireReal(t, "the server's own pid file")
	db := wootest.Open(t)
	ctx := context.Background()
	for _, dsn := range []string{"root@tcp(db.example.com:3306)/", "root@tcp(10.1.2.3:3306)/", "root@unix(/run/mysqld/mysqld.sock)/", "::not a dsn"} {
		if pid := dbServerPID(ctx, db.DB, dsn); pid != 0 {
			t.Errorf("dbServerPID(%q) = %d, want 0", dsn, pid)
		}
	}
	if perOp(0, time.Second, 10) != -1 || perOp(1, time.Second, 10) != 100 {
		t.Errorf("perOp: got %v and %v, want -1 and 100", perOp(0, time.Second, 10), perOp(1, time.Second, 10))
	}
	// On loopback (as in CI) the test database's pid is a database
	// server's; elsewhere there is none to read.
	pid := dbServerPID(ctx, db.DB, db.DSN)
	cfg, _ := mysql.ParseDSN(db.DSN)
	host, _, _ := net.SplitHostPort(cfg.Addr)
	if host != "localhost" && !net.ParseIP(host).IsLoopback() {
		if pid != 0 {
			t.Errorf("dbServerPID(%q) = %d for a server elsewhere, want 0", db.DSN, pid)
		}
		return
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if name := strings.TrimSpace(string(comm)); err != nil || (name != "mariadbd" && name != "mysqld") {
		t.Errorf("dbServerPID(%q) = %d, a %q (%v); want the local server's process", db.DSN, pid, name, err)
	}
}
