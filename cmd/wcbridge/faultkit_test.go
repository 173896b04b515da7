package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway/bitstream/bitstreamsim"
	"github.com/wcbridge/wcbridge/bridge/gateway/cryptocloud/cryptocloudsim"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay/streampaysim"
)

// faultCounts tallies what the fault and abuse suite did, for
// docs/RELIABILITY.md: run with -v and the totals are logged at the end of
// each test.
var faultCounts struct {
	callbacks  atomic.Int64 // callbacks posted by the tests themselves
	duplicates atomic.Int64 // of which byte-for-byte duplicates
	kills      atomic.Int64 // sidecars killed with SIGKILL
	outages    atomic.Int64 // database outages
	badInputs  atomic.Int64 // hostile requests sent
}

// configuredSecrets is every secret a suite sidecar is configured with.
func configuredSecrets(extra ...string) []string {
	sp, cc, bs := streampaysim.DefaultConfig(), cryptocloudsim.DefaultConfig(), bitstreamsim.DefaultConfig()
	return append([]string{testSecret, testKey, sp.SecretKey, cc.APIKey, cc.SecretKey, bs.APIKey, bs.WebhookSecret}, extra...)
}

// assertNoSecrets fails when any configured secret appears in logs.
func assertNoSecrets(t testing.TB, what, logs string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if i := strings.Index(logs, s); i >= 0 {
			start := max(0, strings.LastIndex(logs[:i], "\n")+1)
			end := strings.Index(logs[i:], "\n")
			if end < 0 {
				end = len(logs) - i
			}
			line := logs[start : i+end]
			t.Errorf("%s: a configured secret (%d chars, starting %q) appears in the log line: %s", what, len(s), s[:min(4, len(s))], strings.ReplaceAll(line, s, "<SECRET>"))
		}
	}
}

// newFaultHarness is newHarness whose sidecars' logs are checked for
// secrets when the test ends, after every sidecar has stopped.
func newFaultHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	h := newHarness(t, opts...)
	t.Cleanup(func() {
		for _, sc := range h.sidecars {
			sc.cancel()
			<-sc.done
		}
		if strings.TrimSpace(h.logs.String()) == "" {
			t.Errorf("the sidecars logged nothing: the secrets check would prove nothing")
		}
		assertNoSecrets(t, "sidecar logs", h.logs.String(), configuredSecrets())
		t.Logf("suite so far: %d callbacks posted by tests (%d duplicates), %d SIGKILLs, %d database outages, %d hostile requests",
			faultCounts.callbacks.Load(), faultCounts.duplicates.Load(), faultCounts.kills.Load(), faultCounts.outages.Load(), faultCounts.badInputs.Load())
	})
	return h
}

// post sends body to url and returns the status code and the answer.
func post(t testing.TB, url, contentType string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// storm posts body n times at once and returns the status codes.
func storm(t testing.TB, url, contentType string, body []byte, n int) []int {
	t.Helper()
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			resp, err := http.Post(url, contentType, bytes.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}(i)
	}
	wg.Wait()
	faultCounts.callbacks.Add(int64(n))
	faultCounts.duplicates.Add(int64(n - 1))
	return codes
}

// dbSnapshot is what a rejected request must not change: row counts of the
// sidecar's and WooCommerce's tables and every order's status.
type dbSnapshot struct {
	counts   map[string]int
	statuses map[string]string
	settings string
}

func (h *harness) snapshot() dbSnapshot {
	h.t.Helper()
	s := dbSnapshot{counts: map[string]int{}, statuses: map[string]string{}}
	for name, q := range map[string][2]string{
		"payments":           {"wcbridge_payments", "1=1"},
		"verified callbacks": {"wcbridge_callbacks", "verified = 1"},
		"callbacks":          {"wcbridge_callbacks", "1=1"},
		"outbox":             {"wcbridge_outbox", "1=1"},
		"comments":           {"comments", "1=1"},
		"posts":              {"posts", "1=1"},
		"postmeta":           {"postmeta", "1=1"},
		"orders":             {"wc_orders", "1=1"},
		"orders meta":        {"wc_orders_meta", "1=1"},
		"options":            {"options", "1=1"},
		"settings":           {"wcbridge_settings", "1=1"},
	} {
		s.counts[name] = h.woo.Count(h.t, q[0], q[1])
	}
	for _, r := range h.woo.Rows(h.t, "SELECT id, status FROM {p}wc_orders ORDER BY id") {
		s.statuses[r["id"]] = r["status"]
	}
	var b strings.Builder
	for _, r := range h.woo.Rows(h.t, "SELECT name, value FROM {p}wcbridge_settings ORDER BY name") {
		fmt.Fprintf(&b, "%s=%s\n", r["name"], r["value"])
	}
	s.settings = b.String()
	return s
}

