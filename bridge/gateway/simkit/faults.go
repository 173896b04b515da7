package simkit

import (
	"context"
	"sync"
	"time"
)

// Faults injects failures into a simulator's API, for tests and demos: the
// next n calls (or the next n creations) answer a status without acting,
// and every answer can be delayed. The zero value injects nothing; it is
// safe for concurrent use. Simulators embed it, so FailNext, FailNextCreate
// and Hang are theirs.
type Faults struct {
	mu                    sync.Mutex
	failN, failStatus     int
	createN, createStatus int
	hang                  time.Duration
}

// FailNext makes the next n API calls answer status without acting.
func (f *Faults) FailNext(n, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failN, f.failStatus = n, status
}

// FailNextCreate makes the next n creations answer status without creating
// anything; other calls are unaffected.
func (f *Faults) FailNextCreate(n, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.createN, f.createStatus = n, status
}

// Hang delays every API answer by d (0 stops it).
func (f *Faults) Hang(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hang = d
}

// Intercept runs at the start of an API request (create: it would create
// something). It waits out the delay, then returns the status to answer
// instead of acting, or 0 to go on; ok is false when the caller gave up
// during the delay.
func (f *Faults) Intercept(ctx context.Context, create bool) (status int, ok bool) {
	f.mu.Lock()
	hang := f.hang
	switch {
	case f.failN > 0:
		f.failN--
		status = f.failStatus
	case create && f.createN > 0:
		f.createN--
		status = f.createStatus
	}
	f.mu.Unlock()
	if hang > 0 {
		t := time.NewTimer(hang)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return 0, false
		}
	}
	return status, true
}
