package bitstreamsim

import (
	"encoding/json"
	"time"
)

// The simulator's own copy of the checkout session API's wire shapes,
// written from Copperx's documentation (docs.copperx.io), not shared with
// the client.

// apiError is the error body ([ASSUMPTION]: NestJS style; undocumented).
type apiError struct {
	StatusCode int    `json:"statusCode"`
	Message    any    `json:"message"`
	Error      string `json:"error,omitempty"`
}

// simCreateRequest is the accepted request; pointers tell absent from empty.
type simCreateRequest struct {
	SuccessURL        *string         `json:"successUrl"`
	CancelURL         *string         `json:"cancelUrl"`
	ClientReferenceID *string         `json:"clientReferenceId"`
	Metadata          map[string]any  `json:"metadata"`
	ExpiresAt         *string         `json:"expiresAt"`
	LineItems         *simLineItemsIn `json:"lineItems"`
}

type simLineItemsIn struct {
	Data []struct {
		Quantity  *json.Number `json:"quantity"`
		PriceData *struct {
			Currency    *string `json:"currency"`
			UnitAmount  *string `json:"unitAmount"`
			ProductData *struct {
				Name        *string `json:"name"`
				Description *string `json:"description"`
			} `json:"productData"`
		} `json:"priceData"`
	} `json:"data"`
}

// documentedFields are the request fields the simulator accepts in strict
// mode: only those of the documented example.
var documentedFields = map[string]bool{"successUrl": true, "lineItems": true}

// The session object, field for field in the documented order (the example session of the create call).
type simObject struct {
	ID                        string            `json:"id"`
	CreatedAt                 string            `json:"createdAt"`
	UpdatedAt                 string            `json:"updatedAt"`
	Mode                      string            `json:"mode"`
	PaymentMethodTypes        []string          `json:"paymentMethodTypes"`
	PaymentSetting            simPaymentSetting `json:"paymentSetting"`
	ExpiresAt                 string            `json:"expiresAt"`
	CustomerCreation          string            `json:"customerCreation"`
	CustomerUpdate            any               `json:"customerUpdate"`
	SubmitType                string            `json:"submitType"`
	AfterCompletion           any               `json:"afterCompletion"`
	OrganizationID            string            `json:"organizationId"`
	AmountTotal               string            `json:"amountTotal"`
	Currency                  string            `json:"currency"`
	PaymentLinkID             any               `json:"paymentLinkId"`
	SubscriptionID            any               `json:"subscriptionId"`
	CustomerID                any               `json:"customerId"`
	ClientReferenceID         *string           `json:"clientReferenceId"`
	SuccessURL                string            `json:"successUrl"`
	CancelURL                 *string           `json:"cancelUrl"`
	Status                    string            `json:"status"`
	PaymentStatus             string            `json:"paymentStatus"`
	TransactionHash           string            `json:"transactionHash,omitempty"`
	Metadata                  map[string]any    `json:"metadata"`
	EmailCollection           bool              `json:"emailCollection"`
	PhoneNumberCollection     bool              `json:"phoneNumberCollection"`
	ShippingAddressCollection bool              `json:"shippingAddressCollection"`
	BillingAddressCollection  bool              `json:"billingAddressCollection"`
	AfterCompletionConfirmMsg any               `json:"afterCompletionConfirmMsg"`
	ShippingDetails           struct{}          `json:"shippingDetails"`
	BillingDetails            struct{}          `json:"billingDetails"`
	URL                       string            `json:"url"`
	CustomerDetails           struct {
		Address struct{} `json:"address"`
	} `json:"customerDetails"`
	LineItems     simLineItems     `json:"lineItems"`
	Addresses     []simAddress     `json:"addresses"`
	PaymentIntent simPaymentIntent `json:"paymentIntent"`
}

type simPaymentSetting struct {
	AllowedChains      []simChain `json:"allowedChains"`
	PaymentMethodTypes any        `json:"paymentMethodTypes"`
	PreferredChainID   int        `json:"preferredChainId"`
}

