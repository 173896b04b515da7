// Package api is wcbridge's HTTP server (Echo): the signed plugin API, one
// callback endpoint per gateway, and the operators' health and metrics.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/wcbridge/wcbridge/bridge"
)

// Settings is the shop owner's settings store (pushed from WordPress).
type Settings interface {
	// Settings lists every settable key with its value (never a secret's).
	Settings(ctx context.Context) (map[string]SettingView, error)
	// PutSettings validates and stores values; a *bridge.Error with Fields
	// for invalid ones, ECONFLICT for pinned ones.
	PutSettings(ctx context.Context, values map[string]string) error
	// CheckSettings validates values as PutSettings does and stores nothing.
	CheckSettings(ctx context.Context, values map[string]string) error
}

// RequestLog remembers the ids of signed requests across replicas.
type RequestLog interface {
	// SeenRequest records id until expires and reports whether it was
	// recorded already.
	SeenRequest(ctx context.Context, id string, expires time.Time) (bool, error)
}

// SettingView is one setting as the admin page shows it.
type SettingView struct {
	Value  *string `json:"value,omitempty"` // omitted for secrets
	Set    bool    `json:"set"`
	Pinned bool    `json:"pinned"`
	Secret bool    `json:"secret"`
}

// Config configures a Server.
type Config struct {
	Version          string
	PublicURL        string                          // base of the callback URLs shown to the shop
	Secret           func() []byte                   // the plugin's shared secret
	SignatureWindow  time.Duration                   // default 5m
	MaxCallbackBytes int64                           // default 64 KiB
	MaxRequestBytes  int64                           // plugin requests; default 1 MiB
	Ready            func(ctx context.Context) error // readiness: database reachable
	Settings         Settings                        // nil: settings endpoints answer 404
	// Requests refuses a mutating signed request (POST, PUT) whose id any
	// replica received before; nil: only this replica's memory decides.
	// Reading requests (GET) are checked in memory only.
	Requests    RequestLog
	TablePrefix string
	Now         func() time.Time
	Logger      *slog.Logger
	Registry    *prometheus.Registry // nil: a new one

	// CallbackRate and CallbackBurst limit each client's requests to the
	// callback endpoints (requests per second, and how many at once); a
	// client over the limit gets 429 before its body is read. Zero rate: no
	// limit.
	CallbackRate  float64
	CallbackBurst int
	// TrustedProxies are the networks whose X-Forwarded-For is believed when
	// telling clients apart; a request from anywhere else is the client.
	TrustedProxies []*net.IPNet
	// CallbackTimeout bounds the work of one callback request (recording it
	// in the database), so a database that does not answer gives a quick
	// 503 and the gateway retries. Default 5s.
	CallbackTimeout time.Duration
	// MaxConcurrentCallbacks is how many callback requests are read and
	// verified at once (default 4 per CPU, at least 8); more wait up to a
	// second for a turn, then get 503 and are retried by the gateway. A
	// flood of callbacks then cannot take the CPU from the plugin's requests.
	MaxConcurrentCallbacks int
}

// Service is what the server needs of the core; *bridge.Service is it.
type Service interface {
	StartCheckout(ctx context.Context, r bridge.CheckoutRequest) (*bridge.CheckoutResult, error)
	OrderPayment(ctx context.Context, orderID int64) (*bridge.OrderPaymentView, error)
	Recheck(ctx context.Context, orderID int64) (*bridge.OrderPaymentView, error)
	CancelOrderPayments(ctx context.Context, orderID int64) (*bridge.OrderPaymentView, error)
	Status(ctx context.Context, callbackURL func(string) string, probe bool) *bridge.StatusReport
	ReceiveCallback(ctx context.Context, r bridge.CallbackRequest) (*bridge.CallbackResult, error)
	GatewayNames() []string
	RecordRejection(gateway string, r bridge.Rejection)
	RecordRateLimited(gateway string)
	ObserveOutcomes(f func(gateway string, status bridge.PaymentStatus))
	ReconcileLag() time.Duration
	OutboxBacklog() int64
}

// Server is the HTTP server.
type Server struct {
	Echo      *echo.Echo
	service   Service
	cfg       Config
	metrics   *metrics
	seen      *seenIDs
	callbacks chan struct{} // one token per callback being handled
	rejectLog struct {      // refused plugin requests since the last log line
		mu sync.Mutex
		at time.Time
		n  int
	}
}

