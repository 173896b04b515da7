package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// testSecret is a shared secret as `openssl rand -hex 32` makes one.
const testSecret = "1ce3a1aeb44ad5be39156aa5ceaf3d962d4401e2060ae6cd02671ad26b69a87d"

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExampleConfigLoadsAndDocumentsEveryField(t *testing.T) {
	// The example's shared secret is a placeholder: published, so refused.
	// Everything else in it is valid.
	cfg, err := LoadConfig("../../config.example.yaml", nil)
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Errs) != 1 || !strings.HasPrefix(ce.Errs[0].Error(), "plugin.shared_secret: is a placeholder") ||
		!strings.Contains(ce.Errs[0].Error(), "openssl rand -hex 32") {
		t.Fatalf("config.example.yaml: want exactly the placeholder shared secret refused, got %v", err)
	}
	if _, err := LoadConfig("../../config.example.yaml", []string{"WCBRIDGE_PLUGIN_SHARED_SECRET=" + testSecret}); err != nil {
		t.Fatalf("config.example.yaml with a real secret does not load: %v", err)
	}
	raw, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, f := range cfg.fields() {
		if !cfg.Pinned(f.Path) { // the example sets every field, so all are pinned
			missing = append(missing, f.Path)
		}
	}
	if len(missing) > 0 {
		t.Errorf("config.example.yaml does not document: %s", strings.Join(missing, ", "))
	}
	// Every documented key has a comment line above it.
	lines := strings.Split(string(raw), "\n")
	for i, l := range lines {
		trimmed := strings.TrimSpace(l)
		if i == 0 || trimmed == "" || strings.HasPrefix(trimmed, "#") || strings.HasSuffix(trimmed, ":") {
			continue
		}
		if !strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#") {
			t.Errorf("config.example.yaml line %d %q has no comment above it", i+1, trimmed)
		}
	}
}

func TestLoadConfigStrictAndAllProblemsAtOnce(t *testing.T) {
	p := writeConfig(t, `
server:
  listen: ""
  public_url: "ftp://nope"
databse:
  dsn: x
plugin:
  shared_secret: short
`)
	_, err := LoadConfig(p, nil)
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want *ConfigError, got %v", err)
	}
	if !strings.Contains(err.Error(), "databse") {
		t.Errorf("unknown key not reported: %v", err)
	}

	p = writeConfig(t, `
server:
  listen: ""
  public_url: "ftp://nope"
plugin:
  shared_secret: short
payments:
  underpaid_tolerance_percent: "42"
orders:
  on_expired: explode
database:
  table_prefix: "wp_; DROP TABLE wp_users"
gateways:
  streampay:
    enabled: true
workers:
  notify_linger: 2s
`)
	_, err = LoadConfig(p, nil)
	if !errors.As(err, &ce) {
		t.Fatalf("want *ConfigError, got %v", err)
	}
	for _, field := range []string{"server.listen", "server.public_url", "plugin.shared_secret", "payments.underpaid_tolerance_percent",
		"orders.on_expired", "database.table_prefix", "database.dsn", "wordpress.url", "gateways.streampay.client_id", "gateways.streampay.secret_key",
		"workers.notify_linger"} {
		if !strings.Contains(err.Error(), field+":") {
			t.Errorf("problem with %s not reported in:\n%v", field, err)
		}
	}
}

