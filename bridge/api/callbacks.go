package api

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/wcbridge/wcbridge/bridge"
	"golang.org/x/time/rate"
)

// handleCallback receives a gateway's callback: the body is capped, verified
// from its raw bytes before anything is parsed for use, recorded durably and
// answered at once; the work happens in the background. Forged → 401,
// genuinely signed but unusable → 400, and nothing is written for either;
// duplicate → 200; database down or not answering within CallbackTimeout →
// 503 so the gateway retries.
func (s *Server) handleCallback(c echo.Context) error {
	name := c.Param("gateway")
	if !known(s.service.GatewayNames(), name) {
		return bridge.ErrUnknownGateway
	}
	req := c.Request()
	body, err := readCapped(req.Body, s.cfg.MaxCallbackBytes)
	if err != nil {
		s.service.RecordRejection(name, bridge.Rejection{At: s.cfg.Now().UTC(), Reason: "body too large", RemoteAddr: c.RealIP()})
		s.metrics.rejected(name, "body too large")
		return err
	}
	ctx, cancel := context.WithTimeout(req.Context(), s.cfg.CallbackTimeout)
	defer cancel()
	res, err := s.service.ReceiveCallback(ctx, bridge.CallbackRequest{Gateway: name, Header: req.Header, Body: body, RemoteAddr: c.RealIP()})
	switch {
	case err != nil && bridge.ErrorCode(err) == bridge.EUNAVAILABLE:
		s.metrics.callbacks.WithLabelValues(name, "unavailable").Inc()
		return err
	case err != nil:
		reason := bridge.RejectReason(err)
		if bridge.ErrorCode(err) == bridge.ECONFLICT {
			reason = bridge.ErrorMessage(err)
		}
		s.metrics.rejected(name, reason)
		if bridge.ErrorCode(err) == bridge.EINTERNAL {
			return &bridge.Error{Code: bridge.EUNAUTHORIZED, Message: "callback not authenticated", Err: err}
		}
		return err
	case res.Duplicate:
		s.metrics.callbacks.WithLabelValues(name, "duplicate").Inc()
	default:
		s.metrics.callbacks.WithLabelValues(name, "accepted").Inc()
	}
	return c.JSON(http.StatusOK, map[string]any{"ok": true})
}

// callbackTurn lets at most MaxConcurrentCallbacks callback requests run at
// once, the rate limit's refusals included; the others wait for a turn
// without using the CPU, and after a second get 503 (the gateway retries).
// However many requests a flood holds open, the plugin's requests then
// compete with a handful, not with hundreds.
func (s *Server) callbackTurn(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		wait := time.NewTimer(time.Second)
		select {
		case s.callbacks <- struct{}{}:
			wait.Stop()
			defer func() { <-s.callbacks }()
			return next(c)
		case <-wait.C:
			if name := c.Param("gateway"); known(s.service.GatewayNames(), name) {
				s.metrics.callbacks.WithLabelValues(name, "busy").Inc()
			}
			c.Response().Header().Set("Retry-After", "1")
			return errBusy
		case <-c.Request().Context().Done():
			wait.Stop()
			return errBusy
		}
	}
}

// callbackLimit limits each client's callback requests (Echo's rate limiter,
// one token bucket per client address; an IPv6 client is its /64, which one
// host can fill). A refused request is counted and answered 429 with
// Retry-After before its body is read.
func (s *Server) callbackLimit() echo.MiddlewareFunc {
	if s.cfg.CallbackRate <= 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	burst := s.cfg.CallbackBurst
	if burst < 1 {
		burst = 1
	}
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
			Rate: rate.Limit(s.cfg.CallbackRate), Burst: burst,
		}),
		IdentifierExtractor: func(c echo.Context) (string, error) { return clientKey(c.RealIP()), nil },
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			name := c.Param("gateway")
			if known(s.service.GatewayNames(), name) {
				s.service.RecordRateLimited(name)
				s.metrics.callbacks.WithLabelValues(name, "rate_limited").Inc()
			}
			c.Response().Header().Set("Retry-After", "1")
			return bridge.ErrRateLimited
		},
		ErrorHandler: func(c echo.Context, err error) error { return bridge.ErrRateLimited },
	})
}

// clientKey is the rate limit's key for a client address: the address
// itself, or its /64 for IPv6.
func clientKey(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil {
		return addr
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// clientIP tells who the client is: the peer, unless the peer is a trusted
// proxy, then the nearest untrusted address in X-Forwarded-For. Nothing is
// trusted by default but what is configured (not even private networks).
func clientIP(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// errBusy answers a callback that found no turn within a second: the
// gateway retries.
var errBusy = &bridge.Error{Code: bridge.EUNAVAILABLE, Message: "busy; retry later"}

func known(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}
