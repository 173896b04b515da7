package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// waitReceipts waits until n callbacks wait to be recorded.
func waitReceipts(t *testing.T, s *Service, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.receipts.mu.Lock()
		k := len(s.receipts.pending)
		s.receipts.mu.Unlock()
		if k == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callbacks waiting to be recorded, want %d", k, n)
		}
		time.Sleep(time.Millisecond)
	}
}

type received struct {
	body string
	res  *CallbackResult
	err  error
}

// receive runs ReceiveCallback for body in a goroutine; its outcome comes
// on the channel.
func receive(c *core, ctx context.Context, body string) <-chan received {
	out := make(chan received, 1)
	go func() {
		res, err := c.svc.ReceiveCallback(ctx, callbackReq(body))
		out <- received{body, res, err}
	}()
	return out
}

// Callbacks arriving while one is being recorded wait and are recorded
// together by the next statement; each caller gets its own result: a new
// record, or the record of the same body received before, whether stored
// earlier or earlier in the same group.
func TestReceiveCallbacksGrouped(t *testing.T) {
	c, cbs := newCallbackCore(t)
	entered, release := make(chan struct{}), make(chan struct{})
	cbs.onBatch = func(_ context.Context, n int) error {
		if n == 1 {
			close(entered)
			<-release
		}
		return nil
	}
	first := receive(c, ctx, "signed:a0")
	<-entered
	bodies := []string{"signed:a1", "signed:a2", "signed:a3", "signed:a0", "signed:a4", "signed:a3", "signed:a5"}
	var outs []<-chan received
	for i, b := range bodies {
		outs = append(outs, receive(c, ctx, b))
		waitReceipts(t, c.svc, i+1) // in this order
	}
	close(release)
	r0 := <-first
	if r0.err != nil || r0.res.Duplicate || r0.res.Callback.ID == 0 {
		t.Fatalf("first callback: %+v, %v", r0.res, r0.err)
	}
	ids := map[string]int64{"signed:a0": r0.res.Callback.ID}
	dups := map[string]int{}
	for _, ch := range outs {
		r := <-ch
		if r.err != nil {
			t.Fatalf("%s: %v", r.body, r.err)
		}
		cb := r.res.Callback
		if cb.PaymentKey != r.body[len("signed:"):] || !cb.Verified {
			t.Fatalf("%s: recorded %+v", r.body, cb)
		}
		if r.res.Duplicate {
			dups[r.body]++
			if id, ok := ids[r.body]; ok && id != cb.ID {
				t.Fatalf("%s: duplicate of %d, want of %d", r.body, cb.ID, id)
			}
		}
		if id, ok := ids[r.body]; ok && id != cb.ID {
			t.Fatalf("%s: recorded as %d and as %d", r.body, id, cb.ID)
		}
		ids[r.body] = cb.ID
	}
	if want := map[string]int{"signed:a0": 1, "signed:a3": 1}; fmt.Sprint(dups) != fmt.Sprint(want) {
		t.Fatalf("duplicates %v, want %v", dups, want)
	}
	if got := cbs.batchSizes(); !slices.Equal(got, []int{1, len(bodies)}) {
		t.Fatalf("statements recorded %v callbacks, want [1 %d]", got, len(bodies))
	}
	if n := cbs.count(); n != 6 || len(ids) != 6 {
		t.Fatalf("%d rows, %d ids %v, want 6 distinct", n, len(ids), ids)
	}
	// What is new is queued for the workers, as when recorded alone.
	if n := len(c.svc.queue); n != 6 {
		t.Fatalf("%d callbacks queued, want 6", n)
	}
}

