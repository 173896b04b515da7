package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge/gateway"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay/streampaysim"
	"github.com/wcbridge/wcbridge/bridge/pluginsig"
)

// latencyAPI and latencyWordPress are the delays the real world adds: a
// gateway's status API over the internet, and a WordPress request (a PHP
// bootstrap and the finishing of an order).
const (
	latencyAPI       = 150 * time.Millisecond
	latencyWordPress = 150 * time.Millisecond
)

// BenchmarkLatency is the pipeline at real-world latencies: N orders paid
// by N genuine callbacks sent at concurrency 8 to the real binary, whose
// StreamPay status API and WordPress each answer 150 ms late (a delaying
// proxy in front of the simulator and of the WordPress stand-in). It
// reports how fast orders are paid and finished (notified to WordPress),
// how late the last finishing comes after the last payment, and how many
// TCP connections the status calls opened.
//
// The baseline, in the same run: the same orders done the way a fixed pool
// of 8 workers does them, one status call and one notification at a time
// each, through the same two proxies with no database work at all. For
// WooCommerce's own path (payment_complete() over PHP-FPM): 7.9 orders/s
// with one client, 13.6 with four (WooCommerce 10.0.2, measured separately
// on the same kind of machine, not in this run).
//
//	WCBRIDGE_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/' go test -run '^$' -bench Latency -benchtime 400x ./cmd/wcbridge/
func BenchmarkLatency(b *testing.B) {
	requireBenchDB(b)
	if b.N == 1 {
		return // the testing package's probe run; the benchmark needs -benchtime Nx
	}
	const conc = 8
	b.StopTimer()
	bin := wcbridgeBinary(b)
	h := newHarness(b)
	ids, bodies := paidOrders(b, h, b.N)
	status := newDelayProxy(b, h.sims.URLs["streampay"], latencyAPI)
	wp := newDelayProxy(b, h.wp.srv.URL, latencyWordPress)
	addr := freeAddr(b)
	env := append(append([]string{}, h.env...), "WCBRIDGE_DATABASE_MAX_OPEN_CONNS=20", "WCBRIDGE_SERVER_LISTEN="+addr, "WCBRIDGE_LOG_LEVEL=warn",
		"WCBRIDGE_GATEWAYS_STREAMPAY_STATUS_URL="+status.URL()+"/api/v1", "WCBRIDGE_WORDPRESS_URL="+wp.URL())
	p := startProcess(b, bin, addr, env, &logBuffer{})
	pid := p.cmd.Process.Pid

	b.StartTimer()
	start := time.Now()
	answer, retried := sendCallbacks(b, addr, bodies, conc)
	paidAt, _ := waitOrders(b, h, ids, pid, 5*time.Minute)
	notifiedAt := waitNotified(b, h.wp, b.N, 5*time.Minute, nil)
	b.StopTimer()
	if n := h.wp.notifiedTwice(); n != 0 {
		b.Fatalf("%d events reached WordPress twice", n)
	}
	b.ReportMetric(float64(b.N)/paidAt.Sub(start).Seconds(), "orders_paid/s")
	b.ReportMetric(float64(retried), "callbacks_resent")
	b.ReportMetric(float64(b.N)/notifiedAt.Sub(start).Seconds(), "orders_finished/s")
	b.ReportMetric(notifiedAt.Sub(paidAt).Seconds(), "finish_lag_s")
	b.ReportMetric(float64(status.conns.Load()), "status_api_tcp_conns")
	b.ReportMetric(float64(status.requests.Load())/float64(b.N), "status_calls/order")
	b.ReportMetric(float64(wp.requests.Load())/float64(b.N), "wordpress_posts/order")
	reportLatency(b, "answer", answer)
	p.kill()

	base := latencyBaseline(b, h, status.URL(), wp.URL(), conc)
	b.ReportMetric(base, "baseline_orders/s")
	b.ReportMetric(float64(b.N)/notifiedAt.Sub(start).Seconds()/base, "finished_vs_baseline")
}

// latencyBaseline does, for b.N orders, what a pool of conc fixed workers
// each doing one order at a time costs at these latencies: one status call
// through the status proxy and one signed notification through the
// WordPress proxy per order, nothing else. It returns orders per second.
func latencyBaseline(b *testing.B, h *harness, statusURL, wpURL string, conc int) float64 {
	sp := streampaysim.DefaultConfig()
	tr := &http.Transport{MaxIdleConnsPerHost: conc}
	defer tr.CloseIdleConnections()
	c, err := streampay.New(streampay.Config{ClientID: sp.ClientIDs[0], SecretKey: sp.SecretKey,
		CreateURL: h.sims.URLs["streampay"] + "/api/v1", StatusURL: statusURL + "/api/v1"}, gateway.Options{Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	var gid string
	for _, sp := range h.sims.StreamPay.Payments() {
		gid = sp.ID
		break
	}
	client := &http.Client{Transport: tr}
	notify := wpURL + "/wp-json/wcbridge/v1/notify"
	start := time.Now()
	concurrently(b, b.N, conc, func(i int) error {
		if _, err := c.PaymentState(context.Background(), gid); err != nil {
			return err
		}
		body := fmt.Appendf(nil, `{"event_id":"baseline:%d","order_id":%d,"outcome":"note"}`, i, 1_000_000+i)
		ts, id := time.Now().Unix(), pluginsig.NewRequestID()
		req, _ := http.NewRequest(http.MethodPost, notify, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(pluginsig.HeaderTimestamp, fmt.Sprint(ts))
		req.Header.Set(pluginsig.HeaderRequestID, id)
		req.Header.Set(pluginsig.HeaderSignature, pluginsig.Signature([]byte(testSecret), ts, id, http.MethodPost, "/wp-json/wcbridge/v1/notify", body))
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("baseline notification answered %d", resp.StatusCode)
		}
		return nil
	})
	return float64(b.N) / time.Since(start).Seconds()
}