type simChain struct {
	ChainID int `json:"chainId"`
}

type simLineItems struct {
	Object string        `json:"object"`
	Data   []simLineItem `json:"data"`
}

type simLineItem struct {
	AmountTotal string   `json:"amountTotal"`
	Currency    string   `json:"currency"`
	Description any      `json:"description"`
	Quantity    int64    `json:"quantity"`
	Price       simPrice `json:"price"`
}

type simPrice struct {
	ID                          string     `json:"id"`
	CreatedAt                   string     `json:"createdAt"`
	UpdatedAt                   string     `json:"updatedAt"`
	BillingScheme               string     `json:"billingScheme"`
	Currency                    string     `json:"currency"`
	ProductID                   string     `json:"productId"`
	Interval                    any        `json:"interval"`
	UsageType                   any        `json:"usageType"`
	Type                        string     `json:"type"`
	UnitAmount                  string     `json:"unitAmount"`
	UnitAmountDecimal           any        `json:"unitAmountDecimal"`
	CustomUnitMax               any        `json:"customUnitMax"`
	CustomUnitMin               any        `json:"customUnitMin"`
	CustomPreset                any        `json:"customPreset"`
	CustomUnitAmountSuggestions any        `json:"customUnitAmountSuggestions"`
	Product                     simProduct `json:"product"`
	Metadata                    any        `json:"metadata"`
	IsActive                    bool       `json:"isActive"`
	Visibility                  int        `json:"visibility"`
}

type simProduct struct {
	ID             string   `json:"id"`
	CreatedAt      string   `json:"createdAt"`
	UpdatedAt      string   `json:"updatedAt"`
	Name           string   `json:"name"`
	Description    string   `json:"description"`
	IsActive       bool     `json:"isActive"`
	Images         []string `json:"images"`
	UnitLabel      any      `json:"unitLabel"`
	URL            any      `json:"url"`
	Metadata       any      `json:"metadata"`
	DefaultPriceID string   `json:"defaultPriceId"`
	Visibility     int      `json:"visibility"`
}

type simAddress struct {
	ID                string   `json:"id"`
	CreatedAt         string   `json:"createdAt"`
	UpdatedAt         string   `json:"updatedAt"`
	CheckoutSessionID string   `json:"checkoutSessionId"`
	Asset             simAsset `json:"asset"`
	PaymentAddress    string   `json:"paymentAddress"`
}

type simAsset struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Address     string `json:"address"`
	ChainID     int    `json:"chainId"`
	Currency    string `json:"currency"`
	Symbol      string `json:"symbol"`
	Decimals    int    `json:"decimals"`
	CoingeckoID string `json:"coingeckoId"`
	IsPublic    bool   `json:"isPublic"`
	SuperToken  struct {
		Address  string `json:"address"`
		Symbol   string `json:"symbol"`
		Decimals int    `json:"decimals"`
	} `json:"superToken"`
}

type simPaymentIntent struct {
	ID                     string           `json:"id"`
	CreatedAt              string           `json:"createdAt"`
	UpdatedAt              string           `json:"updatedAt"`
	OrganizationID         string           `json:"organizationId"`
	Amount                 string           `json:"amount"`
	AmountReceived         *string          `json:"amountReceived"`
	Currency               string           `json:"currency"`
	Status                 string           `json:"status"`
	PaymentMethodID        any              `json:"paymentMethodId"`
	PaymentMethodTypes     []string         `json:"paymentMethodTypes"`
	Description            any              `json:"description"`
	TransferAccountAddress any              `json:"transferAccountAddress"`
	Transactions           []simTransaction `json:"transactions"`
}

// simTransaction is invented: the documented example has an empty list.
type simTransaction struct {
	Hash      string `json:"hash"`
	Amount    string `json:"amount"`
	ChainID   int    `json:"chainId"`
	CreatedAt string `json:"createdAt"`
}

var coingecko = map[string]string{"usdc": "usd-coin", "usdt": "tether", "dai": "dai", "eth": "ethereum", "btc": "bitcoin", "matic": "matic-network"}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
