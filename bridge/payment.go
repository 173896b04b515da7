package bridge

import (
	"context"
	"time"

	"github.com/shopspring/decimal"
)

// PaymentStatus is the core's view of a gateway payment.
type PaymentStatus string

const (
	PaymentCreating  PaymentStatus = "creating"  // live slot reserved, gateway call under way
	PaymentPending   PaymentStatus = "pending"   // created, nothing (or not enough yet) received
	PaymentUnderpaid PaymentStatus = "underpaid" // less than asked (beyond tolerance) received
	PaymentPaid      PaymentStatus = "paid"      // the asked amount (within tolerance) received
	PaymentOverpaid  PaymentStatus = "overpaid"  // more than asked received
	PaymentExpired   PaymentStatus = "expired"   // lifetime over, nothing received
	PaymentCancelled PaymentStatus = "cancelled" // cancelled at the gateway
	PaymentFailed    PaymentStatus = "failed"    // creation failed; never reached the customer
)

// Live reports whether a payment still holds its order's single live slot:
// a repeated checkout reuses it instead of creating a second one.
func (s PaymentStatus) Live() bool {
	return s == PaymentCreating || s == PaymentPending || s == PaymentUnderpaid
}

// Settled reports whether the money asked for has arrived.
func (s PaymentStatus) Settled() bool { return s == PaymentPaid || s == PaymentOverpaid }

// Final reports whether the reconciler has nothing left to ask the gateway
// about the payment: the money asked for has arrived, or the payment never
// reached the customer. A callback can still bring news for both: a larger
// verified amount (paid to overpaid), or money on an invoice whose creation
// was reported failed (failed to underpaid, paid or overpaid).
func (s PaymentStatus) Final() bool { return s.Settled() || s == PaymentFailed }

// Money reports whether the status says money arrived.
func (s PaymentStatus) Money() bool {
	return s == PaymentUnderpaid || s == PaymentPaid || s == PaymentOverpaid
}

// CanMove reports whether a payment may go from s to next. Statuses only move
// forward, and every move that money makes is allowed from every status
// that has not counted all of it yet: an underpayment may be topped up; a
// late payment may still settle an expired or cancelled payment; a payment
// whose creation failed at our end may have been made at the gateway all
// the same and paid; and a paid payment may turn out overpaid when a larger
// verified amount is reported later. Overpaid is terminal.
func (s PaymentStatus) CanMove(next PaymentStatus) bool {
	if s == next {
		return false
	}
	switch s {
	case PaymentCreating:
		return next != PaymentCreating
	case PaymentPending:
		return next != PaymentCreating && next != PaymentFailed
	case PaymentUnderpaid:
		return next == PaymentPaid || next == PaymentOverpaid || next == PaymentExpired || next == PaymentCancelled
	case PaymentExpired, PaymentCancelled, PaymentFailed:
		return next.Money()
	case PaymentPaid:
		return next == PaymentOverpaid
	}
	return false
}

// Money is an exact amount with its currency (ISO 4217 for fiat, the
// gateway's code for a token).
type Money struct {
	Amount   decimal.Decimal
	Currency string
}

// IsZero reports whether m carries no amount.
func (m Money) IsZero() bool { return m.Currency == "" && m.Amount.IsZero() }

func (m Money) String() string { return m.Amount.String() + " " + m.Currency }

// Payment is one attempt to pay one order through one gateway.
type Payment struct {
	ID        int64
	OrderID   int64
	Gateway   string
	GatewayID string // the gateway's payment id; "" while creating
	// OrderRef is our unique reference for this attempt, sent to the gateway
	// as its order id where it takes one. (The order meta
	// _wcbridge_payment_ref holds ID, not this: see MetaSidecarPaymentID.)
	OrderRef string
	Status   PaymentStatus
	Amount   Money // what the order asked, in the order's currency
	Received Money // what arrived, converted to the order's currency (zero until known)
	// GatewayAmount and GatewayReceived are the gateway's own figures in one
	// comparable unit (e.g. USD, or the token paid with).
	GatewayAmount   Money
	GatewayReceived Money
	// UnitScale is the scale of the gateway's integer amounts this payment
	// was created with (GatewayPayment.UnitScale); 0 when its amounts are
	// decimals, or for a payment created before scales were recorded.
	UnitScale int
	TxRef     string // transaction reference (hash) where reported
	PayURL    string // the gateway's hosted page
	ExpiresAt time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
	// AppliedStatus is the last status whose order outcome was applied to
	// WooCommerce; it differs from Status while an application is due.
	AppliedStatus PaymentStatus
	NextCheckAt   time.Time // when the reconciler looks next
	Checks        int       // how many times the reconciler has looked
	Failures      int       // the reconciler's consecutive failed looks (reset by a good one)
	// Watch keeps the reconciler looking at a final payment the gateway still
	// has news for (GatewayState.KeepPolling).
	Watch     bool
	LastError string
	// PaidStatus is the order status the shop's WooCommerce gives a paid
	// order (StatusProcessing or StatusCompleted), as the plugin evaluated
	// it at checkout; "" lets the policy decide.
	PaidStatus string
	// Lease is the claim under which this replica holds the payment (set by
	// ClaimDue), "" when it holds none.
	Lease string
}

