package main

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/api"
	"github.com/wcbridge/wcbridge/bridge/gateway"
	"github.com/wcbridge/wcbridge/bridge/gateway/bitstream"
	"github.com/wcbridge/wcbridge/bridge/gateway/cryptocloud"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay"
	"github.com/wcbridge/wcbridge/bridge/store"
)

// settingsStore keeps the shop owner's settings (the sidecar's own table).
type settingsStore interface {
	Settings(ctx context.Context) (*store.SettingsState, error)
	SettingsVersion(ctx context.Context) (int64, error)
	UpdateSettings(ctx context.Context, fn func(cur *store.SettingsState) (map[string]string, error)) (*store.SettingsState, error)
}

// settablePrefixes are the config paths the shop owner may set from
// WordPress; everything else belongs to whoever runs the sidecar.
var settablePrefixes = []string{"gateways.", "payments.", "orders.", "woocommerce.paid_status"}

// settable reports whether the shop owner may set the field at path from
// WordPress. A gateway's endpoints (every field ending in _url or _path) are
// the operator's alone: whoever holds the plugin's shared secret could
// otherwise send the gateway's credentials, pinned or not, to a host of
// their choosing.
func settable(path string) bool {
	if isEndpoint(path) {
		return false
	}
	for _, p := range settablePrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// isEndpoint reports whether the field at path says where a request goes:
// a text field whose name ends in _url or _path (send_cancel_url is a switch).
func isEndpoint(path string) bool { return endpointPaths[path] }

var endpointPaths = func() map[string]bool {
	out := map[string]bool{}
	cfg := DefaultConfig()
	for _, f := range cfg.fields() {
		name := f.Path[strings.LastIndex(f.Path, ".")+1:]
		if f.Value.Kind() == reflect.String && (strings.HasSuffix(name, "_url") || strings.HasSuffix(name, "_path")) {
			out[f.Path] = true
		}
	}
	return out
}()

// runtimeConfig is the live configuration: the file and environment (base),
// overlaid with the shop owner's settings from the database. It builds the
// gateway clients and the policy, and rebuilds them when settings change,
// so no restart is needed. It implements bridge.Gateways and api.Settings.
type runtimeConfig struct {
	base   *Config
	store  settingsStore
	opts   gateway.Options
	logger *slog.Logger
	wrap   func(bridge.Gateway) bridge.Gateway // test seam; nil in production

	mu       sync.RWMutex
	cur      *Config
	values   map[string]string
	version  int64 // the stored settings' save counter cur was built from; -1 before the first load
	gateways map[string]bridge.Gateway
	problems map[string]error
}

var (
	_ bridge.Gateways = (*runtimeConfig)(nil)
	_ api.Settings    = (*runtimeConfig)(nil)
)

func newRuntimeConfig(base *Config, st settingsStore, opts gateway.Options, logger *slog.Logger, wrap func(bridge.Gateway) bridge.Gateway) *runtimeConfig {
	r := &runtimeConfig{base: base, store: st, opts: opts, logger: logger, wrap: wrap}
	r.install(base, nil, -1)
	return r
}

// gatewayNames are the gateways wcbridge knows, in the registry's order.
var gatewayNames = func() []string {
	names := make([]string, len(knownGateways))
	for i, g := range knownGateways {
		names[i] = g.Name
	}
	return names
}()

// Names lists every gateway wcbridge knows.
func (r *runtimeConfig) Names() []string { return gatewayNames }

// Gateway returns an enabled, configured gateway.
func (r *runtimeConfig) Gateway(name string) (bridge.Gateway, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if g, ok := r.gateways[name]; ok {
		return g, nil
	}
	if err, ok := r.problems[name]; ok {
		return nil, err
	}
	return nil, bridge.ErrUnknownGateway
}

// Current returns the configuration in force.
func (r *runtimeConfig) Current() *Config {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.cur
}

// Policy returns the order-status policy in force.
func (r *runtimeConfig) Policy() bridge.Policy { return policyOf(r.Current()) }

func policyOf(c *Config) bridge.Policy {
	p := bridge.DefaultPolicy()
	p.Lifetime = c.Payments.Lifetime
	p.TolerancePercent = c.Payments.UnderpaidTolerancePercent
	p.ToleranceFixed = c.Payments.UnderpaidToleranceFixed
	p.LatePaymentGrace = c.Payments.LatePaymentGrace
	p.CancelOnExpiry = c.Orders.OnExpired == "cancel"
	p.LateOnHold = c.Orders.OnLatePayment == "on-hold"
	p.GiveUpAfter = c.Reconcile.GiveUp
	if c.WooCommerce.PaidStatus != "auto" {
		p.PaidStatus = c.WooCommerce.PaidStatus
	}
	return p
}

const pinnedProblem = "pinned in the sidecar's configuration"

// overlay applies settings values to a copy of base. Pinned and unknown keys
// are reported, as are values that do not parse; the result is validated.
func overlay(base *Config, values map[string]string) (*Config, map[string]string) {
	c := *base
	fields := map[string]string{}
	byPath := map[string]field{}
	for _, f := range c.fields() {
		byPath[f.Path] = f
	}
	for k, v := range values {
		f, ok := byPath[k]
		switch {
		case !ok || !settable(k):
			fields[k] = "not a setting that can be changed from WordPress"
		case base.Pinned(k):
			fields[k] = pinnedProblem
		case v == "" && IsSecret(k):
			// an empty secret leaves the stored one unchanged
		default:
			if msg := checkSettingBounds(k, v); msg != "" {
				fields[k] = msg
			} else if err := setFromString(f.Value, v); err != nil {
				fields[k] = err.Error()
			}
		}
	}
	for _, err := range c.Validate() {
		path, msg, _ := strings.Cut(err.Error(), ": ")
		if _, ok := fields[path]; !ok {
			fields[path] = msg
		}
	}
	// A disabled gateway is not validated as a whole (it may be half set
	// up), but every value WordPress sets for it is held to its bounds.
	for _, err := range c.disabledGatewayProblems() {
		path, msg, _ := strings.Cut(err.Error(), ": ")
		path, _, _ = strings.Cut(path, "[")
		if _, set := values[path]; set {
			if _, ok := fields[path]; !ok {
				fields[path] = msg
			}
		}
	}
	return &c, fields
}

// install builds gateways for c and makes it current.
func (r *runtimeConfig) install(c *Config, values map[string]string, version int64) {
	gws, problems := buildGateways(c, r.opts)
	if r.wrap != nil {
		for name, g := range gws {
			gws[name] = r.wrap(g)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if version >= 0 && version < r.version {
		return // a newer save is in force already
	}
	r.cur, r.values, r.version, r.gateways, r.problems = c, values, version, gws, problems
}

// buildGateways makes a client for each enabled gateway.
func buildGateways(c *Config, opts gateway.Options) (map[string]bridge.Gateway, map[string]error) {
	gws := map[string]bridge.Gateway{}
	problems := map[string]error{}
	add := func(name string, enabled bool, mk func() (bridge.Gateway, error)) {
		if !enabled {
			problems[name] = bridge.ErrGatewayDisabled
			return
		}
		g, err := mk()
		if err != nil {
			problems[name] = &bridge.Error{Code: bridge.ECONFLICT, Message: name + " is not configured correctly", Err: err}
			return
		}
		gws[name] = g
	}
	g := c.Gateways
	add(streampay.Name, g.StreamPay.Enabled, func() (bridge.Gateway, error) { return streampay.New(g.StreamPay.Config, opts) })
	add(cryptocloud.Name, g.CryptoCloud.Enabled, func() (bridge.Gateway, error) { return cryptocloud.New(g.CryptoCloud.Config, opts) })
	add(bitstream.Name, g.Bitstream.Enabled, func() (bridge.Gateway, error) { return bitstream.New(g.Bitstream.Config, opts) })
	return gws, problems
}

// Reload looks at the stored settings' save counter and, when another
// replica saved since, reads them and rebuilds what changed. Replicas see a
// save within one reload period (settingsReload).
func (r *runtimeConfig) Reload(ctx context.Context) error {
	if r.store == nil {
		return nil
	}
	v, err := r.store.SettingsVersion(ctx)
	if err != nil {
		return fmt.Errorf("load settings: %w", err)
	}
	r.mu.RLock()
	same := v == r.version
	r.mu.RUnlock()
	if same {
		return nil
	}
	st, err := r.store.Settings(ctx)
	if err != nil {
		return fmt.Errorf("load settings: %w", err)
	}
	r.load(st)
	return nil
}

// load installs stored settings: what is valid is kept, what is not is
// said in the log.
func (r *runtimeConfig) load(st *store.SettingsState) {
	if len(st.Unreadable) > 0 {
		r.logger.Warn("stored settings ignored: they cannot be decrypted", "fields", st.Unreadable)
	}
	if len(st.Plain) > 0 {
		r.logger.Warn("secret settings are stored unencrypted: set secrets.key and restart to encrypt them", "fields", strings.Join(st.Plain, ","))
	}
	stored := st.Values
	if len(st.Unreadable) > 0 {
		// While secrets.key rotates, a replica not yet restarted keeps the
		// value it had decrypted before.
		r.mu.RLock()
		stored = map[string]string{}
		for k, v := range st.Values {
			stored[k] = v
		}
		for k := range st.Unreadable {
			if v, ok := r.values[k]; ok {
				stored[k] = v
			}
		}
		r.mu.RUnlock()
	}
	values, dropped := usable(r.base, stored)
	if len(dropped) > 0 {
		r.logger.Warn("stored settings ignored: they no longer apply", "fields", dropped)
	}
	c, fields := overlay(r.base, values)
	if len(fields) > 0 {
		r.logger.Warn("stored settings ignored: they do not validate", "fields", fields)
		c, values = r.base, nil
	}
	r.install(c, values, st.Version)
}

// usable drops the stored values that do not apply on their own (a key no
// longer settable from WordPress, pinned since, or out of bounds) and says
// why for each.
func usable(base *Config, stored map[string]string) (map[string]string, map[string]string) {
	values := map[string]string{}
	for k, v := range stored {
		values[k] = v
	}
	_, fields := overlay(base, values)
	dropped := map[string]string{}
	for k, why := range fields {
		if _, ok := values[k]; ok {
			dropped[k] = why
			delete(values, k)
		}
	}
	return values, dropped
}

// Settings lists the settable keys with their values; secrets only say
// whether they are set.
func (r *runtimeConfig) Settings(ctx context.Context) (map[string]api.SettingView, error) {
	// Show what is in force: each gateway's defaults filled in, in the
	// format PUT accepts (lists comma-separated, maps key=value).
	c := *r.Current()
	c.Gateways.StreamPay.Config = c.Gateways.StreamPay.Config.WithDefaults()
	c.Gateways.CryptoCloud.Config = c.Gateways.CryptoCloud.Config.WithDefaults()
	c.Gateways.Bitstream.Config = c.Gateways.Bitstream.Config.WithDefaults()
	out := map[string]api.SettingView{}
	for _, f := range c.fields() {
		if !settable(f.Path) {
			continue
		}
		val := formatValue(f.Value)
		v := api.SettingView{Pinned: r.base.Pinned(f.Path), Secret: IsSecret(f.Path), Set: val != ""}
		if !v.Secret {
			v.Value = &val
		}
		out[f.Path] = v
	}
	return out, nil
}

// formatValue renders a config value the way setFromString reads it.
func formatValue(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return ""
		}
		return formatValue(v.Elem())
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = formatValue(v.Index(i))
		}
		return strings.Join(parts, ",")
	case reflect.Map:
		parts := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			parts = append(parts, formatValue(k)+"="+formatValue(v.MapIndex(k)))
		}
		sort.Strings(parts)
		return strings.Join(parts, ",")
	}
	if t, ok := v.Interface().(interface{ String() string }); ok {
		return t.String()
	}
	return fmt.Sprint(v.Interface())
}

