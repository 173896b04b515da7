//go:build demo

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/woo/wootest"
)

// demoPrefix is the demo store's table prefix.
const demoPrefix = "wp_"

// runDemo is `wcbridge demo`: a whole shop on loopback. An embedded
// MySQL-compatible database holds WooCommerce's tables, the three gateway
// simulators take the payments, the real sidecar applies them, and a small
// page plays the shop and the plugin.
func runDemo(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address of the demo page (loopback only); the other parts take random loopback ports")
	storage := fs.String("storage", string(bridge.StorageHPOS), "WooCommerce storage mode: posts, posts+sync, hpos+sync or hpos")
	verbose := fs.Bool("v", false, "log the sidecar's work at info level (default: warnings only)")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if host, _, err := net.SplitHostPort(*addr); err != nil || !isLoopback(host) {
		return fmt.Errorf("%w: the demo listens on loopback only, not %q", errUsage, *addr)
	}
	mode := bridge.StorageMode(*storage)
	switch mode {
	case bridge.StoragePosts, bridge.StoragePostsSync, bridge.StorageHPOSSync, bridge.StorageHPOS:
	default:
		return fmt.Errorf("%w: --storage must be posts, posts+sync, hpos+sync or hpos, not %q", errUsage, *storage)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	d, err := startDemo(ctx, demoOptions{Addr: *addr, Mode: mode, Logger: logger})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wcbridge demo (%s storage) is running; open %s\nPress Ctrl-C to stop.\n", mode, d.URL)
	return d.Wait()
}

type demoOptions struct {
	Addr   string // demo page address; "127.0.0.1:0" picks a port
	Mode   bridge.StorageMode
	Logger *slog.Logger
}

// demo is a running demo installation.
type demo struct {
	URL        string // the demo page
	sidecarURL string
	mode       bridge.StorageMode
	db         *wootest.DB
	sims       *Simulators
	app        *App
	secret     []byte
	orders     []int64 // seeded order ids, in seeding order
	logger     *slog.Logger
	client     *http.Client

	mu            sync.Mutex
	notifications []demoNotification

	done chan error
}

// startDemo builds the whole installation and starts serving; it stops when
// ctx ends (Wait returns then).
func startDemo(ctx context.Context, o demoOptions) (d *demo, err error) {
	d = &demo{mode: o.Mode, logger: o.Logger, client: &http.Client{Timeout: 30 * time.Second}, done: make(chan error, 1)}
	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()

	pageL, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("demo page: listen on %s: %w", o.Addr, err)
	}
	cleanup = append(cleanup, func() { pageL.Close() })
	sideL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sidecar: listen: %w", err)
	}
	cleanup = append(cleanup, func() { sideL.Close() })
	d.URL = "http://" + pageL.Addr().String() + "/"
	d.sidecarURL = "http://" + sideL.Addr().String()
	pageBase := strings.TrimSuffix(d.URL, "/")

	// The database: embedded unless WCBRIDGE_TEST_MYSQL_DSN names a server.
	d.db, err = wootest.Create(ctx, "wcbridge_demo_"+randomHex(4))
	if err != nil {
		return nil, fmt.Errorf("start the embedded database: %w", err)
	}
	cleanup = append(cleanup, d.db.Drop)
	if err := wootest.Install(ctx, d.db.DB, o.Mode, demoPrefix); err != nil {
		return nil, err
	}
	if d.orders, err = seedDemoStore(ctx, d.db, o.Mode); err != nil {
		return nil, err
	}

	// The simulators deliver callbacks to the sidecar quickly and send the
	// customer back to the demo page.
	d.sims, err = StartSimulators(SimulatorSetup{StreamPay: "127.0.0.1:0", CryptoCloud: "127.0.0.1:0", Bitstream: "127.0.0.1:0",
		CallbackBase: d.sidecarURL, Retry: time.Second, ShopReturnURL: pageBase + "/return/cryptocloud"})
	if err != nil {
		return nil, err
	}
	cleanup = append(cleanup, d.sims.Close)

	d.secret = []byte(randomHex(32))
	// One database connection: the embedded engine ignores SELECT ... FOR
	// UPDATE, so a customer's re-check racing the gateway's callback could
	// both apply the payment (two notes). MariaDB's row locks prevent that
	// in production; here one connection serialises the sidecar's writes.
	env := append([]string{
		"WCBRIDGE_SERVER_LISTEN=" + sideL.Addr().String(),
		"WCBRIDGE_SERVER_PUBLIC_URL=" + d.sidecarURL,
		"WCBRIDGE_DATABASE_DSN=" + d.db.DSN,
		"WCBRIDGE_DATABASE_TABLE_PREFIX=" + demoPrefix,
		"WCBRIDGE_DATABASE_MAX_OPEN_CONNS=1",
		"WCBRIDGE_WOOCOMMERCE_STORAGE=" + string(o.Mode),
		"WCBRIDGE_WORDPRESS_URL=" + pageBase,
		"WCBRIDGE_PLUGIN_SHARED_SECRET=" + string(d.secret),
		"WCBRIDGE_RECONCILE_INTERVAL=1s",
	}, d.sims.Env()...)
	cfg, err := LoadConfig("", env)
	if err != nil {
		return nil, err
	}
	d.app, err = NewApp(ctx, cfg, AppOptions{
		Logger: o.Logger,
		// Look at every payment every two seconds so the page updates
		// while one watches, callbacks or not.
		CheckDelay: func(time.Duration) time.Duration { return 2 * time.Second },
	})
	if err != nil {
		return nil, err
	}

	page, err := d.handler()
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: page, ReadHeaderTimeout: 10 * time.Second}
	appDone := make(chan error, 1)
	go func() { appDone <- d.app.Run(ctx, sideL) }()
	go hs.Serve(pageL)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		appErr := <-appDone
		d.app.Close()
		d.sims.Close()
		d.db.Drop()
		d.done <- appErr
	}()
	return d, nil
}