func TestEnvOverridesAndPins(t *testing.T) {
	p := writeConfig(t, `
database:
  dsn: "u:filepass@tcp(db:3306)/wp"
wordpress:
  url: https://shop.example
`)
	env := []string{
		"WCBRIDGE_PLUGIN_SHARED_SECRET=" + testSecret,
		"WCBRIDGE_DATABASE_DSN=u:envpass@tcp(db:3306)/wp",
		"WCBRIDGE_PAYMENTS_LIFETIME=30m",
		"WCBRIDGE_PAYMENTS_UNDERPAID_TOLERANCE_PERCENT=1.25",
		"WCBRIDGE_GATEWAYS_CRYPTOCLOUD_AVAILABLE_CURRENCIES=BTC, USDT_TRC20",
		"WCBRIDGE_GATEWAYS_BITSTREAM_CURRENCY_MAP=USD=usdc,EUR=eurc",
		"WCBRIDGE_GATEWAYS_BITSTREAM_SEND_CANCEL_URL=false",
		"OTHER_VAR=ignored",
	}
	cfg, err := LoadConfig(p, env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database.DSN != "u:envpass@tcp(db:3306)/wp" {
		t.Errorf("dsn = %q, want the environment's", cfg.Database.DSN)
	}
	if cfg.Payments.Lifetime != 30*time.Minute || cfg.Payments.UnderpaidTolerancePercent.String() != "1.25" {
		t.Errorf("lifetime %v tolerance %v", cfg.Payments.Lifetime, cfg.Payments.UnderpaidTolerancePercent)
	}
	if got := strings.Join(cfg.Gateways.CryptoCloud.AvailableCurrencies, "|"); got != "BTC|USDT_TRC20" {
		t.Errorf("available_currencies = %q", got)
	}
	if m := cfg.Gateways.Bitstream.CurrencyMap; m["USD"] != "usdc" || m["EUR"] != "eurc" || len(m) != 2 {
		t.Errorf("currency_map = %v", m)
	}
	if b := cfg.Gateways.Bitstream.SendCancelURL; b == nil || *b {
		t.Errorf("send_cancel_url = %v, want false", b)
	}
	pinned := cfg.PinnedPaths()
	sort.Strings(pinned)
	for _, want := range []string{"database.dsn", "wordpress.url", "plugin.shared_secret", "payments.lifetime", "gateways.bitstream.currency_map"} {
		if !cfg.Pinned(want) {
			t.Errorf("%s not pinned (pinned: %v)", want, pinned)
		}
	}
	if cfg.Pinned("payments.late_payment_grace") {
		t.Error("a default must not be pinned")
	}

	_, err = LoadConfig("", []string{"WCBRIDGE_PAYMENTS_LIFETIME=soon", "WCBRIDGE_SERVER_MAX_CALLBACK_BYTES=lots"})
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "payments.lifetime (from WCBRIDGE_PAYMENTS_LIFETIME)") || !strings.Contains(err.Error(), "server.max_callback_bytes") {
		t.Errorf("bad env values not all reported: %v", err)
	}
}

func TestRedactedHidesSecrets(t *testing.T) {
	env := []string{
		"WCBRIDGE_PLUGIN_SHARED_SECRET=" + testSecret,
		"WCBRIDGE_DATABASE_DSN=wcbridge:hunter2-db-pass@tcp(db:3306)/wp",
		"WCBRIDGE_WORDPRESS_URL=https://shop.example",
		"WCBRIDGE_GATEWAYS_STREAMPAY_SECRET_KEY=sp-secret-value",
		"WCBRIDGE_GATEWAYS_STREAMPAY_CREATE_URL=https://pay.streampayments.app/api/v1",
		"WCBRIDGE_GATEWAYS_STREAMPAY_STATUS_URL=https://streampayments.app/api/v1",
		"WCBRIDGE_GATEWAYS_CRYPTOCLOUD_API_KEY=cc-api-key-value",
		"WCBRIDGE_GATEWAYS_CRYPTOCLOUD_BASE_URL=https://api.cryptocloud.plus",
		"WCBRIDGE_SECRETS_KEY=" + testKey,
	}
	cfg, err := LoadConfig("", env)
	if err != nil {
		t.Fatal(err)
	}
	out := cfg.Redacted()
	for _, secret := range []string{testSecret, testKey, "hunter2-db-pass", "sp-secret-value", "cc-api-key-value"} {
		if strings.Contains(out, secret) {
			t.Errorf("Redacted() shows a secret %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "database.dsn = wcbridge:xxxxx@tcp(db:3306)/wp") {
		t.Errorf("dsn not shown redacted:\n%s", out)
	}
}

// TestReadmeConfigReference keeps the README's configuration table in step
// with the config: every field has a row.
func TestReadmeConfigReference(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if cells := strings.Split(line, "|"); len(cells) > 4 && strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			rows[strings.Trim(strings.TrimSpace(cells[1]), "`")] = cells
		}
	}
	cfg := DefaultConfig()
	for _, f := range cfg.fields() {
		cells, ok := rows[f.Path]
		if !ok {
			t.Errorf("README's configuration reference has no row for %s", f.Path)
			continue
		}
		if wp := strings.TrimSpace(cells[3]) == "yes"; wp != settable(f.Path) {
			t.Errorf("README says %s WP-settable=%v, the sidecar says %v", f.Path, wp, settable(f.Path))
		}
	}
}

