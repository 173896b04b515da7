package main

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/shopspring/decimal"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/gateway/bitstream"
	"github.com/wcbridge/wcbridge/bridge/gateway/cryptocloud"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay"
	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable that overrides a config field:
// the field's YAML path in upper case joined by "_", e.g.
// WCBRIDGE_DATABASE_DSN or WCBRIDGE_GATEWAYS_STREAMPAY_SECRET_KEY.
const EnvPrefix = "WCBRIDGE_"

// Config is the sidecar's configuration. config.example.yaml documents every
// field; a value set in the file or the environment is "pinned": the shop
// owner cannot change it from WordPress.
type Config struct {
	Server      ServerConfig      `yaml:"server"`
	Database    DatabaseConfig    `yaml:"database"`
	WooCommerce WooCommerceConfig `yaml:"woocommerce"`
	WordPress   WordPressConfig   `yaml:"wordpress"`
	Plugin      PluginConfig      `yaml:"plugin"`
	Payments    PaymentsConfig    `yaml:"payments"`
	Orders      OrdersConfig      `yaml:"orders"`
	Reconcile   ReconcileConfig   `yaml:"reconcile"`
	Workers     WorkersConfig     `yaml:"workers"`
	Log         LogConfig         `yaml:"log"`
	Retention   RetentionConfig   `yaml:"retention"`
	Gateways    GatewaysConfig    `yaml:"gateways"`
	Secrets     SecretsConfig     `yaml:"secrets"`

	// pinned holds the dotted paths set by the file or the environment.
	pinned map[string]bool
	// lines holds the config file line of each path the file sets, env the
	// paths the environment sets (it wins over the file).
	lines map[string]int
	env   map[string]bool
}

type ServerConfig struct {
	Listen           string        `yaml:"listen"`
	PublicURL        string        `yaml:"public_url"`
	MaxCallbackBytes int64         `yaml:"max_callback_bytes"`
	ShutdownTimeout  time.Duration `yaml:"shutdown_timeout"`
	// TrustedProxies are the addresses or networks (CIDR) whose
	// X-Forwarded-For tells the client's address.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// CallbackRateLimit is how many callback requests per second one client
	// may send on average, CallbackBurst how many at once; 0 turns the limit
	// off.
	CallbackRateLimit int `yaml:"callback_rate_limit"`
	CallbackBurst     int `yaml:"callback_burst"`
	// CallbackTimeout bounds recording one callback: past it the gateway gets
	// 503 and retries.
	CallbackTimeout time.Duration `yaml:"callback_timeout"`
	// MaxConnections caps the connections open at once; more wait in the
	// kernel's queue.
	MaxConnections int `yaml:"max_connections"`
	// IdleTimeout closes a kept-alive connection idle this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MemoryLimitMB is the soft limit on the process's memory, in MiB
	// (runtime/debug.SetMemoryLimit): near it the garbage collector runs
	// more often rather than letting the heap grow; 0 lets the heap double
	// between collections. The GOMEMLIMIT variable, when set, wins.
	MemoryLimitMB int `yaml:"memory_limit_mb"`
}

// RetentionConfig says how long the sidecar keeps what it no longer needs;
// the background loop deletes older rows in small batches.
type RetentionConfig struct {
	Callbacks     time.Duration `yaml:"callbacks"`     // processed callbacks
	Notifications time.Duration `yaml:"notifications"` // delivered or closed notifications
	Interval      time.Duration `yaml:"interval"`      // how often to look
	BatchSize     int           `yaml:"batch_size"`    // rows per delete statement
}

type DatabaseConfig struct {
	DSN          string        `yaml:"dsn"`
	TablePrefix  string        `yaml:"table_prefix"`
	MaxOpenConns int           `yaml:"max_open_conns"`
	StartupWait  time.Duration `yaml:"startup_wait"`
}

type WooCommerceConfig struct {
	Storage    string `yaml:"storage"`     // auto, posts, posts+sync, hpos+sync, hpos
	PaidStatus string `yaml:"paid_status"` // auto, processing, completed
}

type WordPressConfig struct {
	URL       string `yaml:"url"`
	NotifyURL string `yaml:"notify_url"`
}

