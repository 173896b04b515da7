// Package bridge is wcbridge's core: payments and their statuses, the outcome
// of a payment for a WooCommerce order, and the Service that starts checkouts,
// applies gateway results exactly once and reconciles what callbacks missed.
//
// It imports only the standard library and decimal. The adapters (woo for
// WooCommerce's tables, store for the sidecar's own tables, gateway/* for the
// payment gateways, api for HTTP) implement the small interfaces declared here.
package bridge

import (
	"errors"
	"fmt"
)

// Error codes, mapped to HTTP statuses in one place (package api).
const (
	EINVALID      = "invalid"       // bad input: 400 / 422
	EUNAUTHORIZED = "unauthorized"  // bad or missing signature: 401
	ENOTFOUND     = "not_found"     // 404
	ECONFLICT     = "conflict"      // state does not allow it: 409
	EINPROGRESS   = "in_progress"   // being done by another request; retry in a moment: 409
	EUNSUPPORTED  = "unsupported"   // e.g. a currency a gateway does not take: 422
	EGATEWAY      = "gateway_error" // the gateway refused or failed: 502
	EUNAVAILABLE  = "unavailable"   // a dependency is down, retry later: 503
	ERATELIMITED  = "rate_limited"  // too many requests from one client: 429
	EREPLAYED     = "replayed"      // a signed request received before, sent again: 401
	EINTERNAL     = "internal"      // 500
)

// Error is an application error with a machine-readable code and a message
// that is safe to show to a caller (never a secret, never SQL).
type Error struct {
	Code    string
	Message string
	Fields  map[string]string // per-field problems, for validation errors
	Err     error             // cause, for logs; not shown to callers
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrX) match any *Error with the same code and
// message, so a sentinel survives being re-created by an adapter.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Message == e.Message
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Sentinel errors shared by the adapters.
var (
	ErrOrderNotFound   = &Error{Code: ENOTFOUND, Message: "order not found"}
	ErrOrderType       = &Error{Code: ECONFLICT, Message: "not a shop order"}
	ErrPaymentMethod   = &Error{Code: ECONFLICT, Message: "order uses another payment method"}
	ErrOrderStatus     = &Error{Code: ECONFLICT, Message: "order status does not allow this change"}
	ErrPaymentNotFound = &Error{Code: ENOTFOUND, Message: "payment not found"}
	ErrLivePayment     = &Error{Code: ECONFLICT, Message: "order already has a live payment"}
	// ErrBeingCreated is a checkout while another one for the order is
	// still asking the gateway: the customer retries in a moment.
	ErrBeingCreated    = &Error{Code: EINPROGRESS, Message: "payment for this order is being created; retry in a moment"}
	ErrPaymentStatus   = &Error{Code: ECONFLICT, Message: "payment status does not allow this change"}
	ErrUnknownGateway  = &Error{Code: ENOTFOUND, Message: "unknown gateway"}
	ErrGatewayDisabled = &Error{Code: ECONFLICT, Message: "gateway is not enabled"}
	ErrCurrency        = &Error{Code: EUNSUPPORTED, Message: "currency not accepted by this gateway"}
	ErrSignature       = &Error{Code: EUNAUTHORIZED, Message: "signature invalid"}
	ErrNotSigned       = &Error{Code: EUNAUTHORIZED, Message: "request not signed"}
	ErrTooOld          = &Error{Code: EUNAUTHORIZED, Message: "signature expired"}
	// ErrMalformed is a callback whose signature is genuine but whose
	// content is unusable: the gateway (or whoever has its secret) sent
	// something wrong, not a forger.
	ErrMalformed = &Error{Code: EINVALID, Message: "callback malformed"}
	// ErrReplayed refuses a signed request whose id was received before.
	ErrReplayed = &Error{Code: EREPLAYED, Message: "request already received (replayed)"}
	// ErrRateLimited refuses a client that sent too much too fast.
	ErrRateLimited        = &Error{Code: ERATELIMITED, Message: "too many requests; retry later"}
	ErrUnavailable        = &Error{Code: EUNAVAILABLE, Message: "temporarily unavailable, retry later"}
	ErrStorageUnsupported = &Error{Code: ECONFLICT, Message: "woocommerce storage not usable"}
	// ErrOrderGone is WordPress saying the order no longer exists (deleted):
	// a notification about it is closed instead of retried.
	ErrOrderGone = &Error{Code: ENOTFOUND, Message: "wordpress no longer has the order"}
	// ErrWordPressDown is WordPress itself not answering a notification (no
	// connection, a timeout, a 5xx that is not the plugin's own answer), as
	// opposed to the plugin refusing one order's notification.
	ErrWordPressDown = &Error{Code: EUNAVAILABLE, Message: "wordpress is not answering"}
	// ErrBatchUnsupported is a plugin that refused a batch of notifications
	// (a version from before batches): they go one by one.
	ErrBatchUnsupported = &Error{Code: EINVALID, Message: "the plugin takes one notification per request"}
	// ErrLeaseLost is a replica recording the result of work whose lease ran
	// out and was taken by another replica: the other one records its own.
	ErrLeaseLost = &Error{Code: ECONFLICT, Message: "lease no longer held"}
	// ErrSuperseded is an order update made stale by a later status of the
	// same payment that reached the order first (OrderUpdate.SupersededBy).
	ErrSuperseded = &Error{Code: ECONFLICT, Message: "a later status of the payment has reached the order"}
)

// NewLease returns a lease id for one claim by owner (a replica's name):
// the owner, cut to 47 bytes, and 16 random hex digits, 64 bytes at most.
func NewLease(owner string) string {
	if len(owner) > 47 {
		owner = owner[:47]
	}
	return owner + "/" + randomHex(8)
}
