package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/api"
	"github.com/wcbridge/wcbridge/bridge/gateway"
	"github.com/wcbridge/wcbridge/bridge/store"
	"github.com/wcbridge/wcbridge/bridge/wordpress"
	"github.com/wcbridge/wcbridge/woo"
	"golang.org/x/net/netutil"
)

// App is a wired sidecar: the server and its background work. Tests and the
// demo build one with NewApp and run it on their own listener.
type App struct {
	Config  *Config
	Runtime *runtimeConfig
	Service *bridge.Service
	Server  *api.Server
	Store   *store.Store
	Woo     *woo.Store
	Logger  *slog.Logger
	db      *sql.DB
	now     func() time.Time
	applier *applier
}

// Close releases the database connections; call it after Run returns.
func (a *App) Close() error { return a.db.Close() }

// AppOptions are what differs between production, tests and the demo.
type AppOptions struct {
	Now       func() time.Time
	Transport http.RoundTripper // for gateway and WordPress calls
	Logger    *slog.Logger
	// CheckDelay overrides the reconciler's pacing (tests, demo).
	CheckDelay func(age time.Duration) time.Duration
	// CreateTimeout overrides how long a checkout waits for the gateway
	// (tests; default bridge.DefaultCreateTimeout).
	CreateTimeout time.Duration
	// WrapGateway wraps every gateway client (tests).
	WrapGateway func(bridge.Gateway) bridge.Gateway
	// LeaseFor and NotifyBudget shorten the leases and what a request to
	// WordPress may take (tests; see bridge.Service).
	LeaseFor, NotifyBudget time.Duration
}

// NewApp connects to the database, migrates the sidecar's tables and wires
// every part.
func NewApp(ctx context.Context, cfg *Config, o AppOptions) (*App, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	db, err := connectDB(ctx, cfg.Database, logger)
	if err != nil {
		return nil, err
	}
	wo := woo.Options{Now: now}
	if cfg.WooCommerce.Storage != "auto" {
		wo.Mode = bridge.StorageMode(cfg.WooCommerce.Storage)
	}
	ws, err := woo.New(db, cfg.Database.TablePrefix, wo)
	if err != nil {
		db.Close()
		return nil, err
	}
	// Before anything is written: a wrong database or prefix must stop the
	// sidecar with a reason, not get its tables.
	if err := requireStore(ctx, ws); err != nil {
		db.Close()
		return nil, err
	}
	sealer, err := newSealer(cfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	st, err := store.Open(db, cfg.Database.TablePrefix, store.Options{Now: now, Logger: logger, Sealer: sealer, Secret: IsSecret})
	if err != nil {
		db.Close()
		return nil, err
	}
	if applied, err := st.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate sidecar tables: %w", err)
	} else if len(applied) > 0 {
		logger.Info("sidecar tables migrated", "applied", strings.Join(applied, ","))
	}
	if names, err := st.ResealSettings(ctx); err != nil {
		logger.Warn("encrypting stored secrets with secrets.key failed", "err", err)
	} else if len(names) > 0 {
		logger.Info("stored secrets encrypted with the current secrets.key", "fields", strings.Join(names, ","), "key_id", sealer.KeyID())
	}
	// Each outgoing pool keeps as many idle connections per host as requests
	// go to it at once: the default keeps two, and every other request
	// would open a connection (and in production shake hands for TLS).
	gwTransport, wpTransport := o.Transport, o.Transport
	if gwTransport == nil {
		gwTransport = pooledTransport(cfg.Workers.Callbacks + cfg.Reconcile.BatchSize/10 + 8)
		wpTransport = pooledTransport(cfg.Workers.Notifications)
	}
	rt := newRuntimeConfig(cfg, st, gateway.Options{Transport: gwTransport, UserAgent: "wcbridge/" + Version}, logger, o.WrapGateway)
	if err := rt.Reload(ctx); err != nil {
		logger.Warn("settings from wordpress not loaded", "err", err)
	}
	hostname, _ := os.Hostname()
	secret := func() []byte { return []byte(cfg.Plugin.SharedSecret) }
	ap := newApplier(st, ws)
	svc := bridge.NewService(bridge.Service{
		Orders: ws, Payments: st, Applier: ap, Callbacks: st, Outbox: st, Gateways: rt,
		Notifier: wordpress.NewNotifier(func() string { return notifyURL(rt.Current()) }, secret, wpTransport),
		Policy:   rt.Policy, Now: now, Logger: logger, CheckDelay: o.CheckDelay, CreateTimeout: o.CreateTimeout,
		CallbackWorkers: cfg.Workers.Callbacks, Notifiers: cfg.Workers.Notifications, NotificationBatch: cfg.Workers.NotificationBatch,
		LeaseFor: o.LeaseFor, NotifyBudget: o.NotifyBudget, Titles: gatewayTitle,
		Owner: fmt.Sprintf("%s-%d-%s", hostname, os.Getpid(), strings.ReplaceAll(now().UTC().Format("150405.000"), ".", "")),
	})
	trusted, _ := parseNetworks(cfg.Server.TrustedProxies) // validated with the config
	srv := api.NewServer(svc, api.Config{
		Version: Version, PublicURL: cfg.Server.PublicURL, Secret: secret,
		SignatureWindow: cfg.Plugin.SignatureWindow, MaxCallbackBytes: cfg.Server.MaxCallbackBytes,
		CallbackRate: float64(cfg.Server.CallbackRateLimit), CallbackBurst: cfg.Server.CallbackBurst,
		TrustedProxies: trusted, CallbackTimeout: cfg.Server.CallbackTimeout,
		Requests: st, Ready: readiness(db, ws, now, logger), Settings: rt, TablePrefix: cfg.Database.TablePrefix, Now: now, Logger: logger,
	})
	return &App{Config: cfg, Runtime: rt, Service: svc, Server: srv, Store: st, Woo: ws, Logger: logger, db: db, now: now, applier: ap}, nil
}

