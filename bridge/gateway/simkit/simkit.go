// Package simkit is what the gateway simulators share: the vocabulary of
// what a customer can do to a payment (Mode), the Simulator interface that
// the end-to-end tests, the demo and `wcbridge simulate` drive, fault
// injection, the callback sender with retries, the /_sim control routes and
// the hosted pay page's frame.
//
// Each simulator lives beside its client (streampay/streampaysim, ...) with
// its own wire structs: a simulator never imports its client, so the two
// cannot agree by sharing code.
package simkit

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Mode is something a customer (or a test) does to a payment at the gateway.
type Mode string

// The modes every simulator understands (Cancel and Rest where the gateway
// has them; ErrUnsupported otherwise).
const (
	Exact  Mode = "exact"  // pay what was asked (what is still due)
	Under  Mode = "under"  // pay less than asked (90% unless configured)
	Over   Mode = "over"   // pay more than asked (110% unless configured)
	Rest   Mode = "rest"   // pay what is still missing after an underpayment
	Expire Mode = "expire" // let the payment's time run out now
	Late   Mode = "late"   // pay in full after the payment expired
	Cancel Mode = "cancel" // the customer leaves through the cancel link
)

// ParseMode reads a mode's name; "" is Exact.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return Exact, nil
	case Exact, Under, Over, Rest, Expire, Late, Cancel:
		return m, nil
	}
	return "", fmt.Errorf("%w: %q (exact, under, over, rest, expire, late or cancel)", ErrBadRequest, s)
}

// Errors of Act, shared so the control routes answer them alike.
var (
	// ErrUnknown: the simulator has no payment with that id (404).
	ErrUnknown = errors.New("simulator: unknown payment")
	// ErrUnsupported: the gateway has no such action (409), e.g. paying a
	// CryptoCloud invoice after it expired.
	ErrUnsupported = errors.New("simulator: not possible at this gateway")
	// ErrBadRequest: not a mode's name, not an amount (400).
	ErrBadRequest = errors.New("simulator: bad request")
)

// Simulator is one gateway's simulator as the end-to-end tests, the demo and
// `wcbridge simulate` drive it. It is a real HTTP server's handler.
type Simulator interface {
	http.Handler
	// Name is the gateway's short name ("streampay").
	Name() string
	// SetPublicURL sets the base of the hosted pages' links once the
	// server listens.
	SetPublicURL(u string)
	// SetCallbackURL sets where callbacks go; "" sends no new ones (a lost
	// callback).
	SetCallbackURL(u string)
	// Act does m to payment id; ErrUnknown, ErrUnsupported or a conflict
	// (already paid, already expired) otherwise.
	Act(id string, m Mode) error
	// Callbacks returns the log of callback deliveries, oldest first.
	Callbacks() []Delivery
	// CreateCalls counts creation requests that reached the simulator,
	// failed ones included.
	CreateCalls() int
	// FailNext, FailNextCreate and Hang inject faults (see Faults).
	FailNext(n, status int)
	FailNextCreate(n, status int)
	Hang(d time.Duration)
	// Close stops callback delivery and waits for it.
	Close()
}
