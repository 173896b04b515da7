package bitstream

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Name is the gateway's short name.
const Name = "bitstream"

// Title is how order notes and pages name the gateway.
const Title = "Bitstream"

// MethodTitle is the payment method's default title at checkout, as the
// plugin names it.
const MethodTitle = "Stablecoins (Bitstream)"

// DefaultBaseURL is the documented API base. The documentation calls it the
// test environment; a production host is not documented.
const DefaultBaseURL = "https://api.bitstream.dev/api/v1"

// DefaultStatusPath is where a session is read ([ASSUMPTION]: Stripe-style,
// not documented).
const DefaultStatusPath = "/checkout/sessions/{id}"

// DefaultCurrency is the token a shop charges unless configured.
const DefaultCurrency = "usdc"

// DefaultUnitDecimals is the scale of every amount in Bitstream's API:
// integers of 10^-8 of the token, whatever the token's on-chain decimals.
// The documentation creates a session "to accept 1 USDC" with unitAmount
// "100000000" (the documented example), and Copperx's WooCommerce plugin, whose API
// Bitstream's is, sends the USDC amount times 10^8
// (wordpress.org plugin "copperx"). The addresses[].asset.decimals
// of a session (6 for USDC) is the token's on-chain precision, not this.
const DefaultUnitDecimals = 8

// maxUnitDecimals bounds unit_decimals; ERC-20 tokens use at most 18, the
// margin is for exotic ones.
const maxUnitDecimals = 36

// Config configures the Bitstream client.
type Config struct {
	APIKey  string `yaml:"api_key"`
	BaseURL string `yaml:"base_url"`
	// Currency is the token the shop charges; currency_map entries without a
	// token use it.
	Currency string `yaml:"currency"`
	// UnitDecimals is the scale of the API's integer amounts (unitAmount,
	// amountTotal, amountReceived): 10^-UnitDecimals of the token, for every
	// token. Default DefaultUnitDecimals (8). A payment keeps the scale it
	// was created with.
	UnitDecimals int `yaml:"unit_decimals"`
	// CurrencyMap maps an order currency (ISO 4217) to the token it is priced
	// in, one to one (e.g. USD: usdc). Default: {USD: <currency>}.
	CurrencyMap map[string]string `yaml:"currency_map"`
	// StatusPath is the session read path under BaseURL; {id} is replaced.
	StatusPath string `yaml:"status_path"`
	// SendCancelURL sends cancelUrl (default true).
	SendCancelURL *bool `yaml:"send_cancel_url"`
	// SendClientReference sends clientReferenceId and metadata.order_id
	// (default true).
	SendClientReference *bool `yaml:"send_client_reference"`
	// SendExpiresAt sends expiresAt, the end of the payment's lifetime
	// (default true; Copperx documents it, "Default: 1 Hour").
	SendExpiresAt *bool `yaml:"send_expires_at"`
	// WebhookSecret is the webhook secret from the Bitstream dashboard: it
	// verifies x-webhook-signature. Without it webhooks are refused and
	// sessions are polled.
	WebhookSecret string `yaml:"webhook_secret"`
	// TestMode marks payments as test payments (default: true when BaseURL is
	// the documented test host).
	TestMode *bool `yaml:"test_mode"`
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.Currency == "" {
		c.Currency = DefaultCurrency
	}
	c.Currency = strings.ToLower(c.Currency)
	if c.UnitDecimals == 0 {
		c.UnitDecimals = DefaultUnitDecimals
	}
	m := map[string]string{}
	for k, v := range c.CurrencyMap {
		if v == "" {
			v = c.Currency
		}
		m[strings.ToUpper(k)] = strings.ToLower(v)
	}
	if len(c.CurrencyMap) == 0 {
		m["USD"] = c.Currency
	}
	c.CurrencyMap = m
	if c.StatusPath == "" {
		c.StatusPath = DefaultStatusPath
	}
	return c
}

// Validate reports every problem of c at once, each naming its field.
func (c Config) Validate() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("gateways.%s.%s: %s", Name, field, fmt.Sprintf(format, args...)))
	}
	if strings.TrimSpace(c.APIKey) == "" {
		bad("api_key", "required")
	}
	d := c.WithDefaults()
	if u, err := url.Parse(d.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("base_url", "must be an absolute http(s) url")
	} else if u.RawQuery != "" || u.Fragment != "" {
		bad("base_url", "must not have a query or fragment")
	}
	if !strings.HasPrefix(d.StatusPath, "/") || !strings.Contains(d.StatusPath, "{id}") {
		bad("status_path", "must start with / and contain {id}")
	} else if !safePath(d.StatusPath) {
		bad("status_path", "must be a plain path under base_url: no '..', '//', scheme, host, '@', '\\', query or fragment")
	}
	if n := d.UnitDecimals; n < 1 || n > maxUnitDecimals {
		bad("unit_decimals", "%d is outside 1..%d", n, maxUnitDecimals)
	}
	if !isToken(d.Currency) {
		bad("currency", "%q is not a token code (1 to 16 lower-case letters or digits, e.g. usdc)", d.Currency)
	}
	for _, cur := range sortedKeys(d.CurrencyMap) {
		tok := d.CurrencyMap[cur]
		if len(cur) != 3 || strings.ToUpper(cur) != cur || !isLetters(cur) {
			bad("currency_map", "%q is not an ISO 4217 code", cur)
		}
		if !isToken(tok) {
			bad("currency_map", "%s: %q is not a token code", cur, tok)
		}
	}
	return errs
}

// isToken reports whether s looks like Bitstream's lower-case token codes
// (usdc, usdt, dai, eth, btc, matic in the documentation).
func isToken(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// safePath reports whether p can only name a path under the base URL: it is
// spliced after base_url, so it must not climb out of it or name another host.
func safePath(p string) bool {
	if strings.HasPrefix(p, "//") || strings.ContainsAny(p, "?#@\\%") || strings.Contains(p, "://") {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." {
			return false
		}
	}
	for _, r := range p {
		if r < 0x21 || r > 0x7e {
			return false
		}
	}
	return true
}

func isLetters(s string) bool {
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