// TestFileErrorsNameFieldAndLineAndHideNothing: a value that cannot be read
// names its field and line, and the other problems of the file and the
// environment are still reported.
func TestFileErrorsNameFieldAndLineAndHideNothing(t *testing.T) {
	p := writeConfig(t, `server:
  shutdown_timeout: soon
  max_callback_bytes: lots
databse:
  dsn: x
payments:
  lifetime: 1m
gateways:
  streampay:
    enabled: maybe
  cryptocloud:
    shop_idd: abc
`)
	_, err := LoadConfig(p, []string{"WCBRIDGE_ORDERS_ON_EXPIRED=explode"})
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want *ConfigError, got %v", err)
	}
	for _, want := range []string{
		`server.shutdown_timeout: want a duration such as 30s or 5m, got "soon" (config file line 2)`,
		`server.max_callback_bytes: want a whole number, got "lots" (config file line 3)`,
		`databse: unknown setting (config file line 4); did you mean database?`,
		`payments.lifetime: must be between 5m and 168h (config file line 7)`,
		`gateways.streampay.enabled: want true or false, got "maybe" (config file line 10)`,
		`gateways.cryptocloud.shop_idd: unknown setting (config file line 12); did you mean gateways.cryptocloud.shop_id?`,
		`orders.on_expired: must be cancel or leave_pending`,
		`plugin.shared_secret: must be at least 32 characters`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	// A value that could not be read is reported once, not again by Validate.
	if n := strings.Count(err.Error(), "server.max_callback_bytes"); n != 1 {
		t.Errorf("server.max_callback_bytes reported %d times:\n%v", n, err)
	}

	// A file that is not YAML: its line, and the environment's problems too.
	p = writeConfig(t, "server:\n  listen: \"127.0.0.1:80\n")
	_, err = LoadConfig(p, []string{"WCBRIDGE_PAYMENTS_LIFETIME=soon"})
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "config file: line ") || !strings.Contains(err.Error(), "payments.lifetime (from WCBRIDGE_PAYMENTS_LIFETIME)") {
		t.Errorf("syntax error without its line, or hiding the environment's problem: %v", err)
	}
	// Nor a duplicate key.
	p = writeConfig(t, "log:\n  level: info\n  level: debug\n")
	if _, err = LoadConfig(p, nil); err == nil || !strings.Contains(err.Error(), "log.level: set twice, at config file lines 2 and 3") {
		t.Errorf("duplicate key not reported: %v", err)
	}
}