type PluginConfig struct {
	SharedSecret    string        `yaml:"shared_secret"`
	SignatureWindow time.Duration `yaml:"signature_window"`
}

type PaymentsConfig struct {
	Lifetime                  time.Duration   `yaml:"lifetime"`
	UnderpaidTolerancePercent decimal.Decimal `yaml:"underpaid_tolerance_percent"`
	UnderpaidToleranceFixed   decimal.Decimal `yaml:"underpaid_tolerance_fixed"`
	LatePaymentGrace          time.Duration   `yaml:"late_payment_grace"`
}

type OrdersConfig struct {
	OnExpired     string `yaml:"on_expired"`      // cancel, leave_pending
	OnLatePayment string `yaml:"on_late_payment"` // processing, on-hold
}

type ReconcileConfig struct {
	Interval  time.Duration `yaml:"interval"`
	BatchSize int           `yaml:"batch_size"`
	GiveUp    time.Duration `yaml:"give_up_after"`
	// SettingsInterval is how often a replica looks for settings another
	// replica saved: the bound on how long a change takes to reach them all.
	SettingsInterval time.Duration `yaml:"settings_interval"`
}

// WorkersConfig bounds what the sidecar does at once.
type WorkersConfig struct {
	// Callbacks is how many callbacks are confirmed with the gateway and
	// applied at once; each waits for a status API over the internet.
	Callbacks int `yaml:"callbacks"`
	// Notifications is how many requests to WordPress's notification
	// endpoint are in flight at once: at most the PHP workers that may
	// serve them (php-fpm's pm.max_children).
	Notifications int `yaml:"notifications"`
	// NotificationBatch is how many events one request to WordPress may
	// carry: one WordPress start-up finishes many orders.
	NotificationBatch int `yaml:"notification_batch"`
	// ApplyWriters is how many transactions apply confirmed reports to
	// orders at once (at most half of database.max_open_conns: receipts,
	// claims and the plugin's requests need connections too), and
	// ApplyGroup how many reports one of them may carry: reports that wait
	// for a writer share its transaction and commit.
	ApplyWriters int `yaml:"apply_writers"`
	ApplyGroup   int `yaml:"apply_group"`
	// NotifyLinger is how long delivery waits, once a notification is
	// queued, for others to share its claim and request (0 to 1s).
	NotifyLinger time.Duration `yaml:"notify_linger"`
}

type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json, text
}

// SecretsConfig holds the key that encrypts the gateway secrets the shop
// owner pushes from WordPress before they are stored in the database. It is
// the sidecar's alone: it never reaches WordPress.
type SecretsConfig struct {
	Key         string `yaml:"key"`          // encrypts and decrypts
	PreviousKey string `yaml:"previous_key"` // decrypts only, while rotating
}

type GatewaysConfig struct {
	StreamPay   StreamPayConfig   `yaml:"streampay"`
	CryptoCloud CryptoCloudConfig `yaml:"cryptocloud"`
	Bitstream   BitstreamConfig   `yaml:"bitstream"`
}

type StreamPayConfig struct {
	Enabled          bool `yaml:"enabled"`
	streampay.Config `yaml:",inline"`
}

type CryptoCloudConfig struct {
	Enabled            bool `yaml:"enabled"`
	cryptocloud.Config `yaml:",inline"`
}

type BitstreamConfig struct {
	Enabled          bool `yaml:"enabled"`
	bitstream.Config `yaml:",inline"`
}

