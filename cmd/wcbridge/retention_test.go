package main

import (
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
)

// TestRetentionBackgroundLoop: the running sidecar deletes processed
// callbacks and delivered notifications older than retention.*, and the
// refused callbacks an older version stored; it keeps what is recent and
// the payments.
func TestRetentionBackgroundLoop(t *testing.T) {
	h := newHarness(t, withEnv("WCBRIDGE_RETENTION_INTERVAL=200ms", "WCBRIDGE_RETENTION_CALLBACKS=720h", "WCBRIDGE_RETENTION_NOTIFICATIONS=720h", "WCBRIDGE_RETENTION_BATCH_SIZE=2"))
	// One order at a time: the embedded engine does not isolate the test's
	// own writes from the sidecar's.
	var ids []int64
	for range 3 {
		id, key := h.order("streampay", usd("10.00"))
		if err := h.sims.StreamPay.PayExact(gatewayPaymentID(h.checkout(id, key, "streampay"))); err != nil {
			t.Fatal(err)
		}
		h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
		h.waitDelivered(10 * time.Second)
		ids = append(ids, id)
	}
	h.waitDelivered(10 * time.Second)
	waitFor(t, "the callbacks to be processed", 10*time.Second, func() bool {
		return h.woo.Count(t, "wcbridge_callbacks", "applied_at IS NULL") == 0
	})
	callbacks, notes := h.woo.Count(t, "wcbridge_callbacks", "1=1"), h.woo.Count(t, "wcbridge_outbox", "1=1")
	if callbacks < 3 || notes < 3 {
		t.Fatalf("%d callbacks, %d notifications: want at least 3 each", callbacks, notes)
	}
	// Two of each become 31 days old; a refused callback stored by an
	// older version appears.
	old := time.Now().UTC().Add(-31 * 24 * time.Hour).Format("2006-01-02 15:04:05")
	h.woo.Exec(t, "UPDATE {p}wcbridge_callbacks SET applied_at = ?, received_at = ? ORDER BY id LIMIT 2", old, old)
	h.woo.Exec(t, "UPDATE {p}wcbridge_outbox SET delivered_at = ? ORDER BY id LIMIT 2", old)
	h.woo.Exec(t, "INSERT INTO {p}wcbridge_callbacks (gateway, received_at, body, body_hash, verified, reason, next_attempt_at) VALUES ('streampay', NOW(), 'x', REPEAT('a', 64), 0, 'signature invalid', NOW())")
	waitFor(t, "the retention pass", 10*time.Second, func() bool {
		return h.woo.Count(t, "wcbridge_callbacks", "1=1") == callbacks-2 && h.woo.Count(t, "wcbridge_outbox", "1=1") == notes-2
	})
	if n := h.woo.Count(t, "wcbridge_payments", "1=1"); n != 3 {
		t.Errorf("%d payments left, want all 3: payments are never deleted", n)
	}
	for _, id := range ids {
		if s := h.orderStatus(id); s != bridge.StatusProcessing {
			t.Errorf("order %d is %s after the retention pass", id, s)
		}
	}
}