// TestUnknownEnvironmentVariables: a WCBRIDGE_* variable that names nothing
// is an error with the nearest known name; known ones are not.
func TestUnknownEnvironmentVariables(t *testing.T) {
	env := []string{
		"WCBRIDGE_DATABASE_DNS=u:p@tcp(db:3306)/wp",
		"WCBRIDGE_PLUGIN_SHARED_SECRET=" + testSecret,
		"WCBRIDGE_WORDPRESS_URL=https://shop.example",
		"WCBRIDGE_LOG_LEVELS=debug",
		"WCBRIDGE_COMPLETELY_DIFFERENT=1",
		"WCBRIDGE_CONFIG=",
		"WCBRIDGE_TEST_MYSQL_DSN=root@tcp(127.0.0.1:3306)/",
		"OTHER_VAR=ignored",
	}
	_, err := LoadConfig("", env)
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want *ConfigError, got %v", err)
	}
	for _, want := range []string{
		"WCBRIDGE_DATABASE_DNS: unknown environment variable; did you mean WCBRIDGE_DATABASE_DSN?",
		"WCBRIDGE_LOG_LEVELS: unknown environment variable; did you mean WCBRIDGE_LOG_LEVEL?",
		"WCBRIDGE_COMPLETELY_DIFFERENT: unknown environment variable",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "WCBRIDGE_COMPLETELY_DIFFERENT: unknown environment variable;") {
		t.Errorf("a name far from every known one got a suggestion:\n%v", err)
	}
	for _, ok := range []string{"WCBRIDGE_CONFIG", "WCBRIDGE_TEST_MYSQL_DSN", "OTHER_VAR"} {
		if strings.Contains(err.Error(), ok) {
			t.Errorf("%s reported as unknown:\n%v", ok, err)
		}
	}
	// Every field's variable is known.
	cfg := DefaultConfig()
	var all []string
	for _, f := range cfg.fields() {
		all = append(all, EnvName(f.Path)+"=x")
	}
	if errs := unknownEnv(&cfg, all); len(errs) > 0 {
		t.Errorf("known variables reported unknown: %v", errs)
	}
}

func TestWeakSecretsRefused(t *testing.T) {
	example, err := os.ReadFile("../../docker/.env.example")
	if err != nil {
		t.Fatal(err)
	}
	var published []string
	for _, line := range strings.Split(string(example), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k == "WCBRIDGE_PLUGIN_SHARED_SECRET" {
			published = append(published, v)
		}
	}
	if len(published) == 0 {
		t.Fatal("docker/.env.example has no WCBRIDGE_PLUGIN_SHARED_SECRET line")
	}
	for name, secret := range map[string]string{
		"short":                  "d41d8cd98f00b204e980",
		"docker example":         published[0],
		"config example":         "change-me-to-a-long-random-string-of-32+-chars",
		"documentation vector":   "wcbridge-test-secret-0123456789abcdef",
		"one character":          strings.Repeat("a", 64),
		"two characters":         strings.Repeat("ab", 32),
		"sequence":               "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
		"repeated short pattern": strings.Repeat("0a1b", 16),
	} {
		for _, field := range []string{"plugin.shared_secret", "secrets.key"} {
			env := []string{"WCBRIDGE_DATABASE_DSN=u:p@tcp(db:3306)/wp", "WCBRIDGE_WORDPRESS_URL=https://shop.example",
				"WCBRIDGE_PLUGIN_SHARED_SECRET=" + testSecret, "WCBRIDGE_SECRETS_KEY=" + testKey}
			env = append(env, EnvName(field)+"="+secret)
			_, err := LoadConfig("", env)
			if err == nil || !strings.Contains(err.Error(), field+": ") || !strings.Contains(err.Error(), "openssl rand -hex 32") {
				t.Errorf("%s %s (%q): want refused with the openssl hint, got %v", field, name, secret, err)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("%s %s: the error shows the secret: %v", field, name, err)
			}
		}
	}
	// What `openssl rand -hex 16` and `-base64 32` make is accepted.
	for _, good := range []string{"9f86d081884c7d659a2feaa0c55ad015", "q8V3l0wS9m6Zr+2YtKx1bQ7dHc4N5eJfUaPgLiRoT0E="} {
		if why := weakSecret(good); why != "" {
			t.Errorf("weakSecret(%q) = %q, want accepted", good, why)
		}
	}
}

// testKey is a secrets.key as `openssl rand -hex 32` makes one.
const testKey = "7b2e4c9d1f0a63e8b5d27c4f9a1e06b3d8c5f2a7e4b19d60c3f8a2e5b7d1c94f"

func TestSecretFromFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := []string{"WCBRIDGE_DATABASE_DSN=u:p@tcp(db:3306)/wp", "WCBRIDGE_WORDPRESS_URL=https://shop.example"}
	for path := range endpointPaths { // pinned credentials need pinned endpoints
		base = append(base, EnvName(path)+"="+map[bool]string{true: "/s/{id}", false: "https://gw.example/api"}[strings.HasSuffix(path, "_path")])
	}
	// Every secret field has a _FILE variant; each is read, less the line
	// break an editor or `echo` adds, and pins the field.
	env := append([]string{}, base...)
	want := map[string]string{}
	cfg := DefaultConfig()
	for i, f := range cfg.fields() {
		if !IsSecret(f.Path) || f.Path == "database.dsn" || f.Path == "secrets.previous_key" {
			continue
		}
		v := fmt.Sprintf("%s-%d", testSecret, i)
		if f.Path == "secrets.key" {
			v = testKey
		}
		want[f.Path] = v
		env = append(env, EnvName(f.Path)+"_FILE="+write(strings.ReplaceAll(f.Path, ".", "_"), v+"\n"))
	}
	for _, need := range []string{"plugin.shared_secret", "secrets.key", "gateways.streampay.secret_key", "gateways.cryptocloud.api_key", "gateways.cryptocloud.secret_key", "gateways.bitstream.api_key"} {
		if _, ok := want[need]; !ok {
			t.Errorf("%s is not a secret field with a _FILE variant", need)
		}
	}
	got, err := LoadConfig("", env)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range got.fields() {
		if w, ok := want[f.Path]; ok {
			if f.Value.String() != w {
				t.Errorf("%s = %q, want the file's %q", f.Path, f.Value.String(), w)
			}
			if !got.Pinned(f.Path) {
				t.Errorf("%s from a file is not pinned", f.Path)
			}
		}
	}
	known := strings.Join(cfg.KnownEnvNames(), " ") + " "
	for _, name := range []string{"WCBRIDGE_PLUGIN_SHARED_SECRET_FILE", "WCBRIDGE_DATABASE_DSN_FILE", "WCBRIDGE_SECRETS_KEY_FILE", "WCBRIDGE_GATEWAYS_STREAMPAY_SECRET_KEY_FILE"} {
		if !strings.Contains(known, name+" ") {
			t.Errorf("KnownEnvNames lacks %s", name)
		}
	}
	if strings.Contains(known, "WCBRIDGE_PAYMENTS_LIFETIME_FILE") {
		t.Error("KnownEnvNames has a _FILE variant for a field that is not secret")
	}

	// Both ways at once, a missing file and an empty one are errors naming
	// the field; the value never shows.
	secretFile := write("shared", testSecret+"\n")
	for name, extra := range map[string][]string{
		"both":    {"WCBRIDGE_PLUGIN_SHARED_SECRET=" + testSecret, "WCBRIDGE_PLUGIN_SHARED_SECRET_FILE=" + secretFile},
		"missing": {"WCBRIDGE_PLUGIN_SHARED_SECRET_FILE=" + filepath.Join(dir, "nope")},
		"empty":   {"WCBRIDGE_PLUGIN_SHARED_SECRET_FILE=" + write("empty", "\n")},
	} {
		_, err := LoadConfig("", append(append([]string{}, base...), extra...))
		if err == nil || !strings.Contains(err.Error(), "plugin.shared_secret") {
			t.Errorf("%s: want an error naming plugin.shared_secret, got %v", name, err)
		} else if strings.Contains(err.Error(), testSecret) {
			t.Errorf("%s: the error shows the secret: %v", name, err)
		}
	}
}

func TestIsSecretCoversEverySecretField(t *testing.T) {
	for path, want := range map[string]bool{
		"database.dsn": true, "plugin.shared_secret": true, "secrets.key": true, "secrets.previous_key": true,
		"gateways.streampay.secret_key": true, "gateways.cryptocloud.api_key": true, "gateways.bitstream.api_key": true,
		"gateways.bitstream.webhook_secret": true, // a gateway's future secret needs no list
		"gateways.streampay.client_id":      false, "gateways.cryptocloud.shop_id": false, "gateways.streampay.native_token": false,
		"payments.lifetime": false, "server.public_url": false,
	} {
		if got := IsSecret(path); got != want {
			t.Errorf("IsSecret(%q) = %v, want %v", path, got, want)
		}
	}
}