// DefaultConfig returns the configuration used for every field the file and
// the environment leave out.
func DefaultConfig() Config {
	return Config{
		Server: ServerConfig{Listen: "127.0.0.1:8080", MaxCallbackBytes: 64 << 10, ShutdownTimeout: 15 * time.Second,
			TrustedProxies: []string{"127.0.0.1/32", "::1/128"}, CallbackRateLimit: 10, CallbackBurst: 40,
			CallbackTimeout: 5 * time.Second, MaxConnections: 1024, IdleTimeout: 30 * time.Second, MemoryLimitMB: 28},
		Retention:   RetentionConfig{Callbacks: 90 * 24 * time.Hour, Notifications: 90 * 24 * time.Hour, Interval: 10 * time.Minute, BatchSize: 500},
		Database:    DatabaseConfig{TablePrefix: "wp_", MaxOpenConns: 20, StartupWait: 2 * time.Minute},
		WooCommerce: WooCommerceConfig{Storage: "auto", PaidStatus: "auto"},
		Plugin:      PluginConfig{SignatureWindow: 5 * time.Minute},
		Payments: PaymentsConfig{
			Lifetime:                  time.Hour,
			UnderpaidTolerancePercent: decimal.RequireFromString("0.5"),
			LatePaymentGrace:          24 * time.Hour,
		},
		Orders:    OrdersConfig{OnExpired: "cancel", OnLatePayment: "processing"},
		Reconcile: ReconcileConfig{Interval: 5 * time.Second, BatchSize: 100, GiveUp: 7 * 24 * time.Hour, SettingsInterval: 5 * time.Second},
		Workers: WorkersConfig{Callbacks: 128, Notifications: 8, NotificationBatch: 20,
			ApplyWriters: defaultApplyWriters, ApplyGroup: defaultApplyGroup, NotifyLinger: bridge.DefaultNotifyLinger},
		Log: LogConfig{Level: "info", Format: "json"},
	}
}

// LoadConfig reads the YAML file at path (none when path is ""), applies
// WCBRIDGE_* variables from env, and validates the result. Every problem is
// reported at once, each naming its field, and for a value from the file its
// line: a value that cannot be read does not hide the problems of the others.
func LoadConfig(path string, env []string) (*Config, error) {
	cfg := DefaultConfig()
	cfg.pinned = map[string]bool{}
	cfg.lines = map[string]int{}
	cfg.env = map[string]bool{}
	var errs []error
	// Fields whose value could not be read: Validate would only repeat them.
	unreadable := map[string]bool{}
	fileOK := true
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		ferrs, syntaxOK := decodeYAML(b, &cfg, unreadable)
		errs = append(errs, ferrs...)
		fileOK = syntaxOK
	}
	errs = append(errs, applyEnv(&cfg, env, unreadable)...)
	errs = append(errs, unknownEnv(&cfg, env)...)
	// A file that is not YAML at all leaves its values unknown: checking the
	// defaults in their place would report problems that are not there.
	if fileOK {
		for _, err := range cfg.Validate() {
			path, _, _ := strings.Cut(err.Error(), ":")
			if unreadable[path] {
				continue
			}
			if line := cfg.lines[path]; line > 0 && !cfg.env[path] {
				err = fmt.Errorf("%w (config file line %d)", err, line)
			}
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return &cfg, &ConfigError{Errs: errs}
	}
	return &cfg, nil
}

// ConfigError lists every configuration problem.
type ConfigError struct{ Errs []error }

func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d configuration problem(s):", len(e.Errs))
	for _, err := range e.Errs {
		b.WriteString("\n  - ")
		b.WriteString(err.Error())
	}
	return b.String()
}

// decodeYAML sets the fields the file names, one field at a time, so one bad
// value is reported with its field and line and the others are still read.
// syntaxOK is false when the file is not YAML (nothing could be read).
func decodeYAML(b []byte, cfg *Config, unreadable map[string]bool) (errs []error, syntaxOK bool) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, true
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return []error{fmt.Errorf("config file: %s", strings.TrimPrefix(err.Error(), "yaml: "))}, false
	}
	if len(root.Content) == 0 {
		return nil, true
	}
	byPath := map[string]field{}
	sections := map[string]bool{}
	var names []string
	for _, f := range cfg.fields() {
		byPath[f.Path] = f
		names = append(names, f.Path)
		for p := f.Path; strings.Contains(p, "."); {
			p = p[:strings.LastIndex(p, ".")]
			sections[p] = true
		}
	}
	var sectionNames []string
	for s := range sections {
		sectionNames = append(sectionNames, s)
	}
	sort.Strings(sectionNames)
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind != yaml.MappingNode {
			where := "config file"
			if prefix != "" {
				where = prefix
			}
			errs = append(errs, fmt.Errorf("%s: want a section of settings, got %s (config file line %d)", where, yamlKind(n), n.Line))
			return
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := k.Value
			if prefix != "" {
				path = prefix + "." + k.Value
			}
			if first, dup := seen[k.Value]; dup {
				errs = append(errs, fmt.Errorf("%s: set twice, at config file lines %d and %d", path, first, k.Line))
				continue
			}
			seen[k.Value] = k.Line
			switch f, isField := byPath[path]; {
			case isField:
				cfg.lines[path] = k.Line
				cfg.pinned[path] = true
				if err := decodeField(v, f.Value); err != nil {
					unreadable[path] = true
					errs = append(errs, fmt.Errorf("%s: %s (config file line %d)", path, err, v.Line))
				}
			case sections[path]:
				walk(v, path)
			case retiredSettings[path] != "":
				errs = append(errs, fmt.Errorf("%s: %s (config file line %d)", path, retiredSettings[path], k.Line))
			default:
				msg := fmt.Sprintf("%s: unknown setting (config file line %d)", path, k.Line)
				if near := nearest(path, names, sectionNames); near != "" {
					msg += "; did you mean " + near + "?"
				}
				errs = append(errs, errors.New(msg))
			}
		}
	}
	walk(root.Content[0], "")
	return errs, true
}

func yamlKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a section"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "an alias"
}

// decodeField reads one field's value; an error says what the field wants.
func decodeField(n *yaml.Node, v reflect.Value) error {
	tmp := reflect.New(v.Type())
	tmp.Elem().Set(v)
	if err := n.Decode(tmp.Interface()); err != nil {
		got := yamlKind(n)
		t := v.Type()
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case t == reflect.TypeOf(time.Duration(0)):
			return fmt.Errorf("want a duration such as 30s or 5m, got %s", got)
		case t == reflect.TypeOf(decimal.Decimal{}):
			return fmt.Errorf("want a number such as 0.5, got %s", got)
		case t.Kind() == reflect.Bool:
			return fmt.Errorf("want true or false, got %s", got)
		case t.Kind() == reflect.Int || t.Kind() == reflect.Int64 || t.Kind() == reflect.Int32:
			return fmt.Errorf("want a whole number, got %s", got)
		case t.Kind() == reflect.String:
			return fmt.Errorf("want text, got %s", got)
		case t.Kind() == reflect.Slice:
			return fmt.Errorf("want a list, got %s", got)
		case t.Kind() == reflect.Map:
			return fmt.Errorf("want key: value pairs, got %s", got)
		}
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return errors.New(msg)
	}
	v.Set(tmp.Elem())
	return nil
}

// field is one settable config value with its dotted YAML path.
type field struct {
	Path  string
	Value reflect.Value
	Tag   reflect.StructTag
}

// fields lists every leaf field of cfg (scalars, lists and maps), in order.
func (cfg *Config) fields() []field {
	var out []field
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			tag := strings.Split(sf.Tag.Get("yaml"), ",")
			fv := v.Field(i)
			if len(tag) > 1 && tag[1] == "inline" {
				walk(fv, prefix)
				continue
			}
			name := tag[0]
			if name == "" || name == "-" {
				continue
			}
			path := name
			if prefix != "" {
				path = prefix + "." + name
			}
			if fv.Kind() == reflect.Struct && !isLeafType(fv.Type()) {
				walk(fv, path)
				continue
			}
			out = append(out, field{Path: path, Value: fv, Tag: sf.Tag})
		}
	}
	walk(reflect.ValueOf(cfg).Elem(), "")
	return out
}

var textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

func isLeafType(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(textUnmarshaler) || t == reflect.TypeOf(time.Time{})
}

// EnvName is the environment variable that overrides the field at path.
func EnvName(path string) string {
	r := strings.NewReplacer(".", "_", "+", "_", "-", "_")
	return EnvPrefix + strings.ToUpper(r.Replace(path))
}

func applyEnv(cfg *Config, env []string, unreadable map[string]bool) []error {
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			vars[k] = v
		}
	}
	var errs []error
	for _, f := range cfg.fields() {
		name := EnvName(f.Path)
		raw, ok := vars[name]
		if !ok {
			continue
		}
		cfg.env[f.Path] = true
		if err := setFromString(f.Value, raw); err != nil {
			unreadable[f.Path] = true
			errs = append(errs, fmt.Errorf("%s (from %s): %v", f.Path, name, err))
			continue
		}
		cfg.pinned[f.Path] = true
	}
	return append(errs, applyEnvFiles(cfg, vars)...)
}

