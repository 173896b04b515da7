// Package bitstream is wcbridge's client for Bitstream checkout sessions
// (api.bitstream.dev), with a local simulator of the same API for tests and
// demos.
//
// Bitstream documents exactly one call: creating a checkout session (seed 004,
// https://bitstream-technologies.gitbook.io/bitstream-technologies-1/accept-crypto-payment).
// Everything else below is an assumption, each one configurable where it can
// be, and each one to confirm with the vendor or one real test payment:
//
//   - Status: a session is read with GET {base}/checkout/sessions/{id} with the
//     same Bearer key (config status_path), by analogy with Stripe Checkout.
//   - Status values: only "open", "unpaid" and "requires_payment_method" are
//     documented. The others follow Stripe: session status open/complete/expired,
//     paymentStatus unpaid/paid, paymentIntent.status requires_payment_method/
//     processing/succeeded/canceled.
//   - Mapping: paid only when paymentStatus is "paid" and
//     paymentIntent.amountReceived >= amountTotal (more is overpaid); anything
//     received below amountTotal is underpaid whatever the status says; the full
//     amount received without paymentStatus "paid" stays pending (not yet
//     confirmed); status "expired" with nothing received is expired;
//     paymentIntent.status "canceled" with nothing received is cancelled;
//     everything else is pending. An arrival at successUrl proves nothing.
//   - Units: unitAmount, amountTotal, amount and amountReceived are integer
//     strings in 10^-8 of the token, for every token (config unit_decimals,
//     default 8): the documentation creates a session "to accept 1 USDC" with
//     "100000000", and Copperx's WooCommerce plugin (Bitstream's API is
//     Copperx's) sends USDC amounts times 10^8. addresses[].asset.decimals
//     (6 for USDC) is the token's on-chain precision and is never compared
//     with the unit. A payment records the scale it was created with
//     (bridge.GatewayPayment.UnitScale) and keeps it.
//   - Rounding: a total with more decimals than the unit is rounded up, so
//     the shop is never underpaid by rounding.
//   - Pricing: Bitstream prices in tokens, so only order currencies listed in
//     currency_map are accepted and 1 unit of the order currency is priced as
//     1 token (stablecoin pricing, e.g. USD: usdc). No exchange rate is applied.
//   - Request fields: cancelUrl, clientReferenceId (our reference) and
//     metadata.order_id are sent although only successUrl and lineItems are
//     documented (config send_cancel_url, send_client_reference). The order is
//     sent as one line item (quantity 1, the order total as unitAmount).
//   - The customer's e-mail and the payment's lifetime are not sent: no request
//     field for them is documented; the session lifetime is Bitstream's
//     (1 hour in the example).
//   - successUrl is passed unchanged; a {CHECKOUT_SESSION_ID} in it is replaced
//     by Bitstream with the session id (documented).
//   - Errors: a JSON body {"statusCode":..., "message": string or [string]}
//     (NestJS style); any non-2xx is a failure.
//   - Transaction reference: the first paymentIntent.transactions entry with
//     a "hash" (or "transactionHash"); the list is empty in the example.
//   - Test mode: the documented host is Bitstream's test environment, so
//     payments are marked test unless test_mode is set to false (default: true
//     when base_url is the documented host).
//   - Callbacks: none are documented, so the bridge polls and uses the
//     customer's return; VerifyCallback and ConfirmCallback refuse everything.
package bitstream
