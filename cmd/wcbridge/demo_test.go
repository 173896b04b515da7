//go:build demo

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// EnvRequireBrowser, when "1", turns a skip for want of Chromium into a
// failure (CI sets it).
const envRequireBrowser = "WCBRIDGE_TEST_REQUIRE_BROWSER"

// envScreenshots names a directory that keeps the test's screenshots; by
// default they go to a temporary directory removed after the test.
const envScreenshots = "WCBRIDGE_DEMO_SCREENSHOTS"

// chromiumPath finds Debian's chromium (or $WCBRIDGE_CHROMIUM).
func chromiumPath(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("WCBRIDGE_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	msg := "needs Chromium to drive the demo page (Debian: apt-get install -y chromium, or set WCBRIDGE_CHROMIUM)"
	if os.Getenv(envRequireBrowser) == "1" {
		t.Fatalf("%s=1 but Chromium was not found: %s", envRequireBrowser, msg)
	}
	t.Skip(msg)
	return ""
}

// demoOutput is a bytes.Buffer safe to read while runDemo writes it.
type demoOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *demoOutput) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *demoOutput) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var urlPattern = regexp.MustCompile(`https?://[^\s]+`)

// startDemoCommand runs `wcbridge demo` as main would and returns the one URL
// it prints. The demo is stopped (and must stop cleanly) when t ends.
func startDemoCommand(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr demoOutput
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"demo", "--addr", "127.0.0.1:0"}, nil, &stdout, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo did not stop cleanly: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("demo did not stop within 20s of Ctrl-C")
		}
		if s := stderr.String(); s != "" {
			t.Logf("demo log:\n%s", s)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("demo ended before printing its URL: %v\nstderr: %s", err, stderr.String())
		default:
		}
		if urls := urlPattern.FindAllString(stdout.String(), -1); len(urls) > 0 {
			if len(urls) != 1 {
				t.Fatalf("demo printed %d URLs, want one: %q", len(urls), stdout.String())
			}
			return urls[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo printed no URL within 60s; stdout %q, stderr %q", stdout.String(), stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newBrowser starts headless Chromium with a fresh profile.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1100),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// Start the browser now so a broken Chromium fails here, clearly.
	if _, err := chromedp.Run(ctx, chromedp.Location()); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	return ctx
}

func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(envScreenshots)
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// orderPage is what the test reads from the demo's order page.
type orderPage struct {
	Path          string `json:"path"`
	Status        string `json:"status"`
	Transaction   string `json:"transaction"`
	Notes         string `json:"notes"`
	Notifications string `json:"notifications"`
	Callbacks     string `json:"callbacks"`
}

const readOrderPage = `(() => {
  const text = id => { const e = document.getElementById(id); return e ? e.innerText.trim() : ""; };
  return {path: location.pathname, status: text("order-status"), transaction: text("transaction-id"),
          notes: text("notes"), notifications: text("notifications"), callbacks: text("callbacks")};
})()`

// TestDemoBrowser drives the demo in headless Chromium the way a person
// would, once per gateway: start a checkout on the shop page, pay exactly on
// the simulator's page, come back and watch the order become paid.
func TestDemoBrowser(t *testing.T) {
	browser := newBrowser(t)
	url := startDemoCommand(t)
	shots := screenshotDir(t)

	for _, gw := range gatewayNames {
		t.Run(gw, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(browser, 90*time.Second)
			defer cancel()

			pick := fmt.Sprintf(`(document.querySelector('tr[data-method="wcbridge_%s"][data-currency="USD"][data-status="pending"]') || {id: ""}).id`, gw)
			if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("orders"))); err != nil {
				t.Fatalf("open the demo page %s: %v", url, err)
			}
			rowID, err := chromedp.Run(ctx, chromedp.Evaluate[string](pick))
			if err != nil {
				t.Fatalf("read the demo page: %v", err)
			}
			if rowID == "" {
				t.Fatalf("the demo page lists no pending USD order for %s", gw)
			}
			orderPath := "/orders/" + strings.TrimPrefix(rowID, "order-")

			// Checkout: a form POST that lands on the simulator's page.
			payExact := chromedp.Search(`//button[normalize-space()="Pay exact"]`)
			if err := chromedp.Do(ctx,
				chromedp.Click(chromedp.CSS(fmt.Sprintf(`#%s button[value=%q]`, rowID, gw))),
				chromedp.WaitVisible(payExact),
			); err != nil {
				t.Fatalf("checkout of %s with %s: %v", rowID, gw, err)
			}
			simURL, err := chromedp.Run(ctx, chromedp.Location())
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(simURL, url) {
				t.Fatalf("checkout stayed on the demo page (%s), want the %s simulator", simURL, gw)
			}
			t.Logf("%s: %s → %s", gw, rowID, simURL)

			// Pay, come back, wait for the order to be paid. The page
			// reloads itself every two seconds, so read it in one go and
			// retry while it navigates.
			if err := chromedp.Do(ctx, chromedp.Click(payExact)); err != nil {
				t.Fatalf("click Pay exact: %v", err)
			}
			var got orderPage
			deadline := time.Now().Add(45 * time.Second)
			for {
				if p, err := chromedp.Run(ctx, chromedp.Evaluate[orderPage](readOrderPage)); err == nil {
					got = p
					paid := p.Status == "processing" || p.Status == "completed"
					if p.Path == orderPath && paid && p.Notes != "" && strings.Contains(p.Notifications, "verified") {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("order page after paying with %s: %+v", gw, got)
				}
				time.Sleep(300 * time.Millisecond)
			}
			if n := strings.Count(got.Notes, "received via"); n != 1 || !strings.Contains(got.Notes, "Payment of") {
				t.Errorf("notes = %q, want one payment note", got.Notes)
			}
			if got.Transaction == "" {
				t.Errorf("no transaction reference shown")
			}
			if !strings.Contains(got.Callbacks, gw) {
				t.Errorf("callback log = %q, want a %s callback", got.Callbacks, gw)
			}

			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			file := filepath.Join(shots, "demo-"+gw+".png")
			if err := os.WriteFile(file, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: order %s is %s, transaction %s; screenshot %s", gw, rowID, got.Status, got.Transaction, file)
		})
	}
}