// otherEnv are WCBRIDGE_* variables that are not config fields: the config
// file's path, and switches of the test suite and its tools.
var otherEnv = map[string]bool{
	"WCBRIDGE_CONFIG":           true,
	"WCBRIDGE_CHROMIUM":         true, // demo browser test
	"WCBRIDGE_DEMO_SCREENSHOTS": true, // demo browser test
	"WCBRIDGE_EMBEDDED_LOG":     true, // tests on the embedded engine
}

// otherEnvPrefix starts the test suite's variables (WCBRIDGE_TEST_MYSQL_DSN...).
const otherEnvPrefix = "WCBRIDGE_TEST_"

// KnownEnvNames lists every WCBRIDGE_* variable the sidecar reads (with the
// _FILE variant of every secret field), sorted.
func (cfg *Config) KnownEnvNames() []string {
	var out []string
	for _, f := range cfg.fields() {
		out = append(out, EnvName(f.Path))
		if IsSecret(f.Path) {
			out = append(out, EnvName(f.Path)+FileSuffix)
		}
	}
	for n := range otherEnv {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// retiredSettings are settings an earlier version read, with what became of
// them: a configuration that still sets one is refused with this message
// rather than a bare "unknown setting", so nothing changes meaning silently.
var retiredSettings = map[string]string{
	"gateways.bitstream.decimals": "no longer read: Bitstream's amounts are integers of 10^-8 of every token " +
		"(gateways.bitstream.unit_decimals, default 8), whatever the token's on-chain decimals; remove it " +
		"(payments made before keep the scale they were created with)",
	"gateways.bitstream.check_asset_decimals": "no longer read: a session's asset decimals are the token's on-chain " +
		"precision, not the API's unit, and are not compared; remove it",
}

// unknownEnv reports every WCBRIDGE_* variable that names nothing the
// sidecar reads: a typo would otherwise leave a setting silently at its
// default.
func unknownEnv(cfg *Config, env []string) []error {
	names := cfg.KnownEnvNames()
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
	}
	var unknown []string
	for _, kv := range env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvPrefix) || known[k] || strings.HasPrefix(k, otherEnvPrefix) {
			continue
		}
		known[k] = true // report each once
		unknown = append(unknown, k)
	}
	sort.Strings(unknown)
	var errs []error
	retired := map[string]string{}
	for path, why := range retiredSettings {
		retired[EnvName(path)] = why
	}
	for _, k := range unknown {
		if why := retired[k]; why != "" {
			errs = append(errs, fmt.Errorf("%s: %s", k, why))
			continue
		}
		msg := k + ": unknown environment variable"
		if near := nearest(k, names, nil); near != "" {
			msg += "; did you mean " + near + "?"
		}
		errs = append(errs, errors.New(msg))
	}
	return errs
}

// nearest returns the candidate closest to s (names first, then sections)
// when it is close enough to be a typo of it, else "".
func nearest(s string, names, sections []string) string {
	for _, list := range [][]string{names, sections} {
		best, bestD := "", 0
		for _, c := range list {
			if d := editDistance(strings.ToLower(s), strings.ToLower(c)); best == "" || d < bestD {
				best, bestD = c, d
			}
		}
		if best != "" && bestD <= max(2, min(len(s)/8, 4)) {
			return best
		}
	}
	return ""
}

