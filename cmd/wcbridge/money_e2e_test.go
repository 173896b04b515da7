package main

// End-to-end tests of money against the gateways as the evidence says they
// are (/work/shared/gateways/*.md): Bitstream's units and webhooks,
// StreamPay's not_found, and money on any payment reaching its order.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway/bitstream"
)

// paymentRow reads the sidecar's row of the order's newest payment.
func (h *harness) paymentRow(orderID int64) map[string]string {
	h.t.Helper()
	return h.woo.Row(h.t, "SELECT * FROM {p}wcbridge_payments WHERE order_id = ? ORDER BY id DESC LIMIT 1", orderID)
}

// waitPayment waits until the order's newest payment row satisfies ok.
func (h *harness) waitPayment(orderID int64, what string, ok func(row map[string]string) bool) map[string]string {
	h.t.Helper()
	var row map[string]string
	waitFor(h.t, what, 10*time.Second, func() bool {
		row = h.paymentRow(orderID)
		return ok(row)
	})
	return row
}

// view reads the order's payment view through the signed plugin API.
func (h *harness) view(orderID int64) map[string]any {
	h.t.Helper()
	status, v := h.client().do("GET", "/v1/orders/"+itoa(orderID)+"/payment", nil)
	if status != http.StatusOK {
		h.t.Fatalf("payment view of order %d: %d %v", orderID, status, v)
	}
	return v
}

// Case 1: Bitstream counts 10^-8 of the token. A 19.99 USD order is a
// session of "1999000000" (19.99 USDC), not 0.1999 USDC; the notes and the
// payment view show token amounts in human units; the row keeps scale 8.
func TestE2EBitstreamUnits(t *testing.T) {
	h := newHarness(t)
	id, key := h.order("bitstream", usd("19.99"))
	gid := gatewayPaymentID(h.checkout(id, key, "bitstream"))
	sp, ok := h.sims.Bitstream.Payment(gid)
	if !ok || sp.AmountTotal.String() != "1999000000" || sp.Currency != "usdc" {
		t.Fatalf("session total %v %s, want 1999000000 usdc (19.99 USDC at 10^-8)", sp.AmountTotal, sp.Currency)
	}
	if row := h.paymentRow(id); row["unit_scale"] != "8" || row["gateway_amount"] != "19.990000000000000000" || row["gateway_currency"] != "usdc" {
		t.Fatalf("payment row unit_scale %s gateway_amount %s %s", row["unit_scale"], row["gateway_amount"], row["gateway_currency"])
	}
	if err := h.sims.Bitstream.PayExact(gid); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
	h.waitPayment(id, "payment applied", func(row map[string]string) bool { return row["applied_status"] == "paid" })
	if notes := h.notes(id); len(notes) != 1 || !strings.Contains(notes[0], "Payment of 19.99 USD received via Bitstream") ||
		!strings.Contains(notes[0], "19.99 usdc received of 19.99 usdc asked") {
		t.Fatalf("notes %q", notes)
	}
	p := h.view(id)["payment"].(map[string]any)
	if p["gateway_amount"] != "19.99" || p["gateway_received"] != "19.99" || p["gateway_currency"] != "usdc" || p["received"] != "19.99" {
		t.Fatalf("payment view %v", p)
	}
}

// Case 1, migration: a payment made by an earlier version at 10^-6 units
// (its row has no unit scale) keeps that scale: its amounts are read as it
// was created, nothing is reinterpreted, and the sidecar says so in its log.
func TestE2EBitstreamPaymentKeepsItsScale(t *testing.T) {
	h := newHarness(t)
	id, _ := h.order("bitstream", usd("19.99"))
	// The session the earlier version created: 19.99 × 10^6 units.
	sid := createBitstreamSession(t, h, "19990000")
	ctx := context.Background()
	now := time.Now().UTC()
	if _, err := h.sidecars[0].app.Store.CreatePayment(ctx, &bridge.Payment{
		OrderID: id, Gateway: "bitstream", GatewayID: sid, Reference: "wc-legacy-1", Status: bridge.PaymentPending,
		Amount:        bridge.Money{Amount: decimal.RequireFromString("19.99"), Currency: "USD"},
		GatewayAmount: bridge.Money{Amount: decimal.RequireFromString("19.99"), Currency: "usdc"},
		PayURL:        "http://pay.test/" + sid, ExpiresAt: now.Add(time.Hour), CreatedAt: now, NextCheckAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	if row := h.paymentRow(id); row["unit_scale"] != "NULL" {
		t.Fatalf("legacy row unit_scale %s, want NULL", row["unit_scale"])
	}
	if err := h.sims.Bitstream.PayExact(sid); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(id, bridge.StatusProcessing, 10*time.Second)
	if notes := h.notes(id); len(notes) != 1 || !strings.Contains(notes[0], "19.99 usdc received of 19.99 usdc asked") {
		t.Fatalf("notes %q: want the amounts as the payment was created", notes)
	}
	// The order is written first, the payment row right after.
	h.waitPayment(id, "payment applied", func(row map[string]string) bool { return row["applied_status"] == "paid" })
	if row := h.paymentRow(id); row["unit_scale"] != "6" || row["gateway_received"] != "19.990000000000000000" {
		t.Fatalf("row unit_scale %s gateway_received %s, want the scale it was created with (6)", row["unit_scale"], row["gateway_received"])
	}
	if !strings.Contains(h.logs.String(), "payment created at an earlier unit scale keeps it") {
		t.Fatal("no warning about the payment made at the earlier scale")
	}
}

// createBitstreamSession creates a session at the simulator the way the
// documentation shows, for units of usdc, and returns its id.
func createBitstreamSession(t *testing.T, h *harness, units string) string {
	t.Helper()
	body := fmt.Sprintf(`{"successUrl":"http://shop.test/ok","lineItems":{"data":[{"priceData":{"currency":"usdc","unitAmount":%q,"productData":{"name":"Order","description":"x"}}}]}}`, units)
	req, _ := http.NewRequest("POST", h.sims.URLs["bitstream"]+"/api/v1/checkout/sessions", bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", "Bearer "+bitstream.DefaultSimulatorConfig().APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != http.StatusCreated || s.ID == "" {
		t.Fatalf("create session: %d %v", resp.StatusCode, err)
	}
	return s.ID
}
