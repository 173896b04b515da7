package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/pluginsig"
)

// requireSignature verifies the plugin's HMAC signature over the raw request
// before any handler runs, refuses a request id received before (401
// replayed), and keeps the body for the handler.
func (s *Server) requireSignature(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		body, err := readCapped(r.Body, s.cfg.MaxRequestBytes)
		if err != nil {
			return err
		}
		var secret []byte
		if s.cfg.Secret != nil {
			secret = s.cfg.Secret()
		}
		signed := pluginsig.SignedFrom(r.Header)
		if err := pluginsig.Verify(secret, signed, r.Method, r.URL.RequestURI(), body, s.cfg.Now(), s.cfg.SignatureWindow); err != nil {
			s.logRejectedRequest(c, err)
			return err
		}
		if err := s.checkReplay(c, signed); err != nil {
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		c.Set("body", body)
		return next(c)
	}
}

// checkReplay refuses a request id seen within the signature window: in
// this replica's memory for every request, and in the database, across
// replicas, for those that change something. A captured request can thus
// not be sent again, and a replayed settings change cannot undo a newer one.
func (s *Server) checkReplay(c echo.Context, signed pluginsig.Signed) error {
	r := c.Request()
	expires := signed.Expires(s.cfg.SignatureWindow)
	if s.seen.seen(signed.RequestID, expires, s.cfg.Now()) {
		s.logRejectedRequest(c, bridge.ErrReplayed)
		return bridge.ErrReplayed
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead || s.cfg.Requests == nil {
		return nil
	}
	seen, err := s.cfg.Requests.SeenRequest(r.Context(), signed.RequestID, expires)
	if err != nil {
		return &bridge.Error{Code: bridge.EUNAVAILABLE, Message: "could not check the request id; retry later", Err: err}
	}
	if seen {
		s.logRejectedRequest(c, bridge.ErrReplayed)
		return bridge.ErrReplayed
	}
	return nil
}

// logRejectedRequest logs a refused plugin request: the first at once,
// then at most one line a minute with how many were refused meanwhile, so
// unsigned requests sent in bulk cannot fill the log.
func (s *Server) logRejectedRequest(c echo.Context, err error) {
	now := s.cfg.Now()
	s.rejectLog.mu.Lock()
	s.rejectLog.n++
	n := s.rejectLog.n
	due := now.Sub(s.rejectLog.at) >= time.Minute
	if due {
		s.rejectLog.n, s.rejectLog.at = 0, now
	}
	s.rejectLog.mu.Unlock()
	if due {
		s.cfg.Logger.Warn("plugin request rejected", "method", c.Request().Method, "route", c.Path(), "reason", bridge.ErrorMessage(err), "count", n)
	}
}

// seenIDs is one replica's memory of request ids, each kept until its
// signature expires.
type seenIDs struct {
	mu     sync.Mutex
	ids    map[string]time.Time
	pruned time.Time
}

func newSeenIDs() *seenIDs { return &seenIDs{ids: map[string]time.Time{}} }

// seen records id until expires and reports whether it was there already.
func (m *seenIDs) seen(id string, expires, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.pruned) > time.Minute {
		for k, exp := range m.ids {
			if now.After(exp) {
				delete(m.ids, k)
			}
		}
		m.pruned = now
	}
	if exp, ok := m.ids[id]; ok && !now.After(exp) {
		return true
	}
	m.ids[id] = expires
	return false
}

// readCapped reads at most max bytes; a longer body is a 413.
func readCapped(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, badRequest("could not read the request body")
	}
	if int64(len(b)) > max {
		return nil, echo.NewHTTPError(http.StatusRequestEntityTooLarge, "request body too large")
	}
	return b, nil
}

// decodeJSON decodes the verified body strictly: JSON content type, known
// fields only, one value.
func decodeJSON(c echo.Context, v any) error {
	if ct := c.Request().Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return badRequest("content type must be application/json")
		}
	}
	body, _ := c.Get("body").([]byte)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return badRequest("malformed JSON body: %s", jsonProblem(err))
	}
	if dec.More() {
		return badRequest("malformed JSON body: more than one value")
	}
	return nil
}