// ApplyDue reports whether the payment's status still has to reach the
// order. Creating, pending and failed never change an order.
func (p *Payment) ApplyDue() bool {
	switch p.Status {
	case PaymentCreating, PaymentPending, PaymentFailed:
		return false
	}
	return p.Status != p.AppliedStatus
}

// PaymentFilter selects payments for the reconciler.
type PaymentFilter struct {
	Gateway string
	DueAt   time.Time // NextCheckAt <= DueAt
	Limit   int
}

// Payments stores payments; implementations are safe for several sidecar
// replicas sharing one database.
type Payments interface {
	// CreatePayment inserts p (status creating or pending), taking its order's
	// single live slot. If another live payment holds it, it returns that
	// payment and ErrLivePayment. It sets p.ID.
	CreatePayment(ctx context.Context, p *Payment) (*Payment, error)
	// Payment reads one payment by id.
	Payment(ctx context.Context, id int64) (*Payment, error)
	// PaymentByGatewayID finds a payment by the gateway's id.
	PaymentByGatewayID(ctx context.Context, gateway, gatewayID string) (*Payment, error)
	// PaymentByOrderRef finds a payment by our reference.
	PaymentByOrderRef(ctx context.Context, reference string) (*Payment, error)
	// OrderPayments lists an order's payments, newest first.
	OrderPayments(ctx context.Context, orderID int64) ([]*Payment, error)
	// UpdatePayment reads the payment locked, lets fn change it, and writes
	// it back in one transaction. When fn returns an error nothing is written.
	// A status change that the payment's status does not allow (CanMove) is
	// refused with ErrPaymentStatus by the store as a second line of defence.
	// If notify is non-nil it is queued in the outbox in the same transaction.
	UpdatePayment(ctx context.Context, id int64, fn func(p *Payment) (notify *Notification, err error)) (*Payment, error)
	// ClaimDue leases up to f.Limit non-final payments whose NextCheckAt has
	// come, oldest due first, to a new lease of owner for lease (each
	// payment's Lease); another replica will not get them until the lease
	// ends. Payments whose application is due come too.
	ClaimDue(ctx context.Context, owner string, f PaymentFilter, lease time.Duration) ([]*Payment, error)
	// Reschedule records the reconciler's looks at many payments in few
	// statements: each payment's next check, one more check counted, the
	// error where one is given, and the plan's lease released. Payments no
	// longer held by the plan's lease are left alone.
	Reschedule(ctx context.Context, plans []Reschedule) error
	// PaymentProblems summarises, per gateway, the payments still watched
	// whose last look left an error (the gateway failing, money that does
	// not count): how many, and the latest.
	PaymentProblems(ctx context.Context) (map[string]PaymentProblem, error)
}

// PaymentProblem is what the status report shows about a gateway's
// payments that need attention.
type PaymentProblem struct {
	Count     int
	OrderID   int64 // of the latest
	PaymentID int64
	Error     string
	At        time.Time
}

// Reschedule is the reconciler's plan for one payment after a look.
type Reschedule struct {
	ID          int64
	Lease       string // the claim that holds the payment
	NextCheckAt time.Time
	LastError   string // "" keeps the payment's last error as it is
	Failed      bool   // the look failed: one more consecutive failure (else the count restarts)
}

