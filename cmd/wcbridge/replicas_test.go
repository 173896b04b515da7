package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/woo/wootest"
)

// TestReplicasDeliverOnce: three replicas share one outbox of 300
// notifications and WordPress takes half a second per request, longer in
// all than a lease (shortened here to 2.5 s so that leases run out during
// the test, as 30 s ones do with a slow WordPress; a claim of 16 at 4
// requests at a time takes 2 s, past the 1.3 s after which the 1.2 s budget
// of a request makes a renewal due). A replica sends a request
// only while its lease covers it, renewing it first when needed, and leaves
// what another replica took over: every event reaches WordPress exactly
// once, and each order's events in the order they were queued.
func TestReplicasDeliverOnce(t *testing.T) {
	wootest.RequireReal(t, "leases need the row locks of concurrent claims")
	h := newHarness(t)
	h.sidecars[0].cancel()
	<-h.sidecars[0].done
	st := h.sidecars[0].app.Store
	const events, orders = 300, 200
	for i := range events {
		order := int64(9000 + i%orders)
		n := &bridge.Notification{EventID: fmt.Sprintf("replica-test:%03d", i), OrderID: order,
			Payload: fmt.Appendf(nil, `{"event_id":"replica-test:%03d","order_id":%d,"outcome":"note"}`, i, order)}
		if err := st.Enqueue(h.ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	wp := newDelayProxy(t, h.wp.srv.URL, 500*time.Millisecond)
	h.env = append(h.env, "WCBRIDGE_WORDPRESS_URL="+wp.URL(), "WCBRIDGE_WORKERS_NOTIFICATIONS=4", "WCBRIDGE_WORKERS_NOTIFICATION_BATCH=1")
	// The budget leaves a request 0.7 s beyond WordPress's 0.5 s on a loaded
	// machine; a request that overran it could be taken over and sent twice.
	h.leaseFor, h.notifyBudget = 2500*time.Millisecond, 1200*time.Millisecond
	for range 3 {
		h.startSidecar(nil)
	}
	h.waitDelivered(90 * time.Second)

	h.wp.mu.Lock()
	defer h.wp.mu.Unlock()
	if len(h.wp.events) != events {
		t.Errorf("%d distinct events reached WordPress, want %d", len(h.wp.events), events)
	}
	twice := 0
	for ev, n := range h.wp.events {
		if n != 1 {
			twice++
			t.Errorf("event %s reached WordPress %d times", ev, n)
		}
	}
	last := map[int64]string{}
	for _, b := range h.wp.bodies {
		o := int64(b["order_id"].(float64))
		ev := b["event_id"].(string)
		if ev < last[o] {
			t.Errorf("order %d: event %s after %s", o, ev, last[o])
		}
		last[o] = ev
	}
	t.Logf("%d events, 3 replicas, WordPress at 0.5 s a request: %d requests, %d delivered twice", events, wp.requests.Load(), twice)
}
