package bridge

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// The fakes below stand in for the store and WooCommerce in the core's unit
// tests. They keep the rules the real adapters enforce that the core relies
// on (CanMove as a second line of defence, idempotency by event id, a paid
// order never moving back); the adapters themselves are tested against
// MariaDB in their own packages and end to end in cmd/wcbridge.

type fakeOrders struct {
	mu     sync.Mutex
	orders map[int64]*Order
	events map[int64]map[string]bool
	notes  map[int64][]fakeNote
	// afterApply, when set, runs after each update that was written, before
	// ApplyOrder returns: what another worker does in that instant.
	afterApply func(u OrderUpdate)
}

type fakeNote struct {
	event, text string
	customer    bool
}

func newFakeOrders() *fakeOrders {
	return &fakeOrders{orders: map[int64]*Order{}, events: map[int64]map[string]bool{}, notes: map[int64][]fakeNote{}}
}

func (f *fakeOrders) add(o *Order) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o.Meta == nil {
		o.Meta = map[string]string{}
	}
	f.orders[o.ID] = o
	f.events[o.ID] = map[string]bool{}
}

func (f *fakeOrders) Order(_ context.Context, id int64) (*Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.orders[id]
	if !ok {
		return nil, ErrOrderNotFound
	}
	c := *o
	c.Meta = map[string]string{}
	for k, v := range o.Meta {
		c.Meta[k] = v
	}
	return &c, nil
}

func (f *fakeOrders) StorageMode(context.Context) (StorageMode, error) { return StorageHPOS, nil }

func (f *fakeOrders) ApplyOrder(ctx context.Context, u OrderUpdate) (*OrderResult, error) {
	res, err := f.apply(u)
	if err == nil && !res.Duplicate && f.afterApply != nil {
		f.afterApply(u)
	}
	return res, err
}

func (f *fakeOrders) apply(u OrderUpdate) (*OrderResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.orders[u.OrderID]
	if !ok {
		return nil, ErrOrderNotFound
	}
	if o.PaymentMethod != u.PaymentMethod {
		return nil, ErrPaymentMethod
	}
	from := o.Status
	if f.events[o.ID][u.EventID] {
		res := &OrderResult{Duplicate: true, From: from, To: from}
		if u.ReplaceNote {
			for i, n := range f.notes[o.ID] {
				if n.event == u.EventID && n.text != u.Note {
					f.notes[o.ID][i].text = u.Note
					res.NoteID = int64(i + 1)
				}
			}
		}
		return res, nil
	}
	for _, e := range u.SupersededBy {
		if f.events[o.ID][e] {
			return nil, ErrSuperseded
		}
	}
	if from == StatusCancelled && u.LateOutcome != "" {
		u.Outcome, u.Note = u.LateOutcome, u.Note+" "+u.LateNote
	}
	to := from
	switch u.Outcome {
	case OutcomeNote:
	case OutcomePaid:
		if IsPaidStatus(from) {
			return &OrderResult{From: from, To: from}, nil
		}
		to = StatusProcessing
	case OutcomeOnHold, OutcomeCancelled, OutcomeFailed:
		if IsPaidStatus(from) || from == StatusRefunded {
			return nil, ErrOrderStatus
		}
		to = string(u.Outcome)
	}
	o.Status = to
	for k, v := range u.Meta {
		o.Meta[k] = v
	}
	f.events[o.ID][u.EventID] = true
	f.notes[o.ID] = append(f.notes[o.ID], fakeNote{event: u.EventID, text: u.Note, customer: u.CustomerNote})
	return &OrderResult{Changed: to != from, From: from, To: to, NoteID: int64(len(f.notes[o.ID])), At: time.Unix(1766300000, 0)}, nil
}

type fakeOrdersState struct {
	orders map[int64]Order
	events map[int64]map[string]bool
	notes  map[int64][]fakeNote
}

func (f *fakeOrders) snapshot() fakeOrdersState {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := fakeOrdersState{orders: map[int64]Order{}, events: map[int64]map[string]bool{}, notes: map[int64][]fakeNote{}}
	for id, o := range f.orders {
		c := *o
		c.Meta = map[string]string{}
		for k, v := range o.Meta {
			c.Meta[k] = v
		}
		st.orders[id] = c
		st.events[id] = map[string]bool{}
		for e := range f.events[id] {
			st.events[id][e] = true
		}
		st.notes[id] = append([]fakeNote(nil), f.notes[id]...)
	}
	return st
}