// A database error fails every callback of its group with the error that
// makes the gateway send it again; the next group is recorded.
func TestReceiveCallbackGroupFails(t *testing.T) {
	c, cbs := newCallbackCore(t)
	entered, release := make(chan struct{}), make(chan struct{})
	cbs.onBatch = func(_ context.Context, n int) error {
		switch n {
		case 1:
			close(entered)
			<-release
		case 2:
			return errors.New("connection refused")
		}
		return nil
	}
	first := receive(c, ctx, "signed:b0")
	<-entered
	var outs []<-chan received
	for i := range 3 {
		outs = append(outs, receive(c, ctx, fmt.Sprintf("signed:b%d", i+1)))
	}
	waitReceipts(t, c.svc, 3)
	close(release)
	if r := <-first; r.err != nil {
		t.Fatal(r.err)
	}
	for _, ch := range outs {
		if r := <-ch; ErrorCode(r.err) != EUNAVAILABLE {
			t.Fatalf("%s: result %+v err %v, want unavailable", r.body, r.res, r.err)
		}
	}
	res, err := c.svc.ReceiveCallback(ctx, callbackReq("signed:b1"))
	if err != nil || res.Duplicate {
		t.Fatalf("sent again: %+v, %v", res, err)
	}
	if got := cbs.batchSizes(); !slices.Equal(got, []int{1, 3, 1}) || cbs.count() != 2 {
		t.Fatalf("statements %v rows %d, want [1 3 1] and 2", got, cbs.count())
	}
}

// A caller that stops waiting gets an error at once: waiting, its callback
// is left out of the next group; named to write the next group, it writes
// it, and the statement runs on while anyone in the group still waits. When
// nobody does, the statement is cut short.
func TestReceiveCallbackCallerGivesUp(t *testing.T) {
	c, cbs := newCallbackCore(t)
	entered, release1, release2 := make(chan struct{}), make(chan struct{}), make(chan struct{})
	written := make(chan context.Context, 1)
	cbs.onBatch = func(ctx context.Context, n int) error {
		switch n {
		case 1:
			close(entered)
			<-release1
		case 2:
			written <- ctx
			<-release2
		case 3:
			written <- ctx
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	first := receive(c, ctx, "signed:c0")
	<-entered
	lctx, lcancel := context.WithCancel(ctx)
	defer lcancel()
	leader := receive(c, lctx, "signed:c1") // first to wait: writes the next group
	waitReceipts(t, c.svc, 1)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	quitter := receive(c, wctx, "signed:c2")
	waitReceipts(t, c.svc, 2)
	other := receive(c, ctx, "signed:c3")
	waitReceipts(t, c.svc, 3)

	wcancel()
	if r := <-quitter; ErrorCode(r.err) != EUNAVAILABLE {
		t.Fatalf("caller that gave up: %+v, %v; want unavailable", r.res, r.err)
	}
	waitReceipts(t, c.svc, 2)
	close(release1)
	if r := <-first; r.err != nil {
		t.Fatal(r.err)
	}
	stmt := <-written
	lcancel()
	if stmt.Err() != nil {
		t.Fatal("the statement was cut short while a caller in its group still waits")
	}
	close(release2)
	if r := <-leader; ErrorCode(r.err) != EUNAVAILABLE {
		t.Fatalf("writer that gave up: %+v, %v; want unavailable", r.res, r.err)
	}
	if r := <-other; r.err != nil || r.res.Duplicate {
		t.Fatalf("the other caller in the group: %+v, %v", r.res, r.err)
	}
	if got := cbs.batchSizes(); !slices.Equal(got, []int{1, 2}) || cbs.count() != 3 {
		t.Fatalf("statements %v rows %d, want [1 2] and 3 (c2 left out)", got, cbs.count())
	}

	// Alone, and giving up: the statement ends with it.
	alone, acancel := context.WithCancel(ctx)
	out := receive(c, alone, "signed:c4")
	stmt = <-written
	acancel()
	<-stmt.Done()
	if r := <-out; ErrorCode(r.err) != EUNAVAILABLE {
		t.Fatalf("lone caller that gave up: %+v, %v", r.res, r.err)
	}
	// Nothing is left waiting or stuck: the next one goes at once.
	cbs.mu.Lock()
	cbs.onBatch = nil
	cbs.mu.Unlock()
	if res, err := c.svc.ReceiveCallback(ctx, callbackReq("signed:c5")); err != nil || res.Duplicate {
		t.Fatalf("after: %+v, %v", res, err)
	}
}