// NewServer builds the server and its routes.
func NewServer(svc Service, cfg Config) *Server {
	if cfg.SignatureWindow <= 0 {
		cfg.SignatureWindow = 5 * time.Minute
	}
	if cfg.MaxCallbackBytes <= 0 {
		cfg.MaxCallbackBytes = 64 << 10
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = 1 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.CallbackTimeout <= 0 {
		cfg.CallbackTimeout = 5 * time.Second
	}
	if cfg.MaxConcurrentCallbacks <= 0 {
		cfg.MaxConcurrentCallbacks = max(8, 4*runtime.GOMAXPROCS(0))
	}
	s := &Server{Echo: echo.New(), service: svc, cfg: cfg, seen: newSeenIDs(), callbacks: make(chan struct{}, cfg.MaxConcurrentCallbacks)}
	s.metrics = newMetrics(cfg.Registry, svc)
	svc.ObserveOutcomes(func(gateway string, st bridge.PaymentStatus) {
		s.metrics.payments.WithLabelValues(gateway, string(st)).Inc()
	})
	e := s.Echo
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = clientIP(cfg.TrustedProxies)
	e.Use(s.recoverer, s.logRequests)

	e.GET("/healthz", s.handleHealth)
	e.GET("/readyz", s.handleReady)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{})))

	e.POST("/v1/callbacks/:gateway", s.handleCallback, s.callbackTurn, s.callbackLimit())

	v1 := e.Group("/v1", s.requireSignature)
	v1.POST("/checkout", s.handleCheckout)
	v1.GET("/orders/:id/payment", s.handleOrderPayment)
	v1.POST("/orders/:id/recheck", s.handleRecheck)
	v1.POST("/orders/:id/cancel-payments", s.handleCancelPayments)
	v1.GET("/status", s.handleStatus)
	v1.GET("/settings", s.handleSettings)
	v1.PUT("/settings", s.handlePutSettings)
	return s
}

// ServeHTTP makes the server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.Echo.ServeHTTP(w, r) }

// CallbackURL is the URL to paste into a gateway's dashboard.
func (s *Server) CallbackURL(gateway string) string {
	base := strings.TrimRight(s.cfg.PublicURL, "/")
	if base == "" {
		base = "http://<sidecar>"
	}
	return base + "/v1/callbacks/" + gateway
}

// errorBody is the one shape of every error answer.
type errorBody struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields,omitempty"`
	} `json:"error"`
}

// statusOf maps the core's error codes to HTTP statuses, in one place.
var statusOf = map[string]int{
	bridge.EINVALID:      http.StatusBadRequest,
	bridge.EUNAUTHORIZED: http.StatusUnauthorized,
	bridge.ENOTFOUND:     http.StatusNotFound,
	bridge.ECONFLICT:     http.StatusConflict,
	bridge.EINPROGRESS:   http.StatusConflict,
	bridge.EUNSUPPORTED:  http.StatusUnprocessableEntity,
	bridge.EGATEWAY:      http.StatusBadGateway,
	bridge.EUNAVAILABLE:  http.StatusServiceUnavailable,
	bridge.ERATELIMITED:  http.StatusTooManyRequests,
	bridge.EREPLAYED:     http.StatusUnauthorized,
	bridge.EINTERNAL:     http.StatusInternalServerError,
}

func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var body errorBody
	status := http.StatusInternalServerError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		status = he.Code
		body.Error.Code = bridge.EINVALID
		switch status {
		case http.StatusNotFound:
			body.Error.Code = bridge.ENOTFOUND
		case http.StatusMethodNotAllowed:
			body.Error.Code = bridge.EINVALID
		case http.StatusRequestEntityTooLarge:
			body.Error.Code = bridge.EINVALID
		case http.StatusUnauthorized:
			body.Error.Code = bridge.EUNAUTHORIZED
		}
		if status >= 500 {
			body.Error.Code = bridge.EINTERNAL
		}
		if m, ok := he.Message.(string); ok {
			body.Error.Message = m
		} else {
			body.Error.Message = strings.ToLower(http.StatusText(status))
		}
	default:
		code := bridge.ErrorCode(err)
		status = statusOf[code]
		body.Error.Code, body.Error.Message = code, bridge.ErrorMessage(err)
		var be *bridge.Error
		if errors.As(err, &be) {
			body.Error.Fields = be.Fields
		}
	}
	if status >= 500 {
		s.cfg.Logger.Error("request failed", "method", c.Request().Method, "path", c.Path(), "status", status, "err", err)
	}
	c.JSON(status, body)
}

// badRequest is an EINVALID error with a message safe to show.
func badRequest(format string, args ...any) error {
	return bridge.Errorf(bridge.EINVALID, format, args...)
}

func (s *Server) recoverer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				s.cfg.Logger.Error("panic in handler", "path", c.Path(), "panic", r)
				err = &bridge.Error{Code: bridge.EINTERNAL, Message: "internal error"}
			}
		}()
		return next(c)
	}
}

// logRequests logs method, route, status and duration: never bodies,
// signatures or query strings.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		s.cfg.Logger.Debug("request", "method", c.Request().Method, "route", c.Path(), "status", c.Response().Status, "duration_ms", time.Since(start).Milliseconds())
		return nil
	}
}

func (s *Server) handleHealth(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok", "version": s.cfg.Version})
}

func (s *Server) handleReady(c echo.Context) error {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			var be *bridge.Error
			if errors.As(err, &be) {
				return be
			}
			return &bridge.Error{Code: bridge.EUNAVAILABLE, Message: "database unreachable", Err: err}
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
