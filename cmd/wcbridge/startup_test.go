package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/woo/wootest"
)

func dbName(t *testing.T, dsn string) string {
	t.Helper()
	c, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return c.DBName
}

// TestServeRefusesADatabaseWithoutWooCommerce: a wrong database or prefix
// stops serve at once with the database, the prefix and what is there, and
// nothing is written.
func TestServeRefusesADatabaseWithoutWooCommerce(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, db *wootest.DB)
		want  string
	}{
		{"empty", func(*testing.T, *wootest.DB) {}, "no table wp_options; the database is empty"},
		{"other prefix", func(t *testing.T, db *wootest.DB) {
			if err := wootest.Install(ctx, db.DB, bridge.StorageHPOS, "shop7_"); err != nil {
				t.Fatal(err)
			}
		}, "no table wp_options; WooCommerce is installed there with prefix shop7_ (set database.table_prefix)"},
		{"wordpress only", func(t *testing.T, db *wootest.DB) {
			if err := wootest.Install(ctx, db.DB, bridge.StoragePosts, "wp_"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.DB.ExecContext(ctx, "DELETE FROM wp_options WHERE option_name LIKE 'woocommerce%'"); err != nil {
				t.Fatal(err)
			}
		}, "wp_options exists but has no woocommerce_version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := wootest.Open(t)
			tc.setup(t, db)
			var out, errOut syncBuffer
			env := append(baseEnv(db, "wp_"), "WCBRIDGE_SERVER_LISTEN=127.0.0.1:0")
			err := run(ctx, []string{"serve"}, env, &out, &errOut)
			if err == nil {
				t.Fatal("serve started on a database without WooCommerce")
			}
			want := fmt.Sprintf("database %q has no WooCommerce tables with prefix \"wp_\": %s", dbName(t, db.DSN), tc.want)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q\nwant it to contain %q", err, want)
			}
			var n int
			if err := db.DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE '%wcbridge%'").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("serve created %d table(s) before refusing", n)
			}
		})
	}
}

// TestReadyzFollowsTheStore: /readyz answers 503 while WooCommerce's tables
// cannot be used, logs it once, and recovers with them.
func TestReadyzFollowsTheStore(t *testing.T) {
	h := newHarness(t)
	url := h.sidecars[0].url + "/readyz"
	get := func() (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != 200 {
		t.Fatalf("readyz = %d %s, want 200", code, body)
	}
	h.woo.Exec(t, "RENAME TABLE wp_options TO wp_options_away")
	waitFor(t, "readyz to answer 503", 5*time.Second, func() bool { code, _ := get(); return code == 503 })
	if _, body := get(); !strings.Contains(body, "woocommerce tables unusable") || strings.Contains(body, "wp_options") {
		t.Errorf("503 body %s: want the failing part named and no table names", body)
	}
	if !strings.Contains(h.logs.String(), `not ready`) || !strings.Contains(h.logs.String(), "wp_options") {
		t.Errorf("the log does not say why the store is not ready:\n%s", h.logs.String())
	}
	h.woo.Exec(t, "RENAME TABLE wp_options_away TO wp_options")
	waitFor(t, "readyz to answer 200 again", 5*time.Second, func() bool { code, _ := get(); return code == 200 })
	if !strings.Contains(h.logs.String(), "ready again") {
		t.Errorf("recovery not logged:\n%s", h.logs.String())
	}
}

// TestHealthFollowsServeConfig: health asks the address serve listens on,
// from the same variables (a container on a non-default port stays healthy).
func TestHealthFollowsServeConfig(t *testing.T) {
	status := 200
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		fmt.Fprint(w, `{"status":"ready"}`)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, listen := range []string{"0.0.0.0:" + port, "127.0.0.1:" + port, ":" + port} {
		var out, errOut bytes.Buffer
		// Only the listen address: health does not need the rest.
		if err := run(context.Background(), []string{"health"}, []string{"WCBRIDGE_SERVER_LISTEN=" + listen}, &out, &errOut); err != nil || strings.TrimSpace(out.String()) != "healthy" {
			t.Errorf("health with server.listen %s: %v %q", listen, err, out.String())
		}
	}
	cfgFile := writeConfig(t, "server:\n  listen: 0.0.0.0:"+port+"\n")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"health", "--config", cfgFile}, nil, &out, &errOut); err != nil {
		t.Errorf("health with the listen address from the file: %v", err)
	}
	status = 503
	if err := run(context.Background(), []string{"health"}, []string{"WCBRIDGE_SERVER_LISTEN=0.0.0.0:" + port}, &out, &errOut); err == nil || exitCode(err) != 1 {
		t.Errorf("health on a 503: %v, want exit 1", err)
	}
}

