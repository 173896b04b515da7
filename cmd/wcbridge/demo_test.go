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
