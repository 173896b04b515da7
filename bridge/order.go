package bridge

import (
	"context"
	"encoding/json"
	"time"

	"github.com/shopspring/decimal"
)

// StorageMode is how a WooCommerce store keeps its orders (docs/woocommerce-tables.md §1).
type StorageMode string

const (
	StoragePosts     StorageMode = "posts"      // A: posts authoritative, no sync
	StoragePostsSync StorageMode = "posts+sync" // B: posts authoritative, HPOS kept in sync
	StorageHPOSSync  StorageMode = "hpos+sync"  // C: HPOS authoritative, posts kept in sync
	StorageHPOS      StorageMode = "hpos"       // D: HPOS only (default for new stores)
)

// Order statuses as WooCommerce's PHP code names them (without the "wc-"
// prefix that the database stores).
const (
	StatusPending       = "pending"
	StatusProcessing    = "processing"
	StatusOnHold        = "on-hold"
	StatusCompleted     = "completed"
	StatusCancelled     = "cancelled"
	StatusRefunded      = "refunded"
	StatusFailed        = "failed"
	StatusCheckoutDraft = "checkout-draft"
)

// IsPaidStatus reports whether WooCommerce counts an order status as paid.
func IsPaidStatus(s string) bool { return s == StatusProcessing || s == StatusCompleted }

// Order is a WooCommerce order as the bridge needs it. Amounts are exact.
type Order struct {
	ID                 int64
	Type               string // shop_order, shop_order_refund, ...
	Status             string // without the wc- prefix
	Currency           string
	Total              decimal.Decimal
	OrderKey           string
	PaymentMethod      string
	PaymentMethodTitle string
	BillingEmail       string
	TransactionID      string
	CreatedAt          time.Time  // UTC
	ModifiedAt         time.Time  // UTC
	PaidAt             *time.Time // UTC, nil when not paid
	Items              []OrderItem
	Meta               map[string]string // the bridge's own order meta (keys starting with _wcbridge_)
}

// OrderItem is one line item of an order.
type OrderItem struct {
	ID           int64
	Name         string
	ProductID    int64
	VariationID  int64
	Quantity     decimal.Decimal
	Total        decimal.Decimal
	Virtual      bool
	Downloadable bool
}

// NeedsProcessing mirrors WC_Order::needs_processing(): true when at least
// one line item is not both virtual and downloadable.
func (o *Order) NeedsProcessing() bool {
	for _, it := range o.Items {
		if !(it.Virtual && it.Downloadable) {
			return true
		}
	}
	return false
}

// OrderOutcome is what the bridge asks the store to do to an order.
type OrderOutcome string

const (
	OutcomePaid      OrderOutcome = "paid"      // processing, or completed when nothing needs processing
	OutcomeOnHold    OrderOutcome = "on-hold"   // underpaid or needs review
	OutcomeFailed    OrderOutcome = "failed"    // payment failed
	OutcomeCancelled OrderOutcome = "cancelled" // payment expired or was cancelled
	OutcomeNote      OrderOutcome = "note"      // add a note (and meta) only
)

// OrderUpdate is one outcome applied to one order, in one transaction.
type OrderUpdate struct {
	OrderID int64
	Outcome OrderOutcome
	// EventID makes the update idempotent: an update whose EventID was
	// already applied to the order changes nothing and adds no note.
	EventID string
	// ReplaceNote, on a note-only update, makes a repeated EventID replace
	// the text of the note it wrote before (when it differs) instead of
	// doing nothing: one note per event that always says the latest.
	ReplaceNote bool
	// PaymentMethod the order must have (the WooCommerce gateway id, e.g.
	// PaymentMethodPrefix + the gateway's name); another method is refused with ErrPaymentMethod.
	PaymentMethod string
	TransactionID string // set on paid outcomes when not empty
	Note          string // the order note; required
	CustomerNote  bool   // the note is shown to the customer
	// PaidStatus overrides the status of a paid outcome: "" decides from the
	// line items (processing, or completed for virtual+downloadable only),
	// otherwise StatusProcessing or StatusCompleted.
	PaidStatus string
	// LateOutcome and LateNote apply when the order turns out, under the
	// update's lock, to be cancelled (WooCommerce's unpaid-order timer
	// cancelled it while the customer paid): LateOutcome replaces Outcome
	// and LateNote is appended to Note. Empty: no special case.
	LateOutcome OrderOutcome
	LateNote    string
	Meta        map[string]string // bridge order meta to upsert (keys start with _wcbridge_)
	At          time.Time         // the instant to stamp; zero means now

	// SupersededBy lists events that make this update stale once any of
	// them has reached the order: the outcomes of the payment's later
	// statuses, applied meanwhile by a worker that read a newer report.
	// Checked under the order's lock, after EventID: a stale update writes
	// nothing and returns ErrSuperseded.
	SupersededBy []string
}