// PutSettings validates and stores the shop owner's settings. Only the keys
// named are written, checked against what is stored now under the save lock,
// so saves through different replicas never undo each other; an empty secret
// keeps the stored one. They take effect at once here and within a reload
// period on other replicas.
func (r *runtimeConfig) PutSettings(ctx context.Context, values map[string]string) error {
	if r.store == nil {
		return bridge.Errorf(bridge.ENOTFOUND, "settings are not managed by this sidecar")
	}
	var installed *Config
	var merged map[string]string
	st, err := r.store.UpdateSettings(ctx, func(cur *store.SettingsState) (map[string]string, error) {
		changes, m, c, err := r.checkSettings(cur.Values, values)
		if err != nil {
			return nil, err
		}
		installed, merged = c, m
		return changes, nil
	})
	if err != nil {
		if bridge.ErrorCode(err) == bridge.EINTERNAL {
			return fmt.Errorf("store settings: %w", err)
		}
		return err
	}
	r.install(installed, merged, st.Version)
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		r.logger.Info("settings changed from wordpress", "keys", strings.Join(keys, ","), "version", st.Version)
	}
	return nil
}

// CheckSettings validates values against what is stored now, as PutSettings
// does, every problem at once, and stores nothing.
func (r *runtimeConfig) CheckSettings(ctx context.Context, values map[string]string) error {
	if r.store == nil {
		return bridge.Errorf(bridge.ENOTFOUND, "settings are not managed by this sidecar")
	}
	cur, err := r.store.Settings(ctx)
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	_, _, _, err = r.checkSettings(cur.Values, values)
	return err
}