func (f *fakeOrders) restore(st fakeOrdersState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, o := range st.orders {
		*f.orders[id] = o
		f.events[id] = st.events[id]
		f.notes[id] = st.notes[id]
	}
}

func (f *fakeOrders) notesOf(id int64) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, n := range f.notes[id] {
		out = append(out, n.text)
	}
	return out
}

type fakePayments struct {
	mu       sync.Mutex
	payments map[int64]*Payment
	outbox   []*Notification
	plans    []Reschedule
	nextID   int64
}

func newFakePayments() *fakePayments { return &fakePayments{payments: map[int64]*Payment{}} }

func (f *fakePayments) CreatePayment(_ context.Context, p *Payment) (*Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, q := range f.payments {
		if q.OrderID == p.OrderID && q.Status.Live() && p.Status.Live() {
			c := *q
			return &c, ErrLivePayment
		}
	}
	f.nextID++
	p.ID = f.nextID
	c := *p
	f.payments[p.ID] = &c
	return p, nil
}

func (f *fakePayments) put(p *Payment) *Payment {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	p.ID = f.nextID
	c := *p
	f.payments[p.ID] = &c
	return p
}

func (f *fakePayments) Payment(_ context.Context, id int64) (*Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.payments[id]
	if !ok {
		return nil, ErrPaymentNotFound
	}
	c := *p
	return &c, nil
}

func (f *fakePayments) find(match func(*Payment) bool) (*Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.payments {
		if match(p) {
			c := *p
			return &c, nil
		}
	}
	return nil, ErrPaymentNotFound
}

func (f *fakePayments) PaymentByGatewayID(_ context.Context, gateway, id string) (*Payment, error) {
	return f.find(func(p *Payment) bool { return p.Gateway == gateway && p.GatewayID == id && id != "" })
}

func (f *fakePayments) PaymentByOrderRef(_ context.Context, ref string) (*Payment, error) {
	return f.find(func(p *Payment) bool { return p.OrderRef == ref })
}

func (f *fakePayments) OrderPayments(_ context.Context, orderID int64) ([]*Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.orderPayments(orderID), nil
}

