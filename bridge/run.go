package bridge

import (
	"context"
	"sync"
	"time"
)

// The workers: callbacks, the reconciler and the outbox, each replica
// holding what it claimed for a lease.

// leaseFor is how long a replica holds what it claimed (payments to poll,
// callbacks to retry, notifications to deliver) before another replica may
// take it: longer than one item's work (a gateway or WordPress call with its
// timeouts), short enough that a replica that died or lost the database
// holds nothing up for long.
const leaseFor = 30 * time.Second

func (s *Service) lease() time.Duration {
	if s.LeaseFor > 0 {
		return s.LeaseFor
	}
	return leaseFor
}

func (s *Service) notifyBudget() time.Duration {
	if s.NotifyBudget > 0 {
		return s.NotifyBudget
	}
	return DefaultNotifyBudget
}

// WorkerConfig paces the background work.
type WorkerConfig struct {
	// CallbackWorkers is how many callbacks are confirmed and applied at
	// once (default DefaultCallbackWorkers).
	CallbackWorkers int
	// Notifiers is how many requests to WordPress are in flight at once,
	// and NotificationBatch how many events one may carry (defaults 8, 20).
	Notifiers         int
	NotificationBatch int
	// NotifyLinger is how long delivery waits after the first notification
	// is queued before it claims what is due, so that one claim, one
	// request and one record of the results carry the notifications queued
	// meanwhile (0: DefaultNotifyLinger; negative: no wait).
	NotifyLinger time.Duration
	Interval     time.Duration // reconcile, sweep and outbox period
	BatchSize    int
}

// DefaultNotifyLinger is WorkerConfig.NotifyLinger's default: short
// against WordPress's own time to finish an order, long enough that a
// steady stream of payments shares its claims and requests.
const DefaultNotifyLinger = 20 * time.Millisecond

// Run does the background work until ctx ends: callback workers fed by
// ReceiveCallback, and a periodic sweep of callbacks, reconciliation and
// outbox delivery.
func (s *Service) Run(ctx context.Context, c WorkerConfig) {
	if c.CallbackWorkers > 0 {
		s.callbackWorkers.Store(int64(c.CallbackWorkers))
	}
	if c.Notifiers > 0 {
		s.notifyWorkers.Store(int64(c.Notifiers))
	}
	if c.NotificationBatch > 0 {
		s.notifyBatch.Store(int64(c.NotificationBatch))
	}
	c.CallbackWorkers = s.workers()
	if c.Interval <= 0 {
		c.Interval = 5 * time.Second
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.NotifyLinger == 0 {
		c.NotifyLinger = DefaultNotifyLinger
	}
	var wg sync.WaitGroup
	for i := 0; i < c.CallbackWorkers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case in := <-s.queue:
					if s.finishInbound(ctx, in) {
						s.kickOutbox()
					}
				}
			}
		}()
	}
	wg.Add(2)
	go func() { // callbacks the queue dropped, retries, and reconciliation
		defer wg.Done()
		t := time.NewTicker(c.Interval)
		defer t.Stop()
		for {
			s.tick(ctx, c.BatchSize)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-s.sweep:
			}
		}
	}()
	go func() { // notifications: at once when a worker queued one, else periodically
		defer wg.Done()
		s.outboxLoop(ctx, c)
	}()
	wg.Wait()
}

// outboxLoop delivers notifications until ctx ends: every c.Interval, and
// c.NotifyLinger after a worker queued one (kickOutbox), so that those
// queued meanwhile go in the same claim and requests.
func (s *Service) outboxLoop(ctx context.Context, c WorkerConfig) {
	t := time.NewTicker(c.Interval)
	defer t.Stop()
	for {
		s.deliver(ctx, c.BatchSize)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
			if c.NotifyLinger > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(c.NotifyLinger):
				}
			}
		}
	}
}

// Tick does one round of the background work at once, as Run does on its
// timer: the callback sweep, the reconciler and the outbox.
func (s *Service) Tick(ctx context.Context, batch int) {
	s.tick(ctx, batch)
	s.deliver(ctx, batch)
}

func (s *Service) tick(ctx context.Context, batch int) {
	if ctx.Err() != nil {
		return
	}
	s.LogRejections()
	for i := 0; i < 10; i++ {
		n, err := s.SweepCallbacks(ctx, batch)
		if err != nil {
			s.Logger.Warn("callback sweep failed", "err", err)
		}
		if n < batch {
			break
		}
	}
	// A backlog (many payments due at once) is worked off in several
	// batches per tick, bounded so one tick cannot run away.
	for i := 0; i < 10; i++ {
		n, err := s.Reconcile(ctx, batch)
		if err != nil {
			s.Logger.Warn("reconcile failed", "err", err)
		}
		if n < batch {
			break
		}
	}
}

func (s *Service) deliver(ctx context.Context, batch int) {
	if ctx.Err() != nil {
		return
	}
	// A pass claims what its requests can carry, no more: what it claims
	// must be sent within the lease (or the lease renewed).
	claim := s.notifiers() * s.notificationBatch()
	if !s.batchesTaken() || s.notificationBatch() == 1 {
		claim = s.notifiers() * 4
	}
	for i := 0; i < 10; i++ {
		n, err := s.DeliverNotifications(ctx, claim)
		if err != nil {
			s.Logger.Warn("outbox delivery failed", "err", err)
		}
		if n < claim {
			break
		}
	}
	// The backlog gauge is counted at most once a second, not at every
	// wake-up (one per processed callback under load).
	if now := s.now(); now.Sub(s.backlogAt) >= time.Second {
		s.backlogAt = now
		if n, err := s.Outbox.Backlog(ctx); err == nil {
			s.backlog.Store(int64(n))
		}
	}
}

// kickSweep wakes the periodic loop so recorded callbacks that the
// in-memory queue could not take are processed now.
func (s *Service) kickSweep() {
	select {
	case s.sweep <- struct{}{}:
	default:
	}
}

// kickOutbox wakes the periodic loop so a fresh notification goes out now.
func (s *Service) kickOutbox() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// forEach calls fn for every item, at most n at once, and returns when all
// calls have returned.
func forEach[T any](items []T, n int, fn func(T)) {
	work := make(chan T)
	var wg sync.WaitGroup
	for range min(len(items), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				fn(it)
			}
		}()
	}
	for _, it := range items {
		work <- it
	}
	close(work)
	wg.Wait()
}
