package bitstream

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Name is the gateway's short name.
const Name = "bitstream"

// DefaultBaseURL is the documented API base. The documentation calls it the
// test environment; a production host is not documented.
const DefaultBaseURL = "https://api.bitstream.dev/api/v1"

// DefaultStatusPath is where a session is read ([ASSUMPTION]: Stripe-style,
// not documented).
const DefaultStatusPath = "/checkout/sessions/{id}"

// DefaultCurrency is the token a shop charges unless configured.
const DefaultCurrency = "usdc"

// maxDecimals bounds the configured decimals; ERC-20 tokens use at most 18,
// the margin is for exotic tokens.
const maxDecimals = 36

// DefaultDecimals returns the smallest-unit scale per token. USDC and USDT
// use 6 on-chain, DAI, ETH and MATIC 18, BTC 8. The documented example sends
// "1 USDC" as "100000000" (8 places), so the shop confirms this with one test
// payment.
func DefaultDecimals() map[string]int {
	return map[string]int{"usdc": 6, "usdt": 6, "dai": 18, "eth": 18, "btc": 8, "matic": 18}
}

// Config configures the Bitstream client.
type Config struct {
	APIKey  string `yaml:"api_key"`
	BaseURL string `yaml:"base_url"`
	// Currency is the token the shop charges; currency_map entries without a
	// token use it.
	Currency string `yaml:"currency"`
	// Decimals maps a token to the number of decimals of its smallest unit as
	// Bitstream counts unitAmount. Entries are merged over DefaultDecimals.
	Decimals map[string]int `yaml:"decimals"`
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
	// CheckAssetDecimals refuses a created session whose asset decimals
	// differ from Decimals (default true); turn it off only after a test
	// payment showed the configured scale is right.
	CheckAssetDecimals *bool `yaml:"check_asset_decimals"`
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
	dec := DefaultDecimals()
	for k, v := range c.Decimals {
		dec[strings.ToLower(k)] = v
	}
	c.Decimals = dec
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
	for _, tok := range sortedKeys(c.Decimals) {
		if n := c.Decimals[tok]; n < 0 || n > maxDecimals {
			bad("decimals", "%s: %d is outside 0..%d", tok, n, maxDecimals)
		}
	}
	if _, ok := d.Decimals[d.Currency]; !ok {
		bad("currency", "token %q has no decimals entry", d.Currency)
	}
	for _, cur := range sortedKeys(d.CurrencyMap) {
		tok := d.CurrencyMap[cur]
		if len(cur) != 3 || strings.ToUpper(cur) != cur || !isLetters(cur) {
			bad("currency_map", "%q is not an ISO 4217 code", cur)
		}
		if _, ok := d.Decimals[tok]; !ok {
			bad("currency_map", "%s: token %q has no decimals entry", cur, tok)
		}
	}
	return errs
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