// storyPage is what the story test reads from any page: the demo's order
// page or a simulator's.
type storyPage struct {
	URL     string `json:"url"`
	Path    string `json:"path"`
	Body    string `json:"body"`
	Status  string `json:"status"`
	State   string `json:"state"`
	Story   string `json:"story"`
	Notes   string `json:"notes"`
	Buttons string `json:"buttons"`
}

const readStoryPage = `(() => {
  const text = id => { const e = document.getElementById(id); return e ? e.innerText.trim() : ""; };
  return {url: location.href, path: location.pathname, body: document.body ? document.body.innerText : "",
          status: text("order-status"), state: text("payment-state"), story: text("story"), notes: text("notes"),
          buttons: Array.from(document.querySelectorAll("button")).map(b => b.innerText.trim()).join("|")};
})()`

// TestDemoStories drives the demo through what goes wrong as well as what
// goes right: a StreamPay underpayment (StreamPay waits for the rest), a
// CryptoCloud partial payment with the way back to the shop and "Pay the
// rest" landing on the right order while another order is being paid, a
// Bitstream overpayment, and an expired payment whose simulator page offers
// no pay buttons and says when it expired.
func TestDemoStories(t *testing.T) {
	browser := newBrowser(t)
	base := strings.TrimSuffix(startDemoCommand(t), "/")
	shots := screenshotDir(t)

	read := func(t *testing.T, ctx context.Context) storyPage {
		t.Helper()
		var p storyPage
		for i := 0; i < 20; i++ { // the order page reloads itself; retry while it navigates
			got, err := chromedp.Run(ctx, chromedp.Evaluate[storyPage](readStoryPage))
			if err == nil {
				return got
			}
			time.Sleep(200 * time.Millisecond)
		}
		return p
	}
	waitPage := func(t *testing.T, ctx context.Context, what string, ok func(storyPage) bool) storyPage {
		t.Helper()
		var p storyPage
		deadline := time.Now().Add(45 * time.Second)
		for {
			p = read(t, ctx)
			if ok(p) {
				return p
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s; the page is %s:\n%s", what, p.URL, p.Body)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	click := func(t *testing.T, ctx context.Context, xpath string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.Search(xpath))); err != nil {
			p := read(t, ctx)
			t.Fatalf("click %s on %s: %v\n%s", xpath, p.URL, err, p.Body)
		}
	}
	button := func(prefix string) string {
		return fmt.Sprintf(`//button[starts-with(normalize-space(), %q)]`, prefix)
	}
	link := func(text string) string { return fmt.Sprintf(`//a[normalize-space()=%q]`, text) }
	// navigate retries: the order page reloading itself can abort a navigation.
	navigate := func(t *testing.T, ctx context.Context, url string) {
		t.Helper()
		var err error
		for i := 0; i < 10; i++ {
			if err = chromedp.Do(ctx, chromedp.Navigate(url)); err == nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("open %s: %v", url, err)
	}
	// order finds the pending order of gateway in currency on the shop page.
	order := func(t *testing.T, ctx context.Context, gw, currency string) string {
		t.Helper()
		navigate(t, ctx, base+"/")
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("orders"))); err != nil {
			t.Fatal(err)
		}
		id, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector('tr[data-method="wcbridge_%s"][data-currency=%q][data-status="pending"]') || {id: ""}).id`, gw, currency)))
		if err != nil || id == "" {
			t.Fatalf("no pending %s order for %s: %v", currency, gw, err)
		}
		return strings.TrimPrefix(id, "order-")
	}
	// checkout starts a checkout from the shop page with the payment
	// method's title on the button, and lands on the simulator.
	checkout := func(t *testing.T, ctx context.Context, id, gw string) storyPage {
		t.Helper()
		title := demoGatewayTitles[gw]
		click(t, ctx, fmt.Sprintf(`//tr[@id="order-%s"]//button[normalize-space()=%q]`, id, "Pay with "+title))
		return waitPage(t, ctx, "the "+gw+" simulator", func(p storyPage) bool { return !strings.HasPrefix(p.URL, base) && p.Buttons != "" })
	}
	shot := func(ctx context.Context, name string) {
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(90)); err == nil {
			os.WriteFile(filepath.Join(shots, "story-"+name+".png"), png, 0o644)
		}
	}
	paid := func(p storyPage) bool { return p.Status == "processing" || p.Status == "completed" }

	t.Run("streampay underpaid", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(browser, 2*time.Minute)
		defer cancel()
		id := order(t, ctx, "streampay", "USD")
		checkout(t, ctx, id, "streampay")
		click(t, ctx, button("Underpay"))
		sim := waitPage(t, ctx, "the partial payment explained", func(p storyPage) bool { return strings.Contains(p.Body, "Received so far") })
		if !strings.Contains(sim.Body, "StreamPay waits for the full amount") || !strings.Contains(sim.Buttons, "Pay the rest") {
			t.Errorf("simulator page after an underpayment does not explain it or offer the rest:\n%s", sim.Body)
		}
		shot(ctx, "streampay-underpaid-simulator")
		click(t, ctx, link("Back to the shop"))
		p := waitPage(t, ctx, "the order page with the story", func(p storyPage) bool { return p.Path == "/orders/"+id && p.Story != "" })
		if p.Status != "pending" || !strings.Contains(p.Story, "waits for the full amount") {
			t.Errorf("order after a StreamPay underpayment: status %q, story %q", p.Status, p.Story)
		}
		shot(ctx, "streampay-underpaid-order")
		click(t, ctx, `//a[@id="pay-rest"]`)
		click(t, ctx, button("Pay the rest"))
		p = waitPage(t, ctx, "the order paid", func(p storyPage) bool { return p.Path == "/orders/"+id && paid(p) && p.Notes != "" })
		if !strings.Contains(p.Notes, "Payment of") {
			t.Errorf("notes after paying the rest: %q", p.Notes)
		}
	})

	t.Run("cryptocloud partial, pay the rest of the right order", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(browser, 3*time.Minute)
		defer cancel()
		a := order(t, ctx, "cryptocloud", "USD")
		checkout(t, ctx, a, "cryptocloud")
		click(t, ctx, button("Underpay"))
		sim := waitPage(t, ctx, "the partial invoice", func(p storyPage) bool { return strings.Contains(p.Body, "Partly paid") })
		if !strings.Contains(sim.Buttons, "Pay the rest") || !strings.Contains(sim.Body, "Back to the shop") {
			t.Errorf("partial invoice page offers no way back or no rest:\n%s", sim.Body)
		}
		shot(ctx, "cryptocloud-partial-simulator")
		click(t, ctx, link("Back to the shop"))
		p := waitPage(t, ctx, "order "+a+" underpaid", func(p storyPage) bool { return p.Path == "/orders/"+a && strings.HasPrefix(p.State, "underpaid") })
		if !strings.Contains(p.Story, "less than the order total") || !strings.Contains(p.Story, "Pay the rest") {
			t.Errorf("underpaid order's story: %q", p.Story)
		}
		shot(ctx, "cryptocloud-partial-order")
		// Another order is started with CryptoCloud meanwhile: it is now the
		// latest CryptoCloud payment.
		b := order(t, ctx, "cryptocloud", "EUR")
		checkout(t, ctx, b, "cryptocloud")
		// Back to the first order: pay the rest from its page.
		navigate(t, ctx, base+"/orders/"+a)
		click(t, ctx, `//a[@id="pay-rest"]`)
		waitPage(t, ctx, "order "+a+"'s invoice", func(p storyPage) bool { return strings.Contains(p.Body, "Partly paid") })
		click(t, ctx, button("Pay the rest"))
		p = waitPage(t, ctx, "back on order "+a+", paid", func(p storyPage) bool {
			return strings.HasPrefix(p.URL, base) && p.Path != "/return/cryptocloud" && paid(p)
		})
		if p.Path != "/orders/"+a {
			t.Errorf("after paying the rest of order %s the shop showed %s (order %s was started later)", a, p.Path, b)
		}
	})

	t.Run("bitstream overpaid", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(browser, 2*time.Minute)
		defer cancel()
		id := order(t, ctx, "bitstream", "USD")
		checkout(t, ctx, id, "bitstream")
		click(t, ctx, button("Overpay"))
		navigate(t, ctx, base+"/orders/"+id+"?back=bitstream")
		p := waitPage(t, ctx, "the overpaid order paid", func(p storyPage) bool { return paid(p) && strings.Contains(p.Notes, "excess") })
		if !strings.Contains(p.Notes, "an excess of") {
			t.Errorf("notes = %q, want the excess", p.Notes)
		}
		shot(ctx, "bitstream-overpaid-order")
	})

	t.Run("expired", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(browser, 2*time.Minute)
		defer cancel()
		id := order(t, ctx, "streampay", "EUR")
		checkout(t, ctx, id, "streampay")
		click(t, ctx, button("Let it expire"))
		sim := waitPage(t, ctx, "the expired page", func(p storyPage) bool { return strings.Contains(p.Body, "expired at") })
		if sim.Buttons != "" {
			t.Errorf("expired payment page still offers buttons: %q", sim.Buttons)
		}
		if !regexp.MustCompile(`expired at \d\d:\d\d:\d\d UTC, [A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2} \d{4}`).MatchString(sim.Body) {
			t.Errorf("expiry time not readable:\n%s", sim.Body)
		}
		shot(ctx, "expired-simulator")
		click(t, ctx, link("Back to the shop"))
		p := waitPage(t, ctx, "the order cancelled", func(p storyPage) bool { return p.Path == "/orders/"+id && p.Status == "cancelled" })
		if !strings.Contains(p.Story, "expired") {
			t.Errorf("expired order's story: %q", p.Story)
		}
	})
}
