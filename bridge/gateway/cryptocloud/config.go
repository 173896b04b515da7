package cryptocloud

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"time"
)

// DefaultBaseURL is CryptoCloud's API host; v2 paths sit under /v2.
const DefaultBaseURL = "https://api.cryptocloud.plus"

// DefaultTokenLeeway is the clock skew allowed when checking a postback
// token's exp claim.
const DefaultTokenLeeway = 30 * time.Second

// BatchSize is how many invoices one merchant/info call may name.
const BatchSize = 100

// Currencies are the fiat currencies an invoice can be created in, as the
// create-invoice documentation lists them.
var Currencies = []string{
	"USD", "UZS", "KGS", "KZT", "AMD", "AZN", "BYN", "AUD", "TRY", "AED", "CAD", "CNY", "HKD",
	"IDR", "INR", "JPY", "PHP", "SGD", "THB", "VND", "MYR", "RUB", "UAH", "EUR", "GBP",
}

// Config is the cryptocloud section of the sidecar's configuration.
type Config struct {
	APIKey    string `yaml:"api_key"`
	ShopID    string `yaml:"shop_id"`
	SecretKey string `yaml:"secret_key"` // the project's secret key: verifies postback tokens
	BaseURL   string `yaml:"base_url"`
	Locale    string `yaml:"locale"` // optional ?locale= on invoice creation (en, ru)
	// AvailableCurrencies restricts the coins the pay page offers
	// (add_fields.available_currencies), e.g. USDT_TRC20, BTC.
	AvailableCurrencies []string `yaml:"available_currencies"`
	// AllowTestMode lets invoices created in the project's test mode count as
	// paid. Off in production: a test invoice is "paid" without money moving.
	AllowTestMode bool          `yaml:"allow_test_mode"`
	TokenLeeway   time.Duration `yaml:"token_leeway"`
}

var coinCode = regexp.MustCompile(`^[A-Z0-9_]{2,32}$`)

// Validate reports every problem of c at once.
func (c Config) Validate() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("gateways.cryptocloud.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.APIKey == "" {
		bad("api_key", "required")
	}
	if c.ShopID == "" {
		bad("shop_id", "required")
	}
	// Without the secret no postback can be verified; failing closed would
	// reject every one of them, so refuse the configuration instead.
	if c.SecretKey == "" {
		bad("secret_key", "required to verify postbacks")
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("base_url", "must be an absolute http(s) url")
		}
	}
	if c.Locale != "" && c.Locale != "en" && c.Locale != "ru" {
		bad("locale", "must be en or ru, got %q", c.Locale)
	}
	for i, cur := range c.AvailableCurrencies {
		if !coinCode.MatchString(cur) {
			bad(fmt.Sprintf("available_currencies[%d]", i), "%q is not a coin code like USDT_TRC20", cur)
		}
	}
	if c.TokenLeeway < 0 || c.TokenLeeway > 5*time.Minute {
		bad("token_leeway", "must be between 0 and 5m, got %s", c.TokenLeeway)
	}
	return errs
}

// WithDefaults returns c with the documented defaults filled in.
func (c Config) WithDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.TokenLeeway == 0 {
		c.TokenLeeway = DefaultTokenLeeway
	}
	return c
}

func supportedCurrency(cur string) bool { return slices.Contains(Currencies, cur) }