// Callback is one received gateway callback, recorded before it counts.
type Callback struct {
	ID          int64
	Gateway     string
	ReceivedAt  time.Time
	ContentType string
	Body        []byte
	BodyHash    string // hex sha256 of Body: identical redeliveries are recorded once
	Verified    bool
	Reason      string // why it was rejected, or what applying it did
	PaymentKey  string // the gateway's payment id named by the callback
	AppliedAt   *time.Time
	Attempts    int
	// NextAttemptAt is when a sweep may take the callback up; zero means at
	// once.
	NextAttemptAt time.Time
	// Lease is the claim under which this replica holds the callback, ""
	// when it holds none. The replica that receives a callback processes it
	// from memory and records it leased to itself for LeaseFor, so that no
	// sweep takes it up meanwhile.
	Lease    string
	LeaseFor time.Duration
}

// Callbacks records callbacks durably and hands unapplied ones to workers.
type Callbacks interface {
	// RecordCallback stores c; an identical body already recorded for the
	// gateway returns the existing record and duplicate=true.
	RecordCallback(ctx context.Context, c *Callback) (existing *Callback, duplicate bool, err error)
	// RecordCallbacks records cs as RecordCallback would record each in
	// turn, with one statement and at most one commit for all: one result
	// per callback, in order; a second copy of a body in cs is a duplicate
	// of the first. An error means none, some or all may be recorded.
	RecordCallbacks(ctx context.Context, cs []*Callback) ([]CallbackResult, error)
	// ClaimCallbacks leases verified, unapplied callbacks that are due.
	ClaimCallbacks(ctx context.Context, owner string, limit int, lease time.Duration) ([]*Callback, error)
	// FinishCallback marks a callback applied or schedules a retry, and
	// releases lease. A retry is recorded only while lease still holds the
	// callback (else ErrLeaseLost); "applied" is recorded in any case.
	FinishCallback(ctx context.Context, id int64, lease, reason string, applied bool, retryAt time.Time) error
	// LastCallbacks returns, per gateway, when the last accepted callback
	// arrived. (Refused ones are never stored: see Rejections.)
	LastCallbacks(ctx context.Context) (map[string]CallbackSummary, error)
}

// CallbackSummary is what the admin page shows about a gateway's stored
// callbacks.
type CallbackSummary struct {
	LastAccepted *time.Time
}

// Notification tells WordPress that the sidecar changed an order, so the
// plugin can finish it (stock, e-mails, hooks) exactly once.
type Notification struct {
	ID          int64
	EventID     string // unique; the plugin finishes each EventID once
	OrderID     int64
	Payload     []byte // JSON, see docs/plugin-api.md
	Attempts    int
	NextAttempt time.Time
	DeliveredAt *time.Time
	LastError   string
	CreatedAt   time.Time
	Lease       string // the claim under which this replica holds it
}

// Outbox hands queued notifications to the delivery worker.
type Outbox interface {
	// Enqueue queues n unless its EventID is already queued.
	Enqueue(ctx context.Context, n *Notification) error
	// ClaimNotifications leases up to limit due notifications to a new lease
	// of owner (each one's Lease), never one whose order has an earlier
	// undelivered notification the claim did not get.
	ClaimNotifications(ctx context.Context, owner string, limit int, lease time.Duration) ([]*Notification, error)
	// FinishNotification records a delivery attempt and releases lease. A
	// failure is recorded only while lease still holds the notification
	// (else ErrLeaseLost); a delivery is recorded in any case.
	FinishNotification(ctx context.Context, id int64, lease string, delivered bool, lastError string, nextAttempt time.Time) error
	// FinishDelivered records many notifications delivered, as
	// FinishNotification does for each.
	FinishDelivered(ctx context.Context, lease string, ids []int64) error
	// RenewNotifications extends lease to d from now on those of ids it
	// still holds, and returns them.
	RenewNotifications(ctx context.Context, lease string, ids []int64, d time.Duration) ([]int64, error)
	// RetryNow makes every undelivered notification due now and returns how
	// many were waiting for a later attempt.
	RetryNow(ctx context.Context) (int, error)
	// Backlog counts undelivered notifications.
	Backlog(ctx context.Context) (int, error)
}

// Shortfall is what is still missing on an underpaid payment.
func (p *Payment) Shortfall() decimal.Decimal {
	if p.Status != PaymentUnderpaid || p.Received.IsZero() {
		return decimal.Zero
	}
	d := p.Amount.Amount.Sub(p.Received.Amount)
	if d.IsNegative() {
		return decimal.Zero
	}
	return d
}

// Excess is what was paid beyond the order total.
func (p *Payment) Excess() decimal.Decimal {
	if p.Received.IsZero() {
		return decimal.Zero
	}
	d := p.Received.Amount.Sub(p.Amount.Amount)
	if d.IsNegative() {
		return decimal.Zero
	}
	return d
}
