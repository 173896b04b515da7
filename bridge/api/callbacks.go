package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/wcbridge/wcbridge/bridge"
)

// handleCallback receives a gateway's callback: the body is capped, verified
// from its raw bytes before anything is parsed for use, recorded durably and
// answered at once; the work happens in the background. Forged → 4xx and
// nothing changes; duplicate → 200; database down → 503 so the gateway
// retries.
func (s *Server) handleCallback(c echo.Context) error {
	name := c.Param("gateway")
	if !known(s.service.Gateways.Names(), name) {
		return bridge.ErrUnknownGateway
	}
	body, err := readCapped(c.Request().Body, s.cfg.MaxCallbackBytes)
	if err != nil {
		s.metrics.callbacks.WithLabelValues(name, "rejected").Inc()
		return err
	}
	res, err := s.service.ReceiveCallback(c.Request().Context(), name, c.Request().Header, body)
	switch {
	case err != nil && bridge.ErrorCode(err) == bridge.EUNAVAILABLE:
		s.metrics.callbacks.WithLabelValues(name, "unavailable").Inc()
		return err
	case err != nil:
		s.metrics.callbacks.WithLabelValues(name, "rejected").Inc()
		if code := bridge.ErrorCode(err); code == bridge.EINTERNAL || code == bridge.EINVALID {
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

func known(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}
