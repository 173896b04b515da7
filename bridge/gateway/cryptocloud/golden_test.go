package cryptocloud

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway/cryptocloud/cryptocloudsim"
	"github.com/wcbridge/wcbridge/bridge/gateway/gatewaytest"
)

func TestGoldenWireFormats(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var n int
	cfg := testSimConfig()
	cfg.Now = func() time.Time { return now }
	cfg.NewID = func() string { n++; return fmt.Sprintf("GOLD%04d", n) }

	var pbMu sync.Mutex
	postbacks := map[string][]byte{}
	pbSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		pbMu.Lock()
		postbacks[r.Header.Get("Content-Type")] = b
		pbMu.Unlock()
	}))
	defer pbSrv.Close()
	cfg.CallbackURL = pbSrv.URL

	for _, format := range []cryptocloudsim.PostbackFormat{cryptocloudsim.FormatJSON, cryptocloudsim.FormatForm} {
		cfg.PostbackFormat = format
		n = 0
		sim := cryptocloudsim.New(cfg)
		rec := &gatewaytest.Recorder{Next: sim}
		srv := httptest.NewServer(rec)
		sim.SetPublicURL("https://pay.cryptocloud.test") // stable links in the golden files
		c, err := New(Config{APIKey: testKey, ShopID: testShop, SecretKey: testSecret, BaseURL: srv.URL, Locale: "en",
			AvailableCurrencies: []string{"USDT_TRC20", "BTC"}}, fastOptions)
		if err != nil {
			t.Fatal(err)
		}
		c.Now = cfg.Now
		ctx := context.Background()
		p := mustCreate(t, c, "wc-1001-1", "149.90", "EUR")
		if sp, _ := sim.Payment(p.GatewayID); len(sp.Coins) != 2 || sp.Coins[0] != "USDT_TRC20" {
			t.Errorf("simulator coins = %v, want the configured available_currencies", sp.Coins)
		}
		if err := sim.Overpay(p.GatewayID); err != nil {
			t.Fatal(err)
		}
		mustState(t, c, p.GatewayID)
		waitFor(t, "postback", func() bool { return len(sim.Callbacks()) == 1 })
		sim.Close()

		if format == cryptocloudsim.FormatJSON {
			gatewaytest.Golden(t, "create_request.json", rec.ForPath(t, "/v2/invoice/create").Request)
			gatewaytest.Golden(t, "create_response.json", rec.ForPath(t, "/v2/invoice/create").Response)
			gatewaytest.Golden(t, "info_request.json", rec.ForPath(t, "/v2/invoice/merchant/info").Request)
			gatewaytest.Golden(t, "info_response_overpaid.json", rec.ForPath(t, "/v2/invoice/merchant/info").Response)
			gatewaytest.Golden(t, "postback.json", postbacks["application/json"])

			p2 := mustCreate(t, c, "wc-1002-1", "10", "USD")
			if err := c.CancelPayment(ctx, p2.GatewayID); err != nil {
				t.Fatal(err)
			}
			gatewaytest.Golden(t, "cancel_request.json", rec.ForPath(t, "/v2/invoice/merchant/canceled").Request)
			gatewaytest.Golden(t, "cancel_response.json", rec.ForPath(t, "/v2/invoice/merchant/canceled").Response)
		} else {
			gatewaytest.Golden(t, "postback_form.txt", postbacks["application/x-www-form-urlencoded"])
		}
		srv.Close()
	}
	// The golden postbacks are genuine: they verify within the token's life.
	for name, ct := range map[string]string{"postback.json": "application/json", "postback_form.txt": "application/x-www-form-urlencoded"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if ct == "application/x-www-form-urlencoded" {
			b = bytes.TrimSpace(b)
		}
		pb, err := VerifyPostback(ct, b, testSecret, now, 0)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if pb.InvoiceID != "INV-GOLD0001" || pb.OrderID != "wc-1001-1" || pb.Info == nil || pb.Info.Status != StatusOverpaid {
			t.Errorf("%s: %+v", name, pb)
		}
	}
}

// TestDocumentedSamples decodes answers modelled on CryptoCloud's own
// documentation examples (testdata/doc_*.json).
func TestDocumentedSamples(t *testing.T) {
	files := map[string]string{
		"/v2/invoice/create":        "doc_create_response.json",
		"/v2/invoice/merchant/info": "doc_info_response.json",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(filepath.Join("testdata", files[r.URL.Path]))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	defer srv.Close()
	c, _ := New(testConfig(srv.URL), fastOptions)
	c.Now = func() time.Time { return time.Date(2023, 1, 1, 13, 0, 0, 0, time.UTC) }

	p, err := c.CreatePayment(context.Background(), createReq("ORDER_93223", "100", "USD"))
	if err != nil {
		t.Fatal(err)
	}
	if p.GatewayID != "INV-XXXXXXXX" || p.URL != "https://pay.cryptocloud.plus/XXXXXXXX" ||
		!p.ExpiresAt.Equal(time.Date(2023, 1, 2, 12, 0, 0, 0, time.UTC)) || !p.Amount.Amount.Equal(dec("100")) {
		t.Errorf("create = %+v", p)
	}
	st, err := c.PaymentState(context.Background(), "XXXXXXXX")
	if err != nil {
		t.Fatal(err)
	}
	want := bridge.GatewayState{GatewayID: "INV-XXXXXXXX", Status: bridge.PaymentUnderpaid, OrderRef: "ORDER_93223"}
	if st.GatewayID != want.GatewayID || st.Status != want.Status || st.OrderRef != want.OrderRef ||
		!st.Amount.Amount.Equal(dec("100")) || !st.Received.Amount.Equal(dec("60.5")) || st.Received.Currency != "USD" || st.Test {
		t.Errorf("state = %+v", st)
	}
}
