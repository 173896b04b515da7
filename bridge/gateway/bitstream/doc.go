// Package bitstream is wcbridge's client for Bitstream checkout sessions
// (api.bitstream.dev). Its simulator, for tests and demos, is package
// bitstreamsim.
//
// Bitstream documents exactly one call: creating a checkout session (its documented example,
// https://bitstream-technologies.gitbook.io/bitstream-technologies-1/accept-crypto-payment).
// Its API is Copperx's (its subscription page speaks of "your first plan on
// Copperx"; its sample session is the one in Copperx's webhook docs), so the
// rest follows Copperx's documentation (docs.copperx.io, copperx.readme.io)
// and its WooCommerce plugin (wordpress.org, copperx), each point configurable where it
// can be, and each one to confirm with one real test payment:
//
//   - Status: a session is read with GET {base}/checkout/sessions/{id} with the
//     same Bearer key (config status_path; Copperx's plugin reads it so).
//   - Status values: session status open, complete, expired and incomplete
//     (money received but less than the total), per Copperx's plugin;
//     paymentStatus unpaid/paid; paymentIntent.status canceled.
//   - Mapping: money decides first: less than amountTotal received is
//     underpaid, the total or more with paymentStatus "paid" or status
//     "complete" is paid or overpaid (a late payment on an expired session
//     counts); the full amount not yet called paid stays pending (a transfer
//     being confirmed); "incomplete" without amounts is underpaid; "complete"
//     and "paid" without amounts is paid, amounts unknown; "expired" with
//     nothing received is expired; a canceled session or intent is
//     cancelled; everything else is pending. An arrival at successUrl
//     proves nothing.
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
//   - Request fields: expiresAt (now + the payment's lifetime), cancelUrl,
//     clientReferenceId (our reference) and metadata.order_id, which Copperx
//     documents and the seed does not (config send_expires_at,
//     send_cancel_url, send_client_reference). The order is sent as one line
//     item (quantity 1, the order total as unitAmount).
//   - The customer's e-mail is not sent.
//   - successUrl is passed unchanged; a {CHECKOUT_SESSION_ID} in it is replaced
//     by Bitstream with the session id (documented).
//   - Errors: a JSON body {"statusCode":..., "message": string or [string]}
//     (NestJS style); any non-2xx is a failure.
//   - Transaction reference: the session's top-level transactionHash
//     (Copperx's plugin), else the first paymentIntent.transactions entry
//     with a "hash" ([ASSUMPTION]).
//   - Test mode: the documented host is Bitstream's test environment, so
//     payments are marked test unless test_mode is set to false (default: true
//     when base_url is the documented host).
//   - Webhooks: checkout_session.completed, .expired and .canceled, signed
//     with x-webhook-signature = hex HMAC-SHA256 of the raw body keyed with
//     the dashboard's webhook secret (VerifyWebhook, constant time). The
//     x-webhook-token header (the secret itself) is ignored. Without a
//     configured secret every webhook is refused; polling carries on. A
//     verified webhook is a hint: ConfirmCallback reads the session back.
package bitstream
