package bridge

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestNotificationGolden pins the notification body (docs/plugin-api.md) and
// shows it stays valid JSON whatever a gateway put in its references: a
// control character, quotes, a backslash, a line separator, invalid UTF-8.
func TestNotificationGolden(t *testing.T) {
	c := newCore(t)
	at := time.Date(2026, 11, 21, 17, 55, 0, 0, time.UTC)
	p := &Payment{
		ID: 42, OrderID: 123, Gateway: "streampay", GatewayID: "LqaUrQimtgTe9iF3Knv8Ld", OrderRef: "wc123-abc",
		Status: PaymentOverpaid, Amount: usdAmount("25.00"), Received: usdAmount("27.50"),
		GatewayAmount: Money{Amount: d("25"), Currency: "usdc"}, GatewayReceived: Money{Amount: d("27.5"), Currency: "usdc"}, UnitScale: 8,
		TxRef:     "9HKi\x01\"Smrj\\\u2028\xff",
		PayURL:    "https://pay.example/p?a=1&b=<2>",
		ExpiresAt: at.Add(5 * time.Minute), CreatedAt: at.Add(-5 * time.Minute),
	}
	u := OrderUpdate{EventID: "wcbridge:42:overpaid", Outcome: OutcomePaid, TransactionID: p.TxRef, LateOutcome: OutcomeOnHold}
	n := c.svc.notification(p, u, &OrderResult{Changed: true, From: StatusPending, To: StatusProcessing, NoteID: 77, At: at})
	if !json.Valid(n.Payload) {
		t.Fatalf("notification is not valid JSON: %q", n.Payload)
	}
	var back notificationPayload
	if err := json.Unmarshal(n.Payload, &back); err != nil || back.EventID != u.EventID || back.OrderID != 123 || back.Payment.GatewayPaymentID != p.GatewayID {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, n.Payload, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	golden := filepath.Join("testdata", "notification.golden.json")
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("notification changed:\n%s\nwant (%s):\n%s", pretty.Bytes(), golden, want)
	}
	if n.EventID != u.EventID || n.OrderID != 123 {
		t.Errorf("notification %s for order %d", n.EventID, n.OrderID)
	}
}

// A cancelled order reports the late outcome the store applied.
func TestNotificationLateOutcome(t *testing.T) {
	c := newCore(t)
	p := &Payment{ID: 1, OrderID: 2, Gateway: "bitstream", Status: PaymentPaid, Amount: usdAmount("1")}
	n := c.svc.notification(p, OrderUpdate{EventID: "e", Outcome: OutcomePaid, LateOutcome: OutcomeOnHold}, &OrderResult{From: StatusCancelled, To: StatusOnHold})
	var back notificationPayload
	if err := json.Unmarshal(n.Payload, &back); err != nil || back.Outcome != OutcomeOnHold {
		t.Fatalf("outcome %q, %v", back.Outcome, err)
	}
}