var _ api.Service = (*bridge.Service)(nil)

// requireStore refuses a database without a usable WooCommerce install
// under the prefix: every problem `check` would report, at once.
func requireStore(ctx context.Context, ws *woo.Store) error {
	if err := ws.RequireInstall(ctx); err != nil {
		return err
	}
	if _, errs := ws.Check(ctx); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("woocommerce tables with prefix %q cannot be used:\n  - %s", ws.Prefix(), strings.Join(msgs, "\n  - "))
	}
	return nil
}

// readiness is /readyz's check: the database answers and WooCommerce's
// tables are still usable. The answer is kept for a second (the endpoint is
// public), and a change is logged once, so a store that becomes unusable is
// in the log, not only in the probe.
func readiness(db *sql.DB, ws *woo.Store, now func() time.Time, logger *slog.Logger) func(context.Context) error {
	var mu sync.Mutex
	var last error
	var at time.Time
	ready := true
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if !at.IsZero() && now().Sub(at) < time.Second {
			return last
		}
		// The public answer names the part that failed; the log, the cause.
		var err error
		if perr := db.PingContext(ctx); perr != nil {
			err = &bridge.Error{Code: bridge.EUNAVAILABLE, Message: "database unreachable", Err: perr}
		} else if werr := ws.Ready(ctx); werr != nil {
			err = &bridge.Error{Code: bridge.EUNAVAILABLE, Message: "woocommerce tables unusable", Err: werr}
		}
		last, at = err, now()
		switch {
		case err != nil && ready:
			logger.Error("not ready", "err", err)
		case err == nil && !ready:
			logger.Info("ready again")
		}
		ready = err == nil
		return err
	}
}

// newSealer builds the encryption of secrets at rest from secrets.key, or
// nil when none is set.
func newSealer(cfg *Config) (*store.Sealer, error) {
	if cfg.Secrets.Key == "" {
		return nil, nil
	}
	s, err := store.NewSealer(cfg.Secrets.Key, cfg.Secrets.PreviousKey)
	if err != nil {
		return nil, fmt.Errorf("secrets.key: %w", err)
	}
	return s, nil
}

// pooledTransport is the default transport keeping up to conns idle
// connections per host.
func pooledTransport(conns int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = conns
	t.MaxIdleConns = 4 * conns
	return t
}

