package simkit

import (
	"encoding/json"
	"errors"
	"net/http"
)

// Controlled is what the control routes need from a simulator.
type Controlled interface {
	Act(id string, m Mode) error
	// Show returns what GET /_sim/{id} answers (the gateway's own view of
	// the payment), false for an unknown id.
	Show(id string) (any, bool)
}

// AmountPayer is implemented by simulators that take an exact amount on
// POST /_sim/{id}/pay?amount=..., in the gateway's own units.
type AmountPayer interface {
	PayAmount(id, amount string) error
}

// Controls registers the control routes on mux, the same at every gateway:
//
//	GET  /_sim/{id}                  the payment as the gateway sees it
//	POST /_sim/{id}/pay?mode=exact   exact (default), under, over, rest, late
//	POST /_sim/{id}/pay?amount=N     where the simulator is an AmountPayer
//	POST /_sim/{id}/expire           let it expire now
//	POST /_sim/{id}/cancel           the customer cancels
//
// An action answers the payment as GET does; errors are {"error": "..."}
// with 404 for an unknown payment, 400 for an unknown mode, 409 for an
// action the payment or the gateway does not allow.
func Controls(mux *http.ServeMux, c Controlled) {
	show := func(w http.ResponseWriter, id string) {
		v, ok := c.Show(id)
		if !ok {
			WriteJSON(w, http.StatusNotFound, map[string]string{"error": ErrUnknown.Error()})
			return
		}
		WriteJSON(w, http.StatusOK, v)
	}
	mux.HandleFunc("GET /_sim/{id}", func(w http.ResponseWriter, r *http.Request) { show(w, r.PathValue("id")) })
	mux.HandleFunc("POST /_sim/{id}/{action}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		var err error
		switch action := r.PathValue("action"); action {
		case "pay":
			if a := r.URL.Query().Get("amount"); a != "" {
				if ap, ok := c.(AmountPayer); ok {
					err = ap.PayAmount(id, a)
				} else {
					err = ErrUnsupported
				}
				break
			}
			var m Mode
			if m, err = ParseMode(r.URL.Query().Get("mode")); err == nil {
				if m == Expire || m == Cancel {
					err = errors.Join(ErrBadRequest, errors.New("use /_sim/{id}/"+string(m)))
				} else {
					err = c.Act(id, m)
				}
			}
		case "expire", "cancel":
			err = c.Act(id, Mode(action))
		default:
			err = errors.Join(ErrBadRequest, errors.New("action must be pay, expire or cancel"))
		}
		if err != nil {
			WriteJSON(w, ErrorStatus(err), map[string]string{"error": err.Error()})
			return
		}
		show(w, id)
	})
}

// ErrorStatus is the HTTP status of an Act error: 404, 400 or 409.
func ErrorStatus(err error) int {
	switch {
	case errors.Is(err, ErrUnknown):
		return http.StatusNotFound
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	}
	return http.StatusConflict
}

// WriteJSON answers v as JSON, without HTML escaping (URLs stay readable).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