// orderPayments is OrderPayments for a caller holding f.mu (an
// UpdatePayment's fn).
func (f *fakePayments) orderPayments(orderID int64) []*Payment {
	var out []*Payment
	for _, p := range f.payments {
		if p.OrderID == orderID {
			c := *p
			out = append(out, &c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out
}

func (f *fakePayments) UpdatePayment(_ context.Context, id int64, fn func(p *Payment) (*Notification, error)) (*Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old, ok := f.payments[id]
	if !ok {
		return nil, ErrPaymentNotFound
	}
	p := *old
	n, err := fn(&p)
	if err != nil {
		return nil, err
	}
	if p.Status != old.Status && !old.Status.CanMove(p.Status) {
		return nil, fmt.Errorf("%s to %s: %w", old.Status, p.Status, ErrPaymentStatus)
	}
	f.payments[id] = &p
	if n != nil {
		for _, q := range f.outbox {
			if q.EventID == n.EventID {
				n = nil
				break
			}
		}
		if n != nil {
			f.outbox = append(f.outbox, n)
		}
	}
	c := p
	return &c, nil
}

// fakeApplier runs each ApplyPayment alone (the row lock) and keeps what fn
// did only when it succeeds: the orders are copied before and put back
// after a failure, as a rolled back transaction leaves them.
type fakeApplier struct {
	mu       sync.Mutex
	orders   *fakeOrders
	payments *fakePayments
	applied  []AppliedCallback // the callbacks recorded applied
}

func (a *fakeApplier) ApplyPayment(ctx context.Context, ref PaymentRef, cb *AppliedCallback, fn ApplyFunc) (*Payment, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := ref.ID
	if id == 0 {
		p, err := a.payments.PaymentByGatewayID(ctx, ref.Gateway, ref.GatewayID)
		if err != nil {
			return nil, err
		}
		id = p.ID
	}
	saved := a.orders.snapshot()
	p, err := a.payments.UpdatePayment(ctx, id, func(p *Payment) (*Notification, error) { return fn(ctx, fakeOrderTx{a}, p) })
	if err != nil {
		a.orders.restore(saved)
		return nil, err
	}
	if cb != nil {
		a.applied = append(a.applied, *cb)
	}
	return p, nil
}

type fakeOrderTx struct{ a *fakeApplier }

func (t fakeOrderTx) Order(ctx context.Context, id int64) (*Order, error) {
	return t.a.orders.Order(ctx, id)
}
func (t fakeOrderTx) ApplyOrder(ctx context.Context, u OrderUpdate) (*OrderResult, error) {
	return t.a.orders.ApplyOrder(ctx, u)
}
func (t fakeOrderTx) OrderPayments(ctx context.Context, orderID int64) ([]*Payment, error) {
	return t.a.payments.orderPayments(orderID), nil
}

func (f *fakePayments) ClaimDue(_ context.Context, _ string, flt PaymentFilter, _ time.Duration) ([]*Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*Payment
	for _, p := range f.payments {
		if (!p.Status.Final() || p.ApplyDue() || p.Watch) && !p.NextCheckAt.After(flt.DueAt) {
			c := *p
			out = append(out, &c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakePayments) Reschedule(_ context.Context, plans []Reschedule) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, pl := range plans {
		p := f.payments[pl.ID]
		p.NextCheckAt = pl.NextCheckAt
		p.Checks++
		if pl.Failed {
			p.Failures++
		} else {
			p.Failures = 0
		}
		if pl.LastError != "" {
			p.LastError = pl.LastError
		}
	}
	f.plans = append(f.plans, plans...)
	return nil
}

func (f *fakePayments) PaymentProblems(context.Context) (map[string]PaymentProblem, error) {
	return nil, nil
}

func (f *fakePayments) events() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, n := range f.outbox {
		out = append(out, n.EventID)
	}
	return out
}

// fakeGateway answers PaymentState from a table, or with err.
type fakeGateway struct {
	mu     sync.Mutex
	states map[string]*GatewayState
	err    error
	calls  int
}

func (g *fakeGateway) Name() string               { return "streampay" }
func (g *fakeGateway) Capabilities() Capabilities { return Capabilities{Callbacks: true} }
func (g *fakeGateway) CreatePayment(context.Context, CreatePaymentRequest) (*GatewayPayment, error) {
	return nil, fmt.Errorf("not used")
}
func (g *fakeGateway) PaymentState(_ context.Context, id string) (*GatewayState, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	if g.err != nil {
		return nil, g.err
	}
	st, ok := g.states[id]
	if !ok {
		return nil, ErrPaymentNotFound
	}
	c := *st
	return &c, nil
}
func (g *fakeGateway) VerifyCallback(http.Header, []byte) (*CallbackEvent, error) {
	return nil, ErrSignature
}
func (g *fakeGateway) ConfirmCallback(context.Context, *CallbackEvent) (*GatewayState, error) {
	return nil, ErrSignature
}

type fakeGateways struct{ gw Gateway }

func (f fakeGateways) Gateway(name string) (Gateway, error) {
	if f.gw == nil || name != f.gw.Name() {
		return nil, ErrUnknownGateway
	}
	return f.gw, nil
}
func (f fakeGateways) Names() []string { return []string{"streampay"} }

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// core is a Service over the fakes, with one pending USD order.
type core struct {
	svc      *Service
	orders   *fakeOrders
	payments *fakePayments
	gw       *fakeGateway
	clock    *testClock
}

func newCore(t *testing.T) *core {
	t.Helper()
	c := &core{orders: newFakeOrders(), payments: newFakePayments(), gw: &fakeGateway{states: map[string]*GatewayState{}},
		clock: &testClock{t: time.Date(2026, 11, 21, 17, 0, 0, 0, time.UTC)}}
	c.svc = NewService(Service{Orders: c.orders, Payments: c.payments, Applier: &fakeApplier{orders: c.orders, payments: c.payments},
		Gateways: fakeGateways{c.gw}, Now: c.clock.Now, Owner: "test"})
	return c
}

func (c *core) order(id int64, total string) {
	c.orders.add(&Order{ID: id, Type: "shop_order", Status: StatusPending, Currency: "USD", Total: decimal.RequireFromString(total),
		PaymentMethod: PaymentMethodPrefix + "streampay", OrderKey: fmt.Sprintf("wc_order_%d", id)})
}

func (c *core) payment(orderID int64, gid string, status PaymentStatus, total string) *Payment {
	now := c.clock.Now()
	return c.payments.put(&Payment{OrderID: orderID, Gateway: "streampay", GatewayID: gid, OrderRef: "ref-" + gid, Status: status,
		Amount: Money{Amount: decimal.RequireFromString(total), Currency: "USD"}, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute), NextCheckAt: now})
}

func usdAmount(s string) Money { return Money{Amount: decimal.RequireFromString(s), Currency: "USD"} }
