package bridge

import (
	"context"
	"net/http"
	"time"
)

// Gateway is what the bridge needs from a payment gateway. Implementations
// live in bridge/gateway/<name>.
type Gateway interface {
	// Name is the gateway's short name, as in configuration and callback
	// paths.
	Name() string
	// Capabilities tells what the gateway can do.
	Capabilities() Capabilities
	// CreatePayment creates a payment at the gateway. It is retried only
	// where the request provably did not reach the gateway, so a failure never
	// leaves two live payments for one order.
	CreatePayment(ctx context.Context, r CreatePaymentRequest) (*GatewayPayment, error)
	// PaymentState reads a payment's current state from the gateway.
	PaymentState(ctx context.Context, gatewayID string) (*GatewayState, error)
	// VerifyCallback authenticates a received callback from its raw bytes
	// and the request's header (a signature header, the content type),
	// without network calls. It returns ErrSignature (or a wrapped variant)
	// for anything forged, tampered, expired or malformed; nothing of an
	// unverified callback may count. A recorded callback is verified again
	// with only its content type in header.
	VerifyCallback(header http.Header, body []byte) (*CallbackEvent, error)
	// ConfirmCallback turns a verified callback into the payment's state,
	// confirming it through the gateway's status API where one exists.
	ConfirmCallback(ctx context.Context, ev *CallbackEvent) (*GatewayState, error)
}

// BatchGateway is implemented by gateways that read many payments per call.
type BatchGateway interface {
	// PaymentStates reads up to Capabilities().BatchSize payments; ids the
	// gateway does not know are missing from the result.
	PaymentStates(ctx context.Context, gatewayIDs []string) (map[string]*GatewayState, error)
}

// Canceler is implemented by gateways that can make a payment unpayable
// before it expires. A gateway without a cancel leaves its payments payable
// until they expire, and a payment arriving after that is handled as a late
// payment.
type Canceler interface {
	// CancelPayment cancels the payment at the gateway; it fails for a
	// payment that has already received money.
	CancelPayment(ctx context.Context, gatewayID string) error
}

// Capabilities describes a gateway.
type Capabilities struct {
	Callbacks  bool     // the gateway sends callbacks (else: polling only)
	BatchSize  int      // ids per status call when it implements BatchGateway; 0 = none
	Currencies []string // order currencies accepted (ISO 4217); empty means any
}

// CreatePaymentRequest is what the bridge asks a gateway to create.
type CreatePaymentRequest struct {
	OrderID     int64
	OrderRef    string // our reference, unique per attempt; sent as the gateway's order id where it has one (echoed as GatewayState.OrderRef)
	Amount      Money  // the order total in the order's currency
	Email       string
	Description string // e.g. "Order #123 at Shop"
	ReturnURL   string // where the customer goes after paying
	CancelURL   string // where the customer goes after cancelling
	Lifetime    time.Duration
}

// GatewayPayment is a payment the gateway created.
type GatewayPayment struct {
	GatewayID string
	URL       string // hosted payment page
	ExpiresAt time.Time
	Amount    Money // asked, in the gateway's comparable unit
	// UnitScale is the number of decimals of the integer amounts the
	// gateway's API counts in (8: 10^-8 of the token), 0 where its amounts
	// are decimals. The payment keeps it: its amounts are read at that scale
	// for as long as it lives, whatever the configuration says later.
	UnitScale int
}

// GatewayState is a payment's state as the gateway reports it, mapped to
// core statuses. Amount and Received are in one comparable unit.
type GatewayState struct {
	GatewayID string
	Status    PaymentStatus
	Amount    Money // asked
	Received  Money // received so far; zero when the gateway does not say
	TxRef     string
	ExpiresAt time.Time
	OrderRef  string // the reference the gateway echoes, where it does
	Test      bool   // created in the gateway's test mode
	// UnitScale is the scale at which Amount and Received were read from
	// the gateway's integer amounts (see GatewayPayment.UnitScale), 0 when
	// they are decimals. A payment created at another scale has them
	// rescaled to its own.
	UnitScale int
	// NotFound says the gateway does not know the payment (a gateway that
	// answers "not found" for expired payments); Status is then PaymentExpired. Before the payment's expiry
	// (the gateway's ExpiresAt where it says one, else the payment's own)
	// plus ExpiryGrace this means "not known here yet": nothing changes and
	// the payment is looked at again.
	NotFound bool
	// KeepPolling says the gateway has more to tell about a payment that is
	// otherwise final (e.g. paid, while its callback with the amounts is
	// still being retried): the reconciler keeps looking at it.
	KeepPolling bool
	// Attention is something the shop should look at although the report
	// counts (e.g. the gateway cannot deliver its callbacks); it becomes the
	// payment's last error, shown in the status report.
	Attention string
	// NotCounted says why the gateway's report does not count although it
	// says money arrived (e.g. paid in a test mode the shop has not allowed);
	// Status is then what counts (pending). The core tells the shop once: an
	// order note and the payment's last error, shown in the status report.
	NotCounted string
}

// CallbackEvent is a verified callback, before confirmation.
type CallbackEvent struct {
	Gateway   string
	GatewayID string
	OrderRef  string
	// Claimed is what the callback itself says; ConfirmCallback decides.
	Claimed GatewayState
	Raw     map[string]string // verified fields, for the callback log
}