// TestPinnedCredentialNeedsPinnedEndpoint: a config that pins a gateway's
// credential but leaves one of its endpoints to the default is refused,
// naming both fields.
func TestPinnedCredentialNeedsPinnedEndpoint(t *testing.T) {
	base := []string{"WCBRIDGE_DATABASE_DSN=u:p@tcp(db:3306)/wp", "WCBRIDGE_WORDPRESS_URL=https://shop.example", "WCBRIDGE_PLUGIN_SHARED_SECRET=" + testSecret}
	for _, tc := range []struct {
		env  []string
		want []string // "endpoint because credential" pairs
	}{
		{[]string{"WCBRIDGE_GATEWAYS_BITSTREAM_API_KEY=bs-key"}, []string{"gateways.bitstream.base_url", "gateways.bitstream.status_path"}},
		{[]string{"WCBRIDGE_GATEWAYS_BITSTREAM_API_KEY=bs-key", "WCBRIDGE_GATEWAYS_BITSTREAM_BASE_URL=https://api.bitstream.dev/api/v1"}, []string{"gateways.bitstream.status_path"}},
		{[]string{"WCBRIDGE_GATEWAYS_STREAMPAY_CLIENT_ID=shop", "WCBRIDGE_GATEWAYS_STREAMPAY_CREATE_URL=https://pay.streampayments.app/api/v1"}, []string{"gateways.streampay.status_url"}},
		{[]string{"WCBRIDGE_GATEWAYS_CRYPTOCLOUD_SECRET_KEY=cc"}, []string{"gateways.cryptocloud.base_url"}},
	} {
		_, err := LoadConfig("", append(append([]string{}, base...), tc.env...))
		var ce *ConfigError
		if !errors.As(err, &ce) || len(ce.Errs) != len(tc.want) {
			t.Errorf("%v: want %d problem(s) %v, got %v", tc.env, len(tc.want), tc.want, err)
			continue
		}
		for i, w := range tc.want {
			cred := strings.ToLower(strings.TrimPrefix(strings.SplitN(tc.env[0], "=", 2)[0], "WCBRIDGE_"))
			cred = strings.Replace(strings.Replace(cred, "gateways_", "gateways.", 1), "_", ".", 1)
			if msg := ce.Errs[i].Error(); !strings.HasPrefix(msg, w+": ") || !strings.Contains(msg, cred) {
				t.Errorf("%v: problem %q, want it to name %s and %s", tc.env, msg, w, cred)
			}
		}
	}
	// Pinning the endpoints (or no credential at all) is fine.
	if _, err := LoadConfig("", append(append([]string{}, base...), "WCBRIDGE_GATEWAYS_BITSTREAM_API_KEY=bs-key",
		"WCBRIDGE_GATEWAYS_BITSTREAM_BASE_URL=https://api.bitstream.dev/api/v1", "WCBRIDGE_GATEWAYS_BITSTREAM_STATUS_PATH=/checkout/sessions/{id}")); err != nil {
		t.Errorf("credential with its endpoints pinned: %v", err)
	}
}

// TestRetiredBitstreamDecimals: a configuration that still sets the settings
// the 10^-8 unit replaced is refused with what became of them, from the file
// and from the environment.
func TestRetiredBitstreamDecimals(t *testing.T) {
	p := writeConfig(t, `gateways:
  bitstream:
    decimals: {usdc: 6}
    check_asset_decimals: true
`)
	_, err := LoadConfig(p, []string{"WCBRIDGE_GATEWAYS_BITSTREAM_DECIMALS=usdc=6"})
	for _, want := range []string{
		"gateways.bitstream.decimals: no longer read: Bitstream's amounts are integers of 10^-8 of every token (gateways.bitstream.unit_decimals, default 8)",
		"(config file line 3)",
		"gateways.bitstream.check_asset_decimals: no longer read: a session's asset decimals are the token's on-chain precision",
		"WCBRIDGE_GATEWAYS_BITSTREAM_DECIMALS: no longer read",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
