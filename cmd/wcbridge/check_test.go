package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/woo/wootest"
)

// baseEnv is a minimal valid configuration for db.
func baseEnv(db *wootest.DB, prefix string) []string {
	return []string{
		"WCBRIDGE_DATABASE_DSN=" + db.DSN,
		"WCBRIDGE_DATABASE_TABLE_PREFIX=" + prefix,
		"WCBRIDGE_PLUGIN_SHARED_SECRET=" + testSecret,
		"WCBRIDGE_WORDPRESS_URL=http://shop.test",
	}
}

func TestCheckReportsModeAndPrefix(t *testing.T) {
	for _, mode := range []bridge.StorageMode{bridge.StorageHPOS, bridge.StoragePosts} {
		t.Run(string(mode), func(t *testing.T) {
			ctx := context.Background()
			db := wootest.Open(t)
			if err := wootest.Install(ctx, db.DB, mode, "shop7_"); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			env := baseEnv(db, "shop7_")
			if err := run(ctx, []string{"migrate"}, env, &out, &errOut); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			out.Reset()
			if err := run(ctx, []string{"check", "--config", "../../config.example.yaml"}, env, &out, &errOut); err != nil {
				t.Fatalf("check: %v\n%s", err, out.String())
			}
			for _, want := range []string{"config: ok", "table prefixes found: shop7_", "prefix shop7_, storage mode " + string(mode), "sidecar tables: up to date", "check: ok"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("check output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestCheckListsEveryProblem(t *testing.T) {
	ctx := context.Background()
	db := wootest.Open(t)
	if err := wootest.Install(ctx, db.DB, bridge.StorageHPOS, "wp_"); err != nil {
		t.Fatal(err)
	}
	env := append(baseEnv(db, "other_"), "WCBRIDGE_ORDERS_ON_EXPIRED=explode", "WCBRIDGE_PLUGIN_SHARED_SECRET=short",
		"WCBRIDGE_GATEWAYS_BITSTREAM_API_KEY=bs-key", "WCBRIDGE_GATEWAYS_BITSTREAM_BASE_URL=https://api.bitstream.dev/api/v1")
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"check"}, env, &out, &errOut)
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("want *CheckError, got %v\n%s", err, out.String())
	}
	for _, want := range []string{"orders.on_expired", "plugin.shared_secret", `no WooCommerce tables with prefix "other_"`,
		// a pinned credential without its pinned endpoint, both named
		"gateways.bitstream.status_path: must be set in the sidecar's configuration too, because gateways.bitstream.api_key is"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problem %q not listed in:\n%v", want, err)
		}
	}
	if code := exitCode(err); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
}

func TestVersionAndUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"version"}, nil, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "wcbridge ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	err := run(context.Background(), []string{"frobnicate"}, nil, &out, &errOut)
	if exitCode(err) != 2 {
		t.Fatalf("unknown command: exit %d, want 2 (%v)", exitCode(err), err)
	}
}

// TestCheckOnAFreshDatabase: before the first serve, the sidecar's tables
// are not there yet; serve creates them, so check says so and exits 0, and
// --strict makes it a problem.
func TestCheckOnAFreshDatabase(t *testing.T) {
	ctx := context.Background()
	db := wootest.Open(t)
	if err := wootest.Install(ctx, db.DB, bridge.StorageHPOS, "wp_"); err != nil {
		t.Fatal(err)
	}
	env := baseEnv(db, "wp_")
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"check"}, env, &out, &errOut); err != nil {
		t.Fatalf("check on a fresh database: %v (exit %d)\n%s", err, exitCode(err), out.String())
	}
	if !strings.Contains(out.String(), "migration(s) to apply") || !strings.Contains(out.String(), "check: ok") {
		t.Errorf("pending migrations not reported as information:\n%s", out.String())
	}
	out.Reset()
	err := run(ctx, []string{"check", "--strict"}, env, &out, &errOut)
	var ce *CheckError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "not applied") || exitCode(err) != 1 {
		t.Fatalf("check --strict: want a problem for pending migrations, got %v\n%s", err, out.String())
	}
}