// checkSettings merges values into the stored ones and validates the
// result: the changes to write, the merged settings and the configuration
// they make, or a *bridge.Error naming every invalid or pinned key.
func (r *runtimeConfig) checkSettings(stored, values map[string]string) (changes, merged map[string]string, c *Config, err error) {
	changes = map[string]string{}
	for k, v := range values {
		if v == "" && IsSecret(k) {
			continue // keep the stored secret
		}
		changes[k] = v
	}
	merged, _ = usable(r.base, stored)
	for k, v := range changes {
		merged[k] = v
	}
	c, fields := overlay(r.base, merged)
	if len(fields) > 0 {
		code, msg := bridge.ECONFLICT, "these settings are pinned by the sidecar's configuration"
		for _, problem := range fields {
			if problem != pinnedProblem {
				code, msg = bridge.EINVALID, "some settings are invalid"
			}
		}
		return nil, nil, nil, &bridge.Error{Code: code, Message: msg, Fields: fields}
	}
	return changes, merged, c, nil
}

// disabledGatewayProblems validates the gateways that are not enabled.
func (cfg *Config) disabledGatewayProblems() []error {
	var errs []error
	g := cfg.Gateways
	if !g.StreamPay.Enabled {
		errs = append(errs, g.StreamPay.Config.Validate()...)
	}
	if !g.CryptoCloud.Enabled {
		errs = append(errs, g.CryptoCloud.Config.Validate()...)
	}
	if !g.Bitstream.Enabled {
		errs = append(errs, g.Bitstream.Config.Validate()...)
	}
	return errs
}
