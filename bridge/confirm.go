package bridge

import (
	"context"
	"sync"
)

// BatchConfirmer is implemented by gateways whose callbacks are confirmed by
// a status read that takes many payments at once (e.g. 100 ids per call).
type BatchConfirmer interface {
	// ConfirmCallbacks confirms verified callbacks with as few calls as the
	// API allows: one state or one error per event, in order.
	ConfirmCallbacks(ctx context.Context, evs []*CallbackEvent) ([]*GatewayState, []error)
}

// confirmCallsInFlight is how many batched confirmation calls one gateway
// has in flight at once. Callbacks arriving meanwhile wait and go together
// in the next call, so a burst costs a few calls, and a lone callback goes
// at once.
const confirmCallsInFlight = 4

// confirmers holds each gateway's confirmBatches.
type confirmers struct {
	mu sync.Mutex
	by map[string]*confirmBatches
}

func (c *confirmers) of(gateway string) *confirmBatches {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.by[gateway]
	if b == nil {
		b = &confirmBatches{}
		c.by[gateway] = b
	}
	return b
}

// confirmBatches batches the confirmations of one gateway.
type confirmBatches struct {
	mu       sync.Mutex
	pending  []*confirmWait
	inFlight int
}

type confirmWait struct {
	ev   *CallbackEvent
	st   *GatewayState
	err  error
	done chan struct{}
}

// confirm confirms ev with gw, batched with other callbacks of the same
// gateway where gw is a BatchConfirmer.
func (s *Service) confirm(ctx context.Context, gw Gateway, ev *CallbackEvent) (*GatewayState, error) {
	bc, ok := gw.(BatchConfirmer)
	size := gw.Capabilities().BatchSize
	if !ok || size <= 1 {
		return gw.ConfirmCallback(ctx, ev)
	}
	b := s.confirming.of(gw.Name())

	w := &confirmWait{ev: ev, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, w)
	lead := b.inFlight < confirmCallsInFlight
	if lead {
		b.inFlight++
	}
	b.mu.Unlock()
	if lead {
		// This caller makes calls for whatever is waiting, its own
		// callback first, until nothing is.
		b.serve(ctx, bc, size)
	}
	select {
	case <-w.done:
		return w.st, w.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *confirmBatches) serve(ctx context.Context, bc BatchConfirmer, size int) {
	for {
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.inFlight--
			b.mu.Unlock()
			return
		}
		n := min(len(b.pending), size)
		batch := append([]*confirmWait(nil), b.pending[:n]...)
		b.pending = append(b.pending[:0], b.pending[n:]...)
		b.mu.Unlock()
		evs := make([]*CallbackEvent, len(batch))
		for i, w := range batch {
			evs[i] = w.ev
		}
		states, errs := bc.ConfirmCallbacks(ctx, evs)
		for i, w := range batch {
			if i < len(states) {
				w.st = states[i]
			}
			if i < len(errs) {
				w.err = errs[i]
			}
			if w.st == nil && w.err == nil {
				w.err = Errorf(EGATEWAY, "%s gave no state for payment %s", evs[i].Gateway, evs[i].GatewayID)
			}
			close(w.done)
		}
	}
}