func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "field " + te.Field + " has the wrong type"
	}
	if errors.Is(err, io.EOF) {
		return "empty body"
	}
	msg := err.Error()
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
}

type checkoutRequest struct {
	OrderID   int64  `json:"order_id"`
	Gateway   string `json:"gateway"`
	OrderKey  string `json:"order_key"`
	ReturnURL string `json:"return_url"`
	CancelURL string `json:"cancel_url"`
	// PaidStatus is optional: the order status the shop's
	// woocommerce_payment_complete_order_status filter gives this order.
	PaidStatus string `json:"paid_status"`
}

type checkoutResponse struct {
	RedirectURL string              `json:"redirect_url"`
	Reused      bool                `json:"reused"`
	HoldUntil   time.Time           `json:"hold_until"`
	Payment     *bridge.PaymentView `json:"payment"`
}

func (s *Server) handleCheckout(c echo.Context) error {
	var req checkoutRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	fields := map[string]string{}
	if req.OrderID <= 0 {
		fields["order_id"] = "must be a positive order id"
	}
	if req.Gateway == "" {
		fields["gateway"] = "required"
	}
	if req.OrderKey == "" || len(req.OrderKey) > 100 {
		fields["order_key"] = "required"
	}
	for name, u := range map[string]string{"return_url": req.ReturnURL, "cancel_url": req.CancelURL} {
		if !validURL(u) {
			fields[name] = "must be an absolute http(s) URL"
		}
	}
	if req.PaidStatus != "" && req.PaidStatus != bridge.StatusProcessing && req.PaidStatus != bridge.StatusCompleted {
		fields["paid_status"] = "must be processing or completed"
	}
	if len(fields) > 0 {
		return &bridge.Error{Code: bridge.EINVALID, Message: "invalid checkout request", Fields: fields}
	}
	res, err := s.service.StartCheckout(c.Request().Context(), bridge.CheckoutRequest{
		OrderID: req.OrderID, Gateway: req.Gateway, OrderKey: req.OrderKey, ReturnURL: req.ReturnURL, CancelURL: req.CancelURL,
		PaidStatus: req.PaidStatus,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, checkoutResponse{RedirectURL: res.RedirectURL, Reused: res.Reused, HoldUntil: res.HoldUntil.UTC(), Payment: bridge.NewPaymentView(res.Payment)})
}

func validURL(raw string) bool {
	if raw == "" || len(raw) > 2000 {
		return false
	}
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func orderID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("order id must be a positive integer")
	}
	return id, nil
}

func (s *Server) handleOrderPayment(c echo.Context) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	v, err := s.service.OrderPayment(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) handleRecheck(c echo.Context) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	v, err := s.service.Recheck(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) handleCancelPayments(c echo.Context) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	v, err := s.service.CancelOrderPayments(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) handleStatus(c echo.Context) error {
	// ?probe=0: configuration only, no call to the gateways.
	r := s.service.Status(c.Request().Context(), s.CallbackURL, c.QueryParam("probe") != "0")
	r.Version, r.TablePrefix = s.cfg.Version, s.cfg.TablePrefix
	return c.JSON(http.StatusOK, r)
}

func (s *Server) handleSettings(c echo.Context) error {
	if s.cfg.Settings == nil {
		return bridge.Errorf(bridge.ENOTFOUND, "settings are not managed by this sidecar")
	}
	v, err := s.cfg.Settings.Settings(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"settings": v})
}

func (s *Server) handlePutSettings(c echo.Context) error {
	if s.cfg.Settings == nil {
		return bridge.Errorf(bridge.ENOTFOUND, "settings are not managed by this sidecar")
	}
	var req struct {
		Settings map[string]string `json:"settings"`
		// DryRun validates and stores nothing: the plugin's settings page
		// shows every problem at once before it saves anything anywhere.
		DryRun bool `json:"dry_run"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	put := s.cfg.Settings.PutSettings
	if req.DryRun {
		put = s.cfg.Settings.CheckSettings
	}
	if err := put(c.Request().Context(), req.Settings); err != nil {
		return err
	}
	return s.handleSettings(c)
}