// notifyURL is the plugin's notification endpoint.
func notifyURL(c *Config) string {
	if c.WordPress.NotifyURL != "" {
		return c.WordPress.NotifyURL
	}
	return strings.TrimRight(c.WordPress.URL, "/") + "/wp-json/wcbridge/v1/notify"
}

// Run serves on l and runs the background work until ctx ends, then shuts
// down gracefully.
func (a *App) Run(ctx context.Context, l net.Listener) error {
	// Slow or idle clients cannot hold connections long, and at most
	// max_connections are open at once (more wait in the kernel's queue):
	// each costs memory and a descriptor.
	hs := &http.Server{Handler: a.Server, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: a.Config.Server.IdleTimeout, MaxHeaderBytes: 64 << 10}
	l = netutil.LimitListener(l, a.Config.Server.MaxConnections)
	workCtx, stopWork := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(4)
	go func() {
		defer wg.Done()
		a.retain(workCtx)
	}()
	go func() {
		defer wg.Done()
		a.applier.run(workCtx, min(a.Config.Workers.ApplyWriters, max(1, a.Config.Database.MaxOpenConns/2)), a.Config.Workers.ApplyGroup)
	}()
	go func() {
		defer wg.Done()
		a.Service.Run(workCtx, bridge.WorkerConfig{Interval: a.Config.Reconcile.Interval, BatchSize: a.Config.Reconcile.BatchSize,
			CallbackWorkers: a.Config.Workers.Callbacks, Notifiers: a.Config.Workers.Notifications, NotificationBatch: a.Config.Workers.NotificationBatch,
			NotifyLinger: notifyLinger(a.Config.Workers.NotifyLinger)})
	}()
	go func() {
		defer wg.Done()
		t := time.NewTicker(a.Config.Reconcile.SettingsInterval)
		defer t.Stop()
		for {
			select {
			case <-workCtx.Done():
				return
			case <-t.C:
				if err := a.Runtime.Reload(workCtx); err != nil {
					a.Logger.Warn("reload settings failed", "err", err)
				}
			}
		}
	}()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), a.Config.Server.ShutdownTimeout)
	defer cancel()
	hs.Shutdown(sctx)
	stopWork()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// runServe is `wcbridge serve`.
func runServe(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	cfg, _, err := commandConfig("serve", args, env, stdout, stderr)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.Log, stderr)
	// The driver's own messages join the same stream, in the same format.
	mysql.SetLogger(driverLogger{logger})
	logger.Info("starting wcbridge", "version", Version, "listen", cfg.Server.Listen, "pinned", strings.Join(cfg.PinnedPaths(), ","))
	if mb := cfg.Server.MemoryLimitMB; mb > 0 && os.Getenv("GOMEMLIMIT") == "" {
		// A burst of callbacks is garbage soon: collecting it sooner keeps
		// the sidecar small beside the shop, for a little CPU.
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(int64(mb) << 20))
	}
	app, err := NewApp(ctx, cfg, AppOptions{Logger: logger})
	if err != nil {
		return err
	}
	defer app.Close()
	l, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Server.Listen, err)
	}
	logger.Info("listening", "addr", l.Addr().String(), "url", "http://"+l.Addr().String())
	err = app.Run(ctx, l)
	logger.Info("stopped", "err", err)
	return err
}

// retain runs the retention pass every retention.interval until ctx ends:
// old processed callbacks and delivered notifications are deleted, a few
// hundred rows per statement, so no table of the sidecar grows without bound.
func (a *App) retain(ctx context.Context) {
	r := a.Config.Retention
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := a.now()
		p, err := a.Store.Purge(ctx, now.Add(-r.Callbacks), now.Add(-r.Notifications), r.BatchSize, 20)
		switch {
		case err != nil && ctx.Err() == nil:
			a.Logger.Warn("retention pass failed", "err", err)
		case p.Total() > 0:
			a.Logger.Info("retention pass", "callbacks_deleted", p.Callbacks, "notifications_deleted", p.Notifications, "leases_released", p.Leases)
		}
	}
}

// notifyLinger maps workers.notify_linger to bridge.WorkerConfig, where 0
// means the default: a configured 0 sends at once.
func notifyLinger(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