// TestCommandHelp: every command's --help exits 0 and says what it does
// and which variables it reads.
func TestCommandHelp(t *testing.T) {
	for name, want := range map[string][]string{
		"serve":    {"usage: wcbridge serve", "Runs the sidecar", "-config", "WCBRIDGE_CONFIG", "WCBRIDGE_DATABASE_DSN", "WCBRIDGE_DATABASE_STARTUP_WAIT", "WCBRIDGE_GATEWAYS_STREAMPAY_SECRET_KEY"},
		"migrate":  {"usage: wcbridge migrate", "own tables", "WCBRIDGE_DATABASE_DSN"},
		"check":    {"usage: wcbridge check", "-strict", "WCBRIDGE_DATABASE_TABLE_PREFIX"},
		"health":   {"usage: wcbridge health", "-url", "-timeout", "WCBRIDGE_SERVER_LISTEN"},
		"simulate": {"usage: wcbridge simulate", "simulators", "-sidecar"},
		"demo":     {"usage: wcbridge demo", "embedded database"},
	} {
		for _, flag := range []string{"--help", "-h"} {
			var out, errOut bytes.Buffer
			if err := run(context.Background(), []string{name, flag}, nil, &out, &errOut); err != nil {
				t.Errorf("%s %s: %v (exit %d)", name, flag, err, exitCode(err))
			}
			for _, w := range want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("%s %s: no %q in:\n%s", name, flag, w, out.String())
				}
			}
		}
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"serve", "--frobnicate"}, nil, &out, &errOut); exitCode(err) != 2 || !strings.Contains(errOut.String(), "usage: wcbridge serve") {
		t.Errorf("a bad flag: exit %d, want 2 with the help on stderr (%v)\n%s", exitCode(err), err, errOut.String())
	}
}

func TestUninstallDropsOnlyTheSidecarsTables(t *testing.T) {
	ctx := context.Background()
	db := wootest.Open(t)
	if err := wootest.Install(ctx, db.DB, bridge.StorageHPOS, "shop7_"); err != nil {
		t.Fatal(err)
	}
	env := baseEnv(db, "shop7_")
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"migrate"}, env, &out, &errOut); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	count := func(like string) int {
		var n int
		if err := db.DB.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE ?", like).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	sidecar, all := count(`shop7\_wcbridge\_%`), count("%")
	if sidecar < 6 {
		t.Fatalf("%d sidecar tables after migrate, want 6", sidecar)
	}
	// Without --yes: a list and exit status 2, nothing dropped.
	out.Reset()
	err := run(ctx, []string{"uninstall"}, env, &out, &errOut)
	if exitCode(err) != 2 || !strings.Contains(out.String(), "shop7_wcbridge_payments") || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("uninstall without --yes: %v\n%s", err, out.String())
	}
	if n := count(`shop7\_wcbridge\_%`); n != sidecar {
		t.Fatalf("uninstall without --yes dropped tables: %d left of %d", n, sidecar)
	}
	out.Reset()
	if err := run(ctx, []string{"uninstall", "--yes"}, env, &out, &errOut); err != nil {
		t.Fatalf("uninstall --yes: %v\n%s", err, out.String())
	}
	if n := count(`shop7\_wcbridge\_%`); n != 0 {
		t.Errorf("%d sidecar tables left after uninstall --yes", n)
	}
	if n := count("%"); n != all-sidecar {
		t.Errorf("%d tables left, want the %d WooCommerce and WordPress ones", n, all-sidecar)
	}
	out.Reset()
	if err := run(ctx, []string{"uninstall", "--yes"}, env, &out, &errOut); err != nil || !strings.Contains(out.String(), "nothing to do") {
		t.Errorf("second uninstall: %v %s", err, out.String())
	}
}
