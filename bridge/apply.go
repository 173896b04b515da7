package bridge

import "context"

// Applier applies what a gateway reported in one database transaction: the
// payment's new state, the change to its WooCommerce order, the notification
// for WordPress and the callback that brought the report are committed
// together or not at all, with one commit.
type Applier interface {
	// ApplyPayment reads the payment ref names under a row lock
	// (ErrPaymentNotFound when there is none) and calls fn with a copy and
	// the orders of the same transaction. Unless fn fails, the copy
	// is written back (a status change CanMove refuses is ErrPaymentStatus,
	// as with Payments.UpdatePayment), fn's notification is queued, cb (when
	// not nil) is recorded applied with cb.Reason, and the transaction
	// commits. When the server picks the transaction as a deadlock victim or
	// a lock wait times out, everything is rolled back and fn runs again in
	// a new transaction (a few times). ID, OrderID, Gateway, Reference,
	// CreatedAt and PaidStatus cannot be changed.
	ApplyPayment(ctx context.Context, ref PaymentRef, cb *AppliedCallback, fn ApplyFunc) (*Payment, error)
}

// PaymentRef names a payment: by ID, or, when ID is 0, by the gateway's id
// for it.
type PaymentRef struct {
	ID        int64
	Gateway   string
	GatewayID string
}

// ApplyFunc changes p inside an Applier's transaction, where tx reads and
// writes orders, and returns the notification to queue (nil: none).
type ApplyFunc func(ctx context.Context, tx OrderTx, p *Payment) (*Notification, error)

// OrderTx is what applying a report does to orders and reads of payments,
// inside the Applier's transaction. An ApplyOrder refused with ErrOrderStatus
// or ErrPaymentMethod has written nothing.
type OrderTx interface {
	Order(ctx context.Context, id int64) (*Order, error)
	ApplyOrder(ctx context.Context, u OrderUpdate) (*OrderResult, error)
	OrderPayments(ctx context.Context, orderID int64) ([]*Payment, error)
}

// AppliedCallback is the recorded callback whose report an ApplyPayment
// applies, marked applied in the same transaction. As with
// Callbacks.FinishCallback, the lease is checked: when another replica took
// the callback meanwhile, only the fact that it was applied is recorded and
// LeaseLost is set.
type AppliedCallback struct {
	ID     int64
	Lease  string
	Reason string // set by the ApplyFunc: what applying it did
	// LeaseLost is set by ApplyPayment when the lease was no longer held.
	LeaseLost bool

	recorded bool // the transaction that recorded it committed
}
