package bridge

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// Recording received callbacks together: the callbacks that arrive while
// others are being recorded are written by one statement and one commit
// (Callbacks.RecordCallbacks), and each caller is answered once the
// statement that holds its callback has succeeded.

// receiptBatch and receiptBatchBytes bound a group: at most this many
// callbacks, and bodies of at most this many bytes in all (a larger body
// goes alone), so a statement stays well within the database's packet.
const (
	receiptBatch      = 64
	receiptBatchBytes = 1 << 20
)

// receipts holds the callbacks waiting to be recorded. There is no
// goroutine of its own: the first caller finding no group being written
// writes one at once, its own callback alone; those arriving meanwhile
// wait, and when that write ends, the first of them writes the next group,
// all that waited (up to the bounds), its own callback first. So a lone
// callback costs one statement as before, and under load each statement
// carries what arrived during the one before.
type receipts struct {
	mu      sync.Mutex
	pending []*receipt
	busy    bool // a group is being written, or a caller is named to write the next
}

type receipt struct {
	ctx  context.Context
	cb   *Callback
	lead chan struct{} // closed when this caller is to write the next group
	done chan struct{} // closed when res or err is set
	res  CallbackResult
	err  error
	// Under receipts.mu: lead is closed; the callback is in a group being
	// written.
	leading, taken bool
}

// record records cb durably with the callbacks that arrive at the same
// time. A caller whose ctx ends gets its error at once (its callback may
// still be recorded, as when a statement is cut short; the gateway's
// redelivery is then a duplicate), except the one named to write the next
// group, which writes it first: the others wait for it.
func (s *Service) record(ctx context.Context, cb *Callback) (CallbackResult, error) {
	q := s.receipts
	r := &receipt{ctx: ctx, cb: cb, lead: make(chan struct{}), done: make(chan struct{})}
	q.mu.Lock()
	q.pending = append(q.pending, r)
	if !q.busy {
		q.busy, r.leading = true, true
		close(r.lead)
	}
	q.mu.Unlock()
	select {
	case <-r.done:
		return r.res, r.err
	case <-r.lead:
	case <-ctx.Done():
		q.mu.Lock()
		leading := r.leading
		if !leading && !r.taken {
			q.pending = slices.DeleteFunc(q.pending, func(p *receipt) bool { return p == r })
		}
		q.mu.Unlock()
		if !leading {
			return CallbackResult{}, ctx.Err()
		}
	}
	s.writeReceipts(ctx)
	<-r.done // first in the group just written
	if err := ctx.Err(); err != nil {
		return CallbackResult{}, err
	}
	return r.res, r.err
}

// writeReceipts records the next group of waiting callbacks, then names
// the first of those still waiting to write the group after it. The
// statement does not end with the writer's ctx, only when every caller in
// the group has stopped waiting; a database error fails the whole group.
func (s *Service) writeReceipts(ctx context.Context) {
	q := s.receipts
	q.mu.Lock()
	n, size := 0, 0
	for n < len(q.pending) && n < receiptBatch && (n == 0 || size+len(q.pending[n].cb.Body) <= receiptBatchBytes) {
		size += len(q.pending[n].cb.Body)
		n++
	}
	group := slices.Clone(q.pending[:n])
	q.pending = slices.Delete(q.pending, 0, n)
	for _, r := range group {
		r.taken = true
	}
	q.mu.Unlock()

	delivered := false
	defer func() {
		if !delivered { // a panic: nobody is left waiting for good
			for _, r := range group {
				r.err = ErrUnavailable
				close(r.done)
			}
		}
		q.mu.Lock()
		if len(q.pending) > 0 {
			next := q.pending[0]
			next.leading = true
			close(next.lead)
		} else {
			q.busy = false
		}
		q.mu.Unlock()
	}()

	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var waiting atomic.Int64
	waiting.Store(int64(len(group)))
	cbs := make([]*Callback, len(group))
	for i, r := range group {
		cbs[i] = r.cb
		stop := context.AfterFunc(r.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	res, err := s.Callbacks.RecordCallbacks(wctx, cbs)
	if err == nil && len(res) != len(group) {
		err = Errorf(EINTERNAL, "recorded %d callbacks, got %d results", len(group), len(res))
	}
	for i, r := range group {
		if r.err = err; err == nil {
			r.res = res[i]
		}
		close(r.done)
	}
	delivered = true
}
