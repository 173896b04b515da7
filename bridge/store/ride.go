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
// waits, while callbacks are arriving, before it commits, and a small write
// that needs a commit of its own goes into it then and is answered when it
// commits. A callback's record (received callbacks) takes the oldest
// transaction waiting, which then commits: the record shares the commit of
// reports received before it instead of adding one, and waits no longer
// than its own commit would take. The other transactions wait on, each for
// a record of its own, until callbacks stop arriving or rideLinger has
// passed: under a stream of callbacks every apply's commit is a callback
// record's commit. A write that can wait (a notification's lease, and its
// delivery recorded) waits for a transaction to reach its commit point and
// joins it without ending its wait. A callback's record finding no
// transaction waiting commits alone, as before. (A write never joins a
// transaction still at work: a callback's answer would then wait for other
// payments' statements.)

// rideLinger is the longest an apply transaction waits for a rider (and a
// patient write for an apply), and callbacks count as arriving for
// rideRecent after one was recorded.
var (
	rideLinger = 25 * time.Millisecond
	rideRecent = 10 * time.Millisecond
)

// carriers holds the apply transactions waiting for riders, and the
// patient writes waiting for one.
type carriers struct {
	mu       sync.Mutex
	ready    []*carrier
	waiting  []*rider     // patient writes no carrier has taken yet
	received atomic.Int64 // unix ns when a callback was last recorded
	carried  atomic.Int64 // writes carried so far
}

// rider is one write going into a waiting apply transaction.
type rider struct {
	fn      func(ctx context.Context, q execer) error
	patient bool          // joins a carrier without ending its wait
	done    chan struct{} // closed once carried is set
	carried bool          // fn ran in a transaction that committed
}

// carrier is an apply transaction at its commit point.
type carrier struct {
	wake   chan struct{} // closed by the first rider that is not patient
	woken  bool
	ran    bool // the riders' writes ran in the transaction
	riders []*rider
}

// write runs fn in an apply transaction waiting at its commit point (ride)
// or, when none takes it, alone on the database, each statement committed
// on its own. fn may run twice: first in a transaction that did not
// commit, then alone. An error is fn's, or ctx's when it ended while fn
// waited for a commit (fn may still be committed).
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, q execer) error) error {
	return s.writeBy(ctx, fn, false)
}

// writeSoon is write for a write that can wait a moment (a notification's
// lease and its delivery): while callbacks are arriving, it waits up to
// rideLinger for an apply transaction to reach its commit point if none is
// there, and it joins one without ending its wait, which goes on until a
// callback's record joins it or its linger ends. Under a stream of
// callbacks, the delivery of their notifications then adds no commit.
func (s *Store) writeSoon(ctx context.Context, fn func(ctx context.Context, q execer) error) error {
	return s.writeBy(ctx, fn, true)
}

func (s *Store) writeBy(ctx context.Context, fn func(ctx context.Context, q execer) error, patient bool) error {
	carried, err := s.ride(ctx, fn, patient)
	switch {
	case err != nil:
		return fmt.Errorf("waiting for an apply's commit: %w", err)
	case carried:
		return nil
	}
	return fn(ctx, s.db)
}

// ride runs fn in an apply transaction waiting at its commit point and
// waits for the commit; carried is false when none was waiting (a patient
// fn: none came within rideLinger), or the one that took fn did not commit
// (fn's effects are then gone: the caller runs it alone). err is ctx's
// when it ended while fn waited (fn may still be committed).
func (s *Store) ride(ctx context.Context, fn func(ctx context.Context, q execer) error, patient bool) (carried bool, err error) {
	c := &s.carry
	r := &rider{fn: fn, patient: patient, done: make(chan struct{})}
	c.mu.Lock()
	if len(c.ready) == 0 {
		if !patient || !s.arriving() {
			c.mu.Unlock()
			return false, nil
		}
		c.waiting = append(c.waiting, r)
		c.mu.Unlock()
		return s.awaitCarrier(ctx, r)
	}
	k := c.ready[0]
	k.riders = append(k.riders, r)
	if !patient && !k.woken {
		k.woken = true
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

// awaitCarrier waits up to rideLinger for a carrier to take the patient
// rider r, then for its commit.
func (s *Store) awaitCarrier(ctx context.Context, r *rider) (bool, error) {
	c := &s.carry
	t := time.NewTimer(rideLinger)
	defer t.Stop()
	select {
	case <-r.done:
		return r.carried, nil
	case <-t.C:
	case <-ctx.Done():
	}
	c.mu.Lock()
	left := slices.Contains(c.waiting, r)
	if left {
		c.waiting = slices.DeleteFunc(c.waiting, func(o *rider) bool { return o == r })
	}
	c.mu.Unlock()
	switch {
	case left && ctx.Err() != nil:
		return false, ctx.Err()
	case left:
		return false, nil
	}
	select { // taken meanwhile
	case <-r.done:
		return r.carried, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// arrived notes that a callback was recorded: apply transactions wait for
// the next one for a while.
func (s *Store) arrived() { s.carry.received.Store(time.Now().UnixNano()) }

// arriving reports whether callbacks are arriving: one was recorded within
// rideRecent.
func (s *Store) arriving() bool {
	return time.Now().UnixNano()-s.carry.received.Load() <= int64(rideRecent)
}

// carryRiders is an apply transaction's wait at its commit point: while
// callbacks are arriving, for a callback's record (the oldest transaction
// waiting takes the next), up to rideLinger; the riders' writes then run in
// q, the patient ones that joined meanwhile too. It returns the carrier,
// which its caller ends (endCarrier) with whether q committed; nil when it
// did not wait. A rider's write that fails fails the transaction.
func (s *Store) carryRiders(ctx context.Context, q execer) (*carrier, error) {
	c := &s.carry
	if !s.arriving() {
		return nil, nil
	}
	k := &carrier{wake: make(chan struct{})}
	c.mu.Lock()
	c.ready = append(c.ready, k)
	k.riders, c.waiting = c.waiting, nil
	c.mu.Unlock()
	// The oldest carrier takes the next callbacks' record; the others wait
	// their turn, each to be carried a record, not to commit without one.
	until := time.Now().Add(rideLinger)
	for wait := true; wait; {
		left := min(time.Until(until), time.Until(time.Unix(0, c.received.Load()).Add(rideRecent)))
		if left <= 0 {
			break
		}
		t := time.NewTimer(left)
		select {
		case <-k.wake:
			wait = false
		case <-t.C:
		case <-ctx.Done():
			wait = false
		}
		t.Stop()
	}
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
