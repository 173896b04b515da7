package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"
)

// Gateways gives the currently configured gateways; the set can change at
// run time when the shop owner edits settings in WordPress.
type Gateways interface {
	// Gateway returns the named gateway: ErrUnknownGateway for a name that is
	// not one of ours, ErrGatewayDisabled when it is not enabled.
	Gateway(name string) (Gateway, error)
	// Names lists every gateway name wcbridge knows, enabled or not.
	Names() []string
}

// Notifier delivers a notification to WordPress; an error means "retry".
type Notifier interface {
	Notify(ctx context.Context, n *Notification) error
}

// BatchNotifier is a Notifier that can also deliver many notifications in
// one request (the plugin's notify endpoint takes a batch).
type BatchNotifier interface {
	// NotifyBatch sends ns in one request and returns one error per
	// notification: nil for each WordPress finished (or had finished). A
	// failure of the request as a whole is every notification's error; a
	// plugin that takes no batches gives ErrBatchUnsupported.
	NotifyBatch(ctx context.Context, ns []*Notification) []error
}

// PaymentMethodPrefix is prepended to a gateway's name to form the
// WooCommerce payment method id the plugin registers.
const PaymentMethodPrefix = "wcbridge_"

// Service holds what the core's use cases need; each use case is in a file
// named for it: starting a checkout (checkout.go), receiving callbacks
// (callback.go), recording what a gateway reports to the payment and the
// order exactly once (apply.go, outcome.go), reconciling payments the
// callbacks missed (reconcile.go), notifying WordPress (notify.go) and the
// workers that run them (run.go).
type Service struct {
	Orders   Orders
	Payments Payments
	// Applier applies gateway reports, each in one transaction with its
	// order change, notification and callback.
	Applier   Applier
	Callbacks Callbacks
	Outbox    Outbox
	Gateways  Gateways
	Notifier  Notifier
	Policy    func() Policy
	Now       func() time.Time
	Logger    *slog.Logger
	// Owner names this replica in leases (hostname + random suffix).
	Owner string
	// CheckDelay spaces the reconciler's looks at a payment by its age
	// (default: every 15s while young, up to hourly once a day old).
	CheckDelay func(age time.Duration) time.Duration
	// CreateTimeout bounds a checkout's call to the gateway (default
	// DefaultCreateTimeout). It must end before the plugin stops waiting for
	// the sidecar (10 seconds), so the customer always gets an answer.
	CreateTimeout time.Duration
	// OnOutcome, when set, is told each payment status applied to an order
	// (metrics).
	OnOutcome func(gateway string, status PaymentStatus)
	// Titles names a gateway in order notes by its display title; default
	// (or "") its short name.
	Titles func(gateway string) string
	// Rejections keeps refused callbacks in memory (default: one log line
	// per gateway per minute).
	Rejections *Rejections
	// CallbackWorkers, Notifiers and NotificationBatch bound the work done
	// at once: callbacks confirmed and applied (DefaultCallbackWorkers),
	// requests to WordPress in flight (DefaultNotifiers) and events per
	// request (DefaultNotificationBatch). WorkerConfig may override them.
	CallbackWorkers   int
	Notifiers         int
	NotificationBatch int
	// LeaseFor is how long a replica holds what it claims (default 30s);
	// NotifyBudget the longest a request to WordPress may take
	// (DefaultNotifyBudget), which a lease must still cover when it starts.
	LeaseFor     time.Duration
	NotifyBudget time.Duration

	// Callback work handed from the HTTP handler to the workers as it is
	// being recorded (inbound); when it is full, the periodic sweep picks
	// the callback up from the database.
	queue chan *inbound
	kick  chan struct{}
	sweep chan struct{}
	// callbackWorkers is WorkerConfig.CallbackWorkers once Run started.
	callbackWorkers *atomic.Int64
	notifyWorkers   *atomic.Int64
	notifyBatch     *atomic.Int64
	noBatchesUntil  *atomic.Int64 // unix ns: notifications go one by one until then
	confirming      *confirmers
	receipts        *receipts
	arriving        *arriving     // callbacks being recorded, by body
	lag             *atomic.Int64 // nanoseconds the last reconcile pass ran behind schedule
	backlog         *atomic.Int64
	backlogAt       time.Time    // when backlog was last counted (delivery loop only)
	wpDown          *atomic.Bool // WordPress failed to answer the last notification tried
}

// OutboxBacklog is the number of undelivered notifications at the last pass.
func (s *Service) OutboxBacklog() int64 { return s.backlog.Load() }

// ReconcileLag is how far behind schedule the last reconcile pass found the
// most overdue payment.
func (s *Service) ReconcileLag() time.Duration { return time.Duration(s.lag.Load()) }

// NewService returns a Service with its defaults filled in.
func NewService(s Service) *Service {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Policy == nil {
		s.Policy = DefaultPolicy
	}
	if s.CheckDelay == nil {
		s.CheckDelay = checkDelay
	}
	if s.CreateTimeout <= 0 {
		s.CreateTimeout = DefaultCreateTimeout
	}
	if s.Owner == "" {
		s.Owner = "wcbridge-" + randomHex(4)
	}
	if s.Rejections == nil {
		s.Rejections = NewRejections(time.Minute)
	}
	s.queue = make(chan *inbound, 1024)
	s.kick = make(chan struct{}, 1)
	s.sweep = make(chan struct{}, 1)
	s.callbackWorkers = new(atomic.Int64)
	s.confirming = &confirmers{by: map[string]*confirmBatches{}}
	s.receipts = &receipts{}
	s.arriving = &arriving{}
	s.notifyWorkers = new(atomic.Int64)
	s.notifyBatch = new(atomic.Int64)
	s.callbackWorkers.Store(int64(s.CallbackWorkers))
	s.notifyWorkers.Store(int64(s.Notifiers))
	s.notifyBatch.Store(int64(s.NotificationBatch))
	s.noBatchesUntil = new(atomic.Int64)
	s.lag = new(atomic.Int64)
	s.backlog = new(atomic.Int64)
	s.wpDown = new(atomic.Bool)
	return &s
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func (s *Service) now() time.Time { return s.Now().UTC() }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// gatewayTitle is the gateway's title for order notes.
func (s *Service) gatewayTitle(name string) string {
	if s.Titles != nil {
		if t := s.Titles(name); t != "" {
			return t
		}
	}
	return name
}