// Wait blocks until the demo has stopped and returns the sidecar's error.
func (d *demo) Wait() error {
	err := <-d.done
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// demoOrders are the seeded orders: at least one in USD per gateway (Bitstream
// takes USD only), some in EUR (StreamPay and CryptoCloud), physical goods
// (paid → processing) and virtual downloads (paid → completed).
var demoOrders = []struct {
	gateway  string
	currency string
	items    []wootest.ItemSeed
}{
	{"streampay", "USD", []wootest.ItemSeed{{Name: "Hoodie", Total: "45.00"}}},
	{"cryptocloud", "USD", []wootest.ItemSeed{{Name: "Coffee mug", Qty: 2, Total: "24.00"}}},
	{"bitstream", "USD", []wootest.ItemSeed{{Name: "Poster", Total: "15.00"}, {Name: "Wallpaper pack (download)", Total: "4.99", Virtual: true, Downloadable: true}}},
	{"streampay", "EUR", []wootest.ItemSeed{{Name: "E-book: Crypto for shopkeepers", Total: "9.99", Virtual: true, Downloadable: true}}},
	{"cryptocloud", "EUR", []wootest.ItemSeed{{Name: "T-shirt", Total: "25.00"}}},
	{"bitstream", "USD", []wootest.ItemSeed{{Name: "Soundtrack (download)", Total: "7.50", Virtual: true, Downloadable: true}}},
}

// demoGatewayTitles are the payment methods' titles, as the plugin's
// defaults name them at checkout.
var demoGatewayTitles = func() map[string]string {
	m := map[string]string{}
	for _, g := range knownGateways {
		m[g.Name] = g.MethodTitle
	}
	return m
}()

func seedDemoStore(ctx context.Context, db *wootest.DB, mode bridge.StorageMode) ([]int64, error) {
	var ids []int64
	for i, o := range demoOrders {
		total := decimalSum(o.items)
		id, err := wootest.Seed(ctx, db.DB, mode, demoPrefix, wootest.OrderSeed{
			Currency: o.currency, Total: total,
			PaymentMethod: bridge.PaymentMethodPrefix + o.gateway, PaymentMethodTitle: demoGatewayTitles[o.gateway],
			BillingEmail: fmt.Sprintf("customer%d@example.com", i+1),
			Items:        o.items,
			Created:      time.Now().Add(-time.Duration(len(demoOrders)-i) * 7 * time.Minute),
		})
		if err != nil {
			return nil, fmt.Errorf("seed the demo store: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// setPaymentMethod does what WooCommerce does when the customer picks another
// payment method on the order-pay page. Only the demo writes it with SQL: it
// owns its database.
func (d *demo) setPaymentMethod(ctx context.Context, orderID int64, gateway string) error {
	method, title := bridge.PaymentMethodPrefix+gateway, demoGatewayTitles[gateway]
	p := demoPrefix
	if d.mode != bridge.StoragePosts {
		if _, err := d.db.ExecContext(ctx, "UPDATE "+p+"wc_orders SET payment_method = ?, payment_method_title = ? WHERE id = ?", method, title, orderID); err != nil {
			return fmt.Errorf("set payment method of order %d: %w", orderID, err)
		}
	}
	if d.mode != bridge.StorageHPOS {
		for k, v := range map[string]string{"_payment_method": method, "_payment_method_title": title} {
			if _, err := d.db.ExecContext(ctx, "UPDATE "+p+"postmeta SET meta_value = ? WHERE post_id = ? AND meta_key = ?", v, orderID, k); err != nil {
				return fmt.Errorf("set payment method of order %d: %w", orderID, err)
			}
		}
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