// OrderResult reports what an OrderUpdate did.
type OrderResult struct {
	Changed   bool   // the status changed
	Duplicate bool   // the EventID had already been applied: nothing was written (but a replaced note)
	From, To  string // statuses without prefix (equal when unchanged)
	NoteID    int64  // 0 when no note was written
	At        time.Time
}

// Orders reads and updates WooCommerce orders.
type Orders interface {
	// Order reads an order; ErrOrderNotFound when there is none.
	Order(ctx context.Context, id int64) (*Order, error)
	// ApplyOrder applies one outcome atomically and idempotently. A paid,
	// completed or refunded order is never moved backwards: such a change
	// returns ErrOrderStatus and writes nothing. A paid outcome on an order
	// that is already paid returns Changed=false and writes nothing. An
	// update one of whose SupersededBy events the order has returns
	// ErrSuperseded and writes nothing.
	ApplyOrder(ctx context.Context, u OrderUpdate) (*OrderResult, error)
	// StorageMode detects the store's current storage mode.
	StorageMode(ctx context.Context) (StorageMode, error)
}

// Order meta keys whose names are easy to confuse. The two payment ids keep
// the names of the first version, so the orders of a shop that upgrades keep
// working; docs/plugin-api.md ("Order meta") lists every key and who writes
// it.
const (
	// MetaGatewayPaymentID holds the gateway's id of the payment the order's
	// status comes from (Payment.GatewayID). The sidecar owns it: it writes
	// it with every outcome it applies and reads it to tell a second payment
	// from the one that paid. The plugin writes it once at checkout, before
	// any outcome, so the order shows where the customer was sent.
	MetaGatewayPaymentID = "_wcbridge_payment_id"
	// MetaSidecarPaymentID holds the sidecar's own id of the payment
	// (Payment.ID, the plugin API's payment.id), written by the plugin at
	// checkout. Its key says "ref" for history: it is not Payment.OrderRef.
	MetaSidecarPaymentID = "_wcbridge_payment_ref"
	// MetaPayment holds the payment's figures at the last outcome the
	// sidecar applied, as one compact JSON object (PaymentMeta): one meta
	// row per order, rewritten in place, instead of one per figure. Orders
	// written before it have the keys _wcbridge_payment_status,
	// _wcbridge_amount, _wcbridge_currency, _wcbridge_received and
	// _wcbridge_tx_ref instead, which the plugin reads when MetaPayment is
	// absent.
	MetaPayment = "_wcbridge_payment"
)

// PaymentMeta is the value of MetaPayment. Its field names are part of the
// plugin API (docs/plugin-api.md, "Order meta"): money is a decimal string
// in the order's currency; Received and TxRef are left out while unknown.
// The fields are written in this order, so the same figures always make the
// same text and an unchanged value is not written again.
type PaymentMeta struct {
	Status   PaymentStatus `json:"status"`
	Amount   string        `json:"amount"`
	Currency string        `json:"currency"`
	Received string        `json:"received,omitempty"`
	TxRef    string        `json:"tx_ref,omitempty"`
}

// paymentMeta is the MetaPayment value of p's figures.
func paymentMeta(p *Payment) string {
	m := PaymentMeta{Status: p.Status, Amount: p.Amount.Amount.String(), Currency: p.Amount.Currency, TxRef: p.TxRef}
	if !p.Received.IsZero() {
		m.Received = p.Received.Amount.String()
	}
	b, _ := json.Marshal(m) // strings only: it cannot fail
	return string(b)
}