// editDistance is the optimal string alignment distance: an insertion, a
// deletion, a substitution or a swap of neighbours (DNS for DSN) costs 1.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// setFromString parses raw into v according to v's type. Lists are
// comma-separated; maps are "key=value,key=value".
func setFromString(v reflect.Value, raw string) error {
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshaler) {
		return v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(raw))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", raw)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		if v.Type() == reflect.TypeOf(time.Duration(0)) {
			d, err := time.ParseDuration(raw)
			if err != nil {
				return fmt.Errorf("want a duration such as 30s or 5m, got %q", raw)
			}
			v.SetInt(int64(d))
			return nil
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("want an integer, got %q", raw)
		}
		v.SetInt(n)
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		if err := setFromString(nv.Elem(), raw); err != nil {
			return err
		}
		v.Set(nv)
	case reflect.Slice:
		parts := splitList(raw)
		s := reflect.MakeSlice(v.Type(), len(parts), len(parts))
		for i, p := range parts {
			if err := setFromString(s.Index(i), p); err != nil {
				return err
			}
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for _, p := range splitList(raw) {
			k, val, ok := strings.Cut(p, "=")
			if !ok {
				return fmt.Errorf("want key=value pairs, got %q", p)
			}
			kv, vv := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			if err := setFromString(kv, strings.TrimSpace(k)); err != nil {
				return err
			}
			if err := setFromString(vv, strings.TrimSpace(val)); err != nil {
				return err
			}
			m.SetMapIndex(kv, vv)
		}
		v.Set(m)
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

func splitList(raw string) []string {
	var out []string
	for _, p := range strings.Split(raw, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Pinned reports whether the field at the dotted path was set by the config
// file or the environment (and so cannot be changed from WordPress).
func (cfg *Config) Pinned(path string) bool { return cfg.pinned[path] }

// PinnedPaths lists the pinned paths, sorted.
func (cfg *Config) PinnedPaths() []string {
	var out []string
	for p := range cfg.pinned {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Redacted renders the configuration as "path = value" lines with every
// secret replaced; the DSN keeps its host and database but not its password.
func (cfg *Config) Redacted() string {
	var b strings.Builder
	for _, f := range cfg.fields() {
		val := fmt.Sprint(f.Value.Interface())
		if f.Value.Kind() == reflect.Pointer {
			if f.Value.IsNil() {
				val = "(default)"
			} else {
				val = fmt.Sprint(f.Value.Elem().Interface())
			}
		}
		switch {
		case f.Path == "database.dsn":
			val = redactDSN(val)
		case IsSecret(f.Path) && val != "":
			val = "[redacted]"
		}
		pin := ""
		if cfg.pinned[f.Path] {
			pin = "  (pinned)"
		}
		fmt.Fprintf(&b, "%s = %s%s\n", f.Path, val, pin)
	}
	return b.String()
}

func redactDSN(dsn string) string {
	if dsn == "" {
		return ""
	}
	c, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "[redacted: unparsable]"
	}
	if c.Passwd != "" {
		c.Passwd = "xxxxx"
	}
	return c.FormatDSN()
}

var prefixPattern = regexp.MustCompile(`^[A-Za-z0-9_]{1,40}$`)

// Validate reports every problem at once, each naming its field.
func (cfg *Config) Validate() []error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if cfg.Server.Listen == "" {
		bad("server.listen", "required (host:port)")
	}
	if cfg.Server.PublicURL != "" {
		if u, err := url.Parse(cfg.Server.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("server.public_url", "must be an absolute http(s) URL")
		}
	}
	if _, err := parseNetworks(cfg.Server.TrustedProxies); err != nil {
		bad("server.trusted_proxies", "%v", err)
	}
	if r := cfg.Server.CallbackRateLimit; r < 0 || r > 100000 {
		bad("server.callback_rate_limit", "must be between 0 (no limit) and 100000 per second")
	}
	if b := cfg.Server.CallbackBurst; b < 1 || b > 100000 {
		bad("server.callback_burst", "must be between 1 and 100000")
	}
	if t := cfg.Server.CallbackTimeout; t < 500*time.Millisecond || t > time.Minute {
		bad("server.callback_timeout", "must be between 500ms and 1m")
	}
	if n := cfg.Server.MaxConnections; n < 16 || n > 1000000 {
		bad("server.max_connections", "must be between 16 and 1000000")
	}
	if n := cfg.Server.MemoryLimitMB; n != 0 && (n < 16 || n > 1<<20) {
		bad("server.memory_limit_mb", "must be 0 (no limit) or between 16 and 1048576")
	}
	if t := cfg.Server.IdleTimeout; t < time.Second || t > 10*time.Minute {
		bad("server.idle_timeout", "must be between 1s and 10m")
	}
	for path, d := range map[string]time.Duration{"retention.callbacks": cfg.Retention.Callbacks, "retention.notifications": cfg.Retention.Notifications} {
		if d < time.Hour || d > 10*365*24*time.Hour {
			bad(path, "must be between 1h and 87600h")
		}
	}
	if i := cfg.Retention.Interval; i < 100*time.Millisecond || i > 24*time.Hour {
		bad("retention.interval", "must be between 100ms and 24h")
	}
	if b := cfg.Retention.BatchSize; b < 1 || b > 10000 {
		bad("retention.batch_size", "must be between 1 and 10000")
	}
	if cfg.Server.MaxCallbackBytes < 1024 || cfg.Server.MaxCallbackBytes > 8<<20 {
		bad("server.max_callback_bytes", "must be between 1024 and 8388608")
	}
	if cfg.Database.DSN == "" {
		bad("database.dsn", "required (or set %s)", EnvName("database.dsn"))
	} else if _, err := mysql.ParseDSN(cfg.Database.DSN); err != nil {
		bad("database.dsn", "not a valid DSN (user:password@tcp(host:3306)/database)")
	}
	if !prefixPattern.MatchString(cfg.Database.TablePrefix) {
		bad("database.table_prefix", "must be 1-40 letters, digits or underscores")
	}
	if cfg.Database.MaxOpenConns < 1 {
		bad("database.max_open_conns", "must be at least 1")
	}
	if n := cfg.Workers.Callbacks; n < 1 || n > 1024 {
		bad("workers.callbacks", "must be between 1 and 1024")
	}
	if n := cfg.Workers.Notifications; n < 1 || n > 64 {
		bad("workers.notifications", "must be between 1 and 64")
	}
	if n := cfg.Workers.NotificationBatch; n < 1 || n > 100 {
		bad("workers.notification_batch", "must be between 1 and 100")
	}
	if n := cfg.Workers.ApplyWriters; n < 1 || n > 32 {
		bad("workers.apply_writers", "must be between 1 and 32")
	}
	if n := cfg.Workers.ApplyGroup; n < 1 || n > 256 {
		bad("workers.apply_group", "must be between 1 and 256")
	}
	if t := cfg.Workers.NotifyLinger; t < 0 || t > time.Second {
		bad("workers.notify_linger", "must be between 0s and 1s")
	}
	if w := cfg.Database.StartupWait; w < 0 || w > time.Hour {
		bad("database.startup_wait", "must be between 0 (try once) and 1h")
	}
	switch cfg.WooCommerce.Storage {
	case "auto", "posts", "posts+sync", "hpos+sync", "hpos":
	default:
		bad("woocommerce.storage", "must be auto, posts, posts+sync, hpos+sync or hpos")
	}
	switch cfg.WooCommerce.PaidStatus {
	case "auto", "processing", "completed":
	default:
		bad("woocommerce.paid_status", "must be auto, processing or completed")
	}
	if cfg.WordPress.URL != "" {
		if u, err := url.Parse(cfg.WordPress.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("wordpress.url", "must be an absolute http(s) URL")
		}
	} else {
		bad("wordpress.url", "required: where the plugin's notification endpoint lives")
	}
	if why := weakSecret(cfg.Plugin.SharedSecret); why != "" {
		bad("plugin.shared_secret", "%s", why)
	}
	if cfg.Secrets.Key != "" {
		if why := weakSecret(cfg.Secrets.Key); why != "" {
			bad("secrets.key", "%s", why)
		} else if cfg.Secrets.Key == cfg.Plugin.SharedSecret {
			bad("secrets.key", "must differ from plugin.shared_secret, which WordPress knows; %s", MakeSecretHint)
		}
	}
	if cfg.Secrets.PreviousKey != "" {
		switch {
		case cfg.Secrets.Key == "":
			bad("secrets.previous_key", "is only read while rotating to a new secrets.key; set secrets.key")
		case cfg.Secrets.PreviousKey == cfg.Secrets.Key:
			bad("secrets.previous_key", "is the same as secrets.key")
		}
	}
	if w := cfg.Plugin.SignatureWindow; w < 30*time.Second || w > 15*time.Minute {
		bad("plugin.signature_window", "must be between 30s and 15m")
	}
	if l := cfg.Payments.Lifetime; l < 5*time.Minute || l > 7*24*time.Hour {
		bad("payments.lifetime", "must be between 5m and 168h")
	}
	// Amounts keep at most 8 decimal places, like WooCommerce's columns.
	eightPlaces := func(d decimal.Decimal) bool { return d.Equal(d.Round(8)) }
	if p := cfg.Payments.UnderpaidTolerancePercent; p.IsNegative() || p.GreaterThan(decimal.NewFromInt(10)) || !eightPlaces(p) {
		bad("payments.underpaid_tolerance_percent", "must be between 0 and 10, with at most 8 decimal places")
	}
	if f := cfg.Payments.UnderpaidToleranceFixed; f.IsNegative() || f.GreaterThan(decimal.NewFromInt(1000)) || !eightPlaces(f) {
		bad("payments.underpaid_tolerance_fixed", "must be between 0 and 1000 (in the order's currency), with at most 8 decimal places")
	}
	if g := cfg.Payments.LatePaymentGrace; g < 0 || g > 30*24*time.Hour {
		bad("payments.late_payment_grace", "must be between 0 and 720h")
	}
	switch cfg.Orders.OnExpired {
	case "cancel", "leave_pending":
	default:
		bad("orders.on_expired", "must be cancel or leave_pending")
	}
	switch cfg.Orders.OnLatePayment {
	case "processing", "on-hold":
	default:
		bad("orders.on_late_payment", "must be processing or on-hold")
	}
	if cfg.Reconcile.Interval < 100*time.Millisecond {
		bad("reconcile.interval", "must be at least 100ms")
	}
	if si := cfg.Reconcile.SettingsInterval; si < 100*time.Millisecond || si > time.Minute {
		bad("reconcile.settings_interval", "must be between 100ms and 1m")
	}
	if cfg.Reconcile.BatchSize < 1 || cfg.Reconcile.BatchSize > 1000 {
		bad("reconcile.batch_size", "must be between 1 and 1000")
	}
	switch cfg.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error")
	}
	switch cfg.Log.Format {
	case "json", "text":
	default:
		bad("log.format", "must be json or text")
	}
	errs = append(errs, cfg.pinnedCredentialEndpoints()...)
	g := cfg.Gateways
	if g.StreamPay.Enabled {
		errs = append(errs, g.StreamPay.Config.Validate()...)
	}
	if g.CryptoCloud.Enabled {
		errs = append(errs, g.CryptoCloud.Config.Validate()...)
	}
	if g.Bitstream.Enabled {
		errs = append(errs, g.Bitstream.Config.Validate()...)
	}
	return errs
}

// pinnedCredentialEndpoints reports a gateway whose credential is pinned
// while one of its endpoints is not: the operator who hands the sidecar a
// credential also says where it may go. (Endpoints cannot be set from
// WordPress; this keeps a default from deciding it silently.)
func (cfg *Config) pinnedCredentialEndpoints() []error {
	var errs []error
	for _, gw := range gatewayNames {
		prefix := "gateways." + gw + "."
		var creds, endpoints []string
		for _, f := range cfg.fields() {
			if !strings.HasPrefix(f.Path, prefix) {
				continue
			}
			name := strings.TrimPrefix(f.Path, prefix)
			switch {
			case isEndpoint(f.Path):
				endpoints = append(endpoints, f.Path)
			case IsSecret(f.Path) || name == "client_id":
				if cfg.pinned[f.Path] {
					creds = append(creds, f.Path)
				}
			}
		}
		if len(creds) == 0 {
			continue
		}
		for _, e := range endpoints {
			if !cfg.pinned[e] {
				verb := "is"
				if len(creds) > 1 {
					verb = "are"
				}
				errs = append(errs, fmt.Errorf("%s: must be set in the sidecar's configuration too, because %s %s (the operator who pins a credential also pins where it is sent)", e, strings.Join(creds, " and "), verb))
			}
		}
	}
	return errs
}

// parseNetworks reads addresses and CIDR networks; an address is a network
// of one.
func parseNetworks(list []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, v := range list {
		if !strings.Contains(v, "/") {
			ip := net.ParseIP(v)
			if ip == nil {
				return nil, fmt.Errorf("%q is not an IP address or a CIDR network", v)
			}
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(v)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or a CIDR network", v)
		}
		out = append(out, n)
	}
	return out, nil
}