// TestConnectWaitsForTheDatabase: a database that comes up within
// database.startup_wait is waited for, each attempt logged; one that does
// not is given up on after it; a server's own refusal ends the wait.
func TestConnectWaitsForTheDatabase(t *testing.T) {
	db := wootest.Open(t)
	proxy := newTCPProxy(t, db.DSN)
	proxy.setDown(true)
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	time.AfterFunc(1500*time.Millisecond, func() { proxy.setDown(false) })
	start := time.Now()
	conn, err := connectDB(context.Background(), DatabaseConfig{DSN: proxy.dsn, MaxOpenConns: 2, StartupWait: 30 * time.Second}, logger)
	if err != nil {
		t.Fatalf("connect while the database comes up: %v\n%s", err, logs.String())
	}
	conn.Close()
	if n := strings.Count(logs.String(), "database not reachable yet; retrying"); n < 1 {
		t.Errorf("no attempt logged:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "database reachable") || time.Since(start) > 20*time.Second {
		t.Errorf("took %s; log:\n%s", time.Since(start), logs.String())
	}

	proxy.setDown(true)
	start = time.Now()
	_, err = connectDB(context.Background(), DatabaseConfig{DSN: proxy.dsn, MaxOpenConns: 2, StartupWait: 2 * time.Second}, logger)
	if err == nil || !strings.Contains(err.Error(), "gave up after") || !strings.Contains(err.Error(), "database.startup_wait is 2s") {
		t.Errorf("want a give-up error naming database.startup_wait, got %v", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("gave up after %s, want about 2s", d)
	}

	c, _ := mysql.ParseDSN(db.DSN)
	c.DBName = "wcbridge_no_such_database_" + fmt.Sprint(time.Now().UnixNano())
	start = time.Now()
	_, err = connectDB(context.Background(), DatabaseConfig{DSN: c.FormatDSN(), MaxOpenConns: 2, StartupWait: time.Minute}, logger)
	if err == nil || time.Since(start) > 10*time.Second {
		t.Errorf("unknown database: %v after %s, want an error at once", err, time.Since(start))
	}
}

// TestServeLogIsOneFormat: everything serve writes is one JSON object a
// line, the MySQL driver's own messages included; stdout stays empty.
func TestServeLogIsOneFormat(t *testing.T) {
	store := wootest.NewStore(t, bridge.StorageHPOS, "wp_")
	proxy := newTCPProxy(t, store.DSN)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env := []string{
		"WCBRIDGE_DATABASE_DSN=" + proxy.dsn,
		"WCBRIDGE_PLUGIN_SHARED_SECRET=" + testSecret,
		"WCBRIDGE_WORDPRESS_URL=http://shop.test",
		"WCBRIDGE_SERVER_LISTEN=" + addr,
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, env, &out, &errOut) }()
	waitFor(t, "serve to listen", 20*time.Second, func() bool { return strings.Contains(errOut.String(), `"msg":"listening"`) })
	get := func() int {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(); code != 200 {
		t.Fatalf("readyz = %d", code)
	}
	// Cut the pooled connections under the driver: it says so in its own
	// words, which must arrive as JSON too.
	if store.Real {
		proxy.setDown(true)
		proxy.setDown(false)
		time.Sleep(1100 * time.Millisecond) // past readiness's one-second memory
		get()
		waitFor(t, "the driver's message", 5*time.Second, func() bool { return strings.Contains(errOut.String(), `"component":"mysql"`) })
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if out.String() != "" {
		t.Errorf("serve wrote to stdout: %q", out.String())
	}
	for i, line := range strings.Split(strings.TrimSpace(errOut.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil || m["msg"] == nil || m["level"] == nil {
			t.Errorf("line %d is not a JSON log record: %q", i+1, line)
		}
	}
	if !strings.Contains(errOut.String(), `"msg":"stopped"`) {
		t.Errorf("no stop record:\n%s", errOut.String())
	}
}

// TestInfoLogTellsEachOrdersStory: at info, a paid order leaves one line for
// the accepted callback (gateways that send them), one for the outcome with
// its order, gateway, payment, status and amount, and one for the delivered
// notification; "check the log for the order id" finds them.
func TestInfoLogTellsEachOrdersStory(t *testing.T) {
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			h := newHarness(t)
			id, key := h.order(d.name, usd("25.00"))
			gid := gatewayPaymentID(h.checkout(id, key, d.name))
			if err := d.pay(h, gid); err != nil {
				t.Fatal(err)
			}
			h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
			waitFor(t, "the notification line", 10*time.Second, func() bool {
				return strings.Contains(h.logs.String(), `msg="notification delivered" order_id=`+itoa(id)+" ")
			})
			lines := func(msg string) []string {
				var out []string
				for _, l := range strings.Split(h.logs.String(), "\n") {
					if strings.Contains(l, "level=INFO") && strings.Contains(l, `msg="`+msg+`"`) {
						out = append(out, l)
					}
				}
				return out
			}
			outcome := lines("outcome applied")
			if len(outcome) != 1 {
				t.Fatalf("want one outcome line, got %d:\n%s", len(outcome), strings.Join(outcome, "\n"))
			}
			for _, want := range []string{"order_id=" + itoa(id) + " ", "gateway=" + d.name + " ", "payment_id=", "gateway_payment_id=" + gid, "status=paid", "order_status=processing", `amount="25 USD"`, `received="25`} {
				if !strings.Contains(outcome[0], want) {
					t.Errorf("outcome line lacks %q: %s", want, outcome[0])
				}
			}
			accepted := lines("callback accepted") // every gateway sends callbacks
			if len(accepted) == 0 || !strings.Contains(strings.Join(accepted, "\n"), "gateway="+d.name) {
				t.Errorf("no callback accepted line for %s:\n%s", d.name, strings.Join(accepted, "\n"))
			}
			if n := len(lines("notification delivered")); n != 1 {
				t.Errorf("%d notification delivered lines, want 1", n)
			}
		})
	}
}