// diff describes how s2 differs from s ("" when equal).
func (s dbSnapshot) diff(s2 dbSnapshot) string {
	var out []string
	for k, v := range s.counts {
		if s2.counts[k] != v {
			out = append(out, fmt.Sprintf("%s rows %d -> %d", k, v, s2.counts[k]))
		}
	}
	for k, v := range s.statuses {
		if s2.statuses[k] != v {
			out = append(out, fmt.Sprintf("order %s status %s -> %s", k, v, s2.statuses[k]))
		}
	}
	if len(s2.statuses) != len(s.statuses) {
		out = append(out, fmt.Sprintf("%d orders -> %d", len(s.statuses), len(s2.statuses)))
	}
	if s.settings != s2.settings {
		out = append(out, fmt.Sprintf("settings %q -> %q", s.settings, s2.settings))
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// settledInvariants asserts, for orders expected to be paid, what the issue
// asks after every fault: processing or completed, exactly one payment note,
// one settled payment, nothing stuck, and each WordPress notification
// delivered once per event id. With redelivery allowed (a fault struck
// between WordPress's answer and the outbox recording it) an event may
// arrive twice, which the plugin ignores by event id; it must still arrive.
func (h *harness) settledInvariants(ids []int64, allowRedelivery bool) {
	h.t.Helper()
	// The work settles with every outcome recorded on its payment, every
	// verified callback finished and every notification delivered: wait
	// for that (a loaded machine takes a while), then check everything.
	settled := func() bool {
		return h.woo.Count(h.t, "wcbridge_payments", "status NOT IN ('creating', 'pending', 'failed') AND applied_status <> status") == 0 &&
			h.woo.Count(h.t, "wcbridge_callbacks", "verified = 1 AND applied_at IS NULL") == 0 &&
			h.woo.Count(h.t, "wcbridge_outbox", "delivered_at IS NULL") == 0
	}
	for deadline := time.Now().Add(45 * time.Second); !settled() && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	for _, id := range ids {
		st := h.orderStatus(id)
		if st != bridge.StatusProcessing && st != bridge.StatusCompleted {
			h.t.Errorf("order %d is %s, want processing/completed; notes %q", id, st, h.notes(id))
			continue
		}
		notes := h.notes(id)
		payNotes := 0
		for _, n := range notes {
			if strings.Contains(n, "received via") || strings.Contains(n, "Overpayment") {
				payNotes++
			}
		}
		if payNotes != 1 || len(notes) != 1 {
			h.t.Errorf("order %d: %d notes (%d payment notes), want exactly 1: %q", id, len(notes), payNotes, notes)
		}
		if n := h.woo.Count(h.t, "wcbridge_payments", "order_id = ? AND status IN ('paid','overpaid')", id); n != 1 {
			h.t.Errorf("order %d: %d settled payments, want 1", id, n)
		}
		if n := h.woo.Count(h.t, "wcbridge_payments", "order_id = ? AND applied_status <> status AND status <> 'failed'", id); n != 0 {
			h.t.Errorf("order %d: %d payments whose outcome is not applied (stuck)", id, n)
		}
	}
	// Nothing stuck anywhere: no payment left creating or leased forever, no
	// callback unfinished, no notification undelivered.
	if n := h.woo.Count(h.t, "wcbridge_payments", "status = 'creating'"); n != 0 {
		h.t.Errorf("%d payments stuck in creating", n)
	}
	// A callback whose processing a fault interrupted is taken up again by a
	// sweep once its in-flight grace (15 s) or its retry time has passed.
	unfinished := func() []map[string]string {
		return h.woo.Rows(h.t, "SELECT id, gateway, reason, attempts FROM {p}wcbridge_callbacks WHERE verified = 1 AND applied_at IS NULL")
	}
	for deadline := time.Now().Add(25 * time.Second); len(unfinished()) > 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if rows := unfinished(); len(rows) != 0 {
		h.t.Errorf("%d verified callbacks never finished: %v", len(rows), rows)
	}
	if n := h.woo.Count(h.t, "wcbridge_payments", "due = 1 AND next_check_at < UTC_TIMESTAMP(6) - INTERVAL 5 SECOND AND (lease_until IS NULL OR lease_until < UTC_TIMESTAMP(6))"); n != 0 {
		h.t.Errorf("%d payments overdue for a check and not leased (the reconciler stopped looking)", n)
	}
	if n := h.woo.Count(h.t, "wcbridge_outbox", "delivered_at IS NULL"); n != 0 {
		h.t.Errorf("%d notifications undelivered", n)
	}
	h.wp.mu.Lock()
	defer h.wp.mu.Unlock()
	for ev, n := range h.wp.events {
		if n > 1 && allowRedelivery {
			h.t.Logf("notification %s delivered %d times (a fault hit between delivery and its record)", ev, n)
		} else if n != 1 {
			h.t.Errorf("notification %s delivered %d times, want once", ev, n)
		}
	}
	if want := h.woo.Count(h.t, "wcbridge_outbox", "1=1"); len(h.wp.events) != want {
		h.t.Errorf("%d distinct notifications reached WordPress, the outbox holds %d", len(h.wp.events), want)
	}
}

// waitAll waits until every order has one of the statuses.
func (h *harness) waitAll(ids []int64, within time.Duration, statuses ...string) {
	h.t.Helper()
	stuck := func() []int64 {
		var out []int64
		for _, id := range ids {
			st := h.orderStatus(id)
			ok := false
			for _, want := range statuses {
				ok = ok || st == want
			}
			if !ok {
				out = append(out, id)
			}
		}
		return out
	}
	deadline := time.Now().Add(within)
	for {
		left := stuck()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Errorf("after %v, %d of %d orders have not reached %v:", within, len(left), len(ids), statuses)
			for _, id := range left {
				h.t.Errorf("  order %d is %s; its payments: %v", id, h.orderStatus(id), h.woo.Rows(h.t,
					"SELECT id, gateway, gateway_id, status, applied_status, checks, next_check_at, lease_owner, lease_until, last_error FROM {p}wcbridge_payments WHERE order_id = ?", id))
			}
			if n := h.woo.Count(h.t, "wcbridge_payments", "due = 1 AND next_check_at < UTC_TIMESTAMP(6) AND lease_until > UTC_TIMESTAMP(6)"); n > 0 {
				h.t.Errorf("%d payments are due for a check but still leased by a reconciler pass that has ended: "+
					"the reconciler did not release its lease after a look, "+
					"so a due payment waits for the lease to run out", n)
			}
			h.t.Errorf("unfinished callbacks: %v", h.woo.Rows(h.t, "SELECT id, gateway, payment_key, attempts, next_attempt_at, lease_owner, lease_until, reason FROM {p}wcbridge_callbacks WHERE verified = 1 AND applied_at IS NULL"))
			h.t.Errorf("now (UTC): %s", time.Now().UTC().Format("2006-01-02 15:04:05.000"))
			h.t.FailNow()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitCallbacks waits until every verified callback was processed.
func (h *harness) waitCallbacks(within time.Duration) {
	h.t.Helper()
	waitFor(h.t, "every verified callback to be processed", within, func() bool {
		return h.woo.Count(h.t, "wcbridge_callbacks", "verified = 1 AND applied_at IS NULL") == 0
	})
}

// waitDelivered waits until every outcome that reached a payment is
// recorded as applied (which queues its notification) and WordPress
// received every queued notification. An order's status changes before its
// payment's outcome is recorded, so an empty outbox alone may only mean
// that the notification is not queued yet.
func (h *harness) waitDelivered(within time.Duration) {
	h.t.Helper()
	waitFor(h.t, "every outcome recorded and every notification to reach WordPress", within, func() bool {
		return h.woo.Count(h.t, "wcbridge_payments", "status NOT IN ('creating', 'pending', 'failed') AND applied_status <> status") == 0 &&
			h.woo.Count(h.t, "wcbridge_outbox", "delivered_at IS NULL") == 0
	})
}

// --- the real binary, as a subprocess

var (
	binaryOnce   sync.Once
	binaryPath   string
	binaryErr    error
	binaryDir    string
	binarySource string    // the checkout and commit it was built from
	sourceOnce   sync.Once // a benchmark's output says it once
)

// wcbridgeBinary builds the production binary once per test process, from
// the package in the working directory: a test binary run from another
// checkout builds that checkout's sidecar. A benchmark's output says which
// (buildSource).
func wcbridgeBinary(t testing.TB) string {
	t.Helper()
	binaryOnce.Do(func() {
		binaryDir, binaryErr = os.MkdirTemp("", "wcbridge-fault-")
		if binaryErr != nil {
			return
		}
		binaryPath = filepath.Join(binaryDir, "wcbridge")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", binaryPath, ".").CombinedOutput()
		if err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
		binarySource = buildSource(ctx)
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	if _, ok := t.(*testing.B); ok {
		sourceOnce.Do(func() { fmt.Printf("sidecar: built from %s\n", binarySource) })
	}
	return binaryPath
}

// buildSource names the checkout the sidecar is built from and its commit
// ("-dirty" with uncommitted changes), so that a comparison of two builds
// shows it compared two.
func buildSource(ctx context.Context) string {
	dir, _ := os.Getwd()
	rev, err := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty", "--abbrev=12").Output()
	if err != nil {
		return dir + " (not a git checkout)"
	}
	return dir + " at " + strings.TrimSpace(string(rev))
}

// process is a `wcbridge serve` subprocess; its stderr (the logs) is kept
// across restarts.
type process struct {
	t      testing.TB
	bin    string
	env    []string
	addr   string
	cmd    *exec.Cmd
	stderr *logBuffer
	done   chan struct{}
}

func startProcess(t testing.TB, bin, addr string, env []string, logs *logBuffer) *process {
	t.Helper()
	p := &process{t: t, bin: bin, env: env, addr: addr, stderr: logs}
	p.start()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *process) start() {
	p.t.Helper()
	cmd := exec.Command(p.bin, "serve")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, p.env...)
	cmd.Stdout = p.stderr
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(p.done)
	waitFor(p.t, "the sidecar process to answer /healthz", 20*time.Second, func() bool {
		select {
		case <-p.done:
			p.t.Fatalf("wcbridge serve exited: %s", p.stderr.String())
		default:
		}
		resp, err := http.Get("http://" + p.addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *process) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}
