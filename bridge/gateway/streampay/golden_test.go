package streampay

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway"
	"github.com/wcbridge/wcbridge/bridge/gateway/gatewaytest"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay/streampaysim"
)

var fixedNow = time.Date(2022, 8, 10, 21, 51, 19, 0, time.UTC)

// goldenEnv is a simulator on a fixed clock behind a recorder.
func goldenEnv(t *testing.T, native bool) (*streampaysim.Simulator, *Client, *gatewaytest.Recorder, string) {
	t.Helper()
	sim := streampaysim.New(streampaysim.Config{
		ClientIDs: []string{testClientID}, SecretKey: testSecret,
		Now: func() time.Time { return fixedNow },
	})
	rec := &gatewaytest.Recorder{Next: sim}
	srv := httptest.NewServer(rec)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	sim.SetPublicURL("https://sim.example")
	c, err := New(Config{ClientID: testClientID, SecretKey: testSecret, CreateURL: srv.URL + "/api/v1", StatusURL: srv.URL + "/api/v1",
		NativeTokenAmounts: native, NativeToken: "STRM"}, gateway.Options{RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c, rec, srv.URL
}

// normalise replaces the simulator's random values so answers compare.
func normalise(b []byte, sp streampaysim.Payment) []byte {
	out := string(b)
	for _, kv := range [][2]string{{sp.ID, "PAYMENT_ID"}, {sp.Address, "ADDRESS"}, {sp.TxHash, "TX_HASH"}, {sp.SignerID, "SIGNER"}} {
		if kv[0] != "" {
			out = strings.ReplaceAll(out, kv[0], kv[1])
		}
	}
	return []byte(out)
}

func TestGoldenCreateRequests(t *testing.T) {
	tests := []struct {
		file   string
		native bool
		money  bridge.Money
	}{
		{"create_usd.request.json", false, usd("15.89")},
		{"create_eur.request.json", false, bridge.Money{Amount: dec("9.50"), Currency: "EUR"}},
		{"create_token.request.json", true, bridge.Money{Amount: dec("0.02"), Currency: "STRM"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			sim, c, rec, _ := goldenEnv(t, tt.native)
			r := usdRequest("1")
			r.Amount = tt.money
			r.Description = "Coca-Cola x2 - 1.98\nDelivery - 3.25"
			gp, err := c.CreatePayment(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			ex := rec.Exchanges()
			if len(ex) != 1 || ex[0].Method != "POST" || ex[0].Path != "/api/v1/payment/"+testClientID+"/page" {
				t.Fatalf("calls: %+v", ex)
			}
			gatewaytest.Golden(t, tt.file, ex[0].Request)
			sp, _ := sim.Payment(gp.GatewayID)
			if tt.file == "create_usd.request.json" {
				gatewaytest.Golden(t, "create_page.response.json", normalise(ex[0].Response, sp))
			}
		})
	}
}

func TestGoldenSimulatorAnswers(t *testing.T) {
	ctx := context.Background()
	sim, c, rec, base := goldenEnv(t, false)
	gp, err := c.CreatePayment(ctx, usdRequest("1.00"))
	if err != nil {
		t.Fatal(err)
	}
	if gp.URL != "https://sim.example/pay/"+gp.GatewayID || !gp.ExpiresAt.Equal(fixedNow.Add(10*time.Minute)) {
		t.Errorf("created: %+v", gp)
	}
	if _, err := c.PaymentState(ctx, gp.GatewayID); err != nil {
		t.Fatal(err)
	}
	if err := sim.PayExact(gp.GatewayID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PaymentState(ctx, gp.GatewayID); err != nil {
		t.Fatal(err)
	}
	sp, _ := sim.Payment(gp.GatewayID)
	ex := rec.Exchanges()
	gatewaytest.Golden(t, "status_pending.response.json", normalise(ex[1].Response, sp))
	gatewaytest.Golden(t, "status_completed.response.json", normalise(ex[2].Response, sp))

	// The manual create call answers the full PaymentObject.
	resp, err := http.Post(base+"/api/v1/payment/"+testClientID, "application/json",
		strings.NewReader(`{"amount": 0.02, "name": "Donation to @youruniqueusername", "return_url": "https://your.user.example.com/payment-return-url"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var po PaymentObject
	if resp.StatusCode != 200 || json.Unmarshal(b, &po) != nil {
		t.Fatalf("manual create: %d %s", resp.StatusCode, b)
	}
	sp2, _ := sim.Payment(po.PaymentID)
	gatewaytest.Golden(t, "create_manual.response.json", normalise(b, sp2))
}

// TestGoldenCallback pins the callback wire format: what a signed payload
// looks like, and that the simulator sends exactly the documented fields.
func TestGoldenCallback(t *testing.T) {
	gatewaytest.Golden(t, "callback.json", SignedPayload(sampleCallback, "topsecret"))
	b, err := os.ReadFile(filepath.Join("testdata", "callback.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyCallbackBody(bytes.TrimSpace(b), "topsecret"); err != nil {
		t.Fatalf("golden callback does not verify: %v", err)
	}

	e := startSim(t)
	gp, err := e.client.CreatePayment(context.Background(), usdRequest("2.50"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Overpay(gp.GatewayID); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(e.rc.next(t), &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k, v := range m {
		if _, ok := v.(string); !ok {
			t.Errorf("%s is %T, want string", k, v)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := "amount amount_usd current_datetime payment_id received_amount received_amount_usd signature"
	if got := strings.Join(keys, " "); got != want {
		t.Errorf("callback fields: got %s, want %s", got, want)
	}
	if m["amount_usd"] != "2.5" || m["received_amount_usd"] != "2.75" {
		t.Errorf("amounts: %v / %v", m["amount_usd"], m["received_amount_usd"])
	}
	if _, err := time.Parse(time.RFC3339, m["current_datetime"].(string)); err != nil {
		t.Errorf("current_datetime: %v", err)
	}
}

// TestDocumentedExamples decodes the answers as the documentation shows
// them (testdata/doc_*.json, copied from the docs, not regenerated).
func TestDocumentedExamples(t *testing.T) {
	page, err := os.ReadFile("testdata/doc_page_object.json")
	if err != nil {
		t.Fatal(err)
	}
	obj, err := os.ReadFile("testdata/doc_payment_object.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/payment/id/page":
			_, _ = w.Write(page)
		case r.Method == http.MethodGet && r.URL.Path == "/payment/LqaUrQimtgTe9iF3Knv8Ld":
			_, _ = w.Write(obj)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c, err := New(Config{ClientID: "id", SecretKey: "k", CreateURL: srv.URL, StatusURL: srv.URL}, gateway.Options{RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	gp, err := c.CreatePayment(context.Background(), usdRequest("1.00"))
	if err != nil {
		t.Fatal(err)
	}
	if gp.GatewayID != "LqaUrQimtgTe9iF3Knv8Ld" || gp.URL != "https://pay.streampayments.app/payment/LqaUrQimtgTe9iF3Knv8Ld" ||
		!gp.ExpiresAt.Equal(time.Date(2022, 8, 10, 22, 1, 19, 0, time.UTC)) {
		t.Errorf("page object: %+v", gp)
	}
	st, err := c.PaymentState(context.Background(), gp.GatewayID)
	if err != nil {
		t.Fatal(err)
	}
	want := bridge.GatewayState{GatewayID: "LqaUrQimtgTe9iF3Knv8Ld", Status: bridge.PaymentPaid, Amount: usd("1.00"),
		TxRef: "9HKiSMrjFvmT1Pb7bTCZ8XPUQukRfSyQ58WJCmfXyWgX", ExpiresAt: time.Date(2022, 8, 10, 22, 1, 19, 0, time.UTC)}
	if st.GatewayID != want.GatewayID || st.Status != want.Status || !moneyEq(st.Amount, want.Amount) || st.TxRef != want.TxRef ||
		!st.ExpiresAt.Equal(want.ExpiresAt) || st.Test || st.OrderRef != "" {
		t.Errorf("state:\n got %+v\nwant %+v", st, want)
	}
	var po PaymentObject
	if err := json.Unmarshal(obj, &po); err != nil {
		t.Fatal(err)
	}
	if len(po.Addresses) != 2 || po.Addresses[0].Amount != "166389351081530800779973" || po.Addresses[1].DisplayAmount != "1.00" {
		t.Errorf("coins: %+v", po.Addresses)
	}
}
