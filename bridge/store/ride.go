package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Riding an apply's commit. An apply transaction that has done its work
// waits, while callbacks are arriving, up to rideLinger before it commits,
// and a small write that needs a commit of its own (received callbacks,
// notifications recorded delivered) goes into it then and is answered when
// it commits: a callback's record shares the commit of reports received
// before it instead of adding one, and waits no longer than its own commit
// would take; the reports wait up to rideLinger more. A write finding no
// transaction waiting commits alone, as before. (A write never waits for
// a transaction still at work: a callback's answer would then wait for
// other payments' statements.)

// rideLinger is the longest an apply transaction waits for a rider, and
// callbacks count as arriving for rideRecent after one was recorded.
var (
	rideLinger = 2 * time.Millisecond
	rideRecent = 10 * time.Millisecond
)

// carriers holds the apply transactions waiting for riders.
type carriers struct {
	mu       sync.Mutex
	ready    []*carrier
	received atomic.Int64 // unix ns when a callback was last recorded
	carried  atomic.Int64 // writes carried so far
}

// rider is one write going into a waiting apply transaction.
type rider struct {
	fn      func(ctx context.Context, q execer) error
	done    chan struct{} // closed once carried is set
	carried bool          // fn ran in a transaction that committed
}

// carrier is an apply transaction at its commit point.
type carrier struct {
	wake   chan struct{} // closed by the first rider
	ran    bool          // the riders' writes ran in the transaction
	riders []*rider
}

// write runs fn in an apply transaction waiting at its commit point (ride)
// or, when none takes it, alone on the database, each statement committed
// on its own. fn may run twice: first in a transaction that did not
// commit, then alone. An error is fn's, or ctx's when it ended while fn
// waited for a commit (fn may still be committed).
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, q execer) error) error {
	carried, err := s.ride(ctx, fn)
	switch {
	case err != nil:
		return fmt.Errorf("waiting for an apply's commit: %w", err)
	case carried:
		return nil
	}
	return fn(ctx, s.db)
}

// ride runs fn in an apply transaction waiting at its commit point and
// waits for the commit; carried is false when none was waiting, or the one
// that took fn did not commit (fn's effects are then gone: the caller runs
// it alone). err is ctx's when it ended while fn waited (fn may still be
// committed).
func (s *Store) ride(ctx context.Context, fn func(ctx context.Context, q execer) error) (carried bool, err error) {
	c := &s.carry
	c.mu.Lock()
	if len(c.ready) == 0 {
		c.mu.Unlock()
		return false, nil
	}
	k := c.ready[0]
	r := &rider{fn: fn, done: make(chan struct{})}
	k.riders = append(k.riders, r)
	if len(k.riders) == 1 {
		close(k.wake)
	}
	c.mu.Unlock()
	select {
	case <-r.done:
		return r.carried, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// arrived notes that a callback was recorded: apply transactions wait for
// the next one for a while.
func (s *Store) arrived() { s.carry.received.Store(time.Now().UnixNano()) }

// carryRiders is an apply transaction's wait at its commit point: while
// callbacks are arriving, up to rideLinger for a rider, whose writes then
// run in q. It returns the carrier, which its caller ends (endCarrier)
// with whether q committed; nil when it did not wait. A rider's write that
// fails fails the transaction.
func (s *Store) carryRiders(ctx context.Context, q execer) (*carrier, error) {
	c := &s.carry
	if time.Now().UnixNano()-c.received.Load() > int64(rideRecent) {
		return nil, nil
	}
	k := &carrier{wake: make(chan struct{})}
	c.mu.Lock()
	c.ready = append(c.ready, k)
	c.mu.Unlock()
	t := time.NewTimer(rideLinger)
	select {
	case <-k.wake:
	case <-t.C:
	case <-ctx.Done():
	}
	t.Stop()
	c.mu.Lock()
	c.ready = slices.DeleteFunc(c.ready, func(o *carrier) bool { return o == k })
	c.mu.Unlock()
	for _, r := range k.riders {
		if err := r.fn(ctx, q); err != nil {
			return k, err
		}
	}
	k.ran = true
	return k, nil
}

// endCarrier answers k's riders: committed says the transaction that ran their
// writes committed.
func (s *Store) endCarrier(k *carrier, committed bool) {
	if k == nil {
		return
	}
	for _, r := range k.riders {
		if r.carried = committed && k.ran; r.carried {
			s.carry.carried.Add(1)
		}
		close(r.done)
	}
}

// inTx reports whether q is a transaction (an apply carrying the write)
// rather than the database.
func inTx(q execer) bool {
	_, ok := q.(*sql.Tx)
	return ok
}
