// Package streampay is wcbridge's StreamPay gateway: a client for creating
// hosted payment pages and reading payment status, verification of the
// SHA-256-signed callbacks as pure functions over the raw body. Its
// simulator, for tests and demos, is package streampaysim.
//
// StreamPay's documentation (streampay.gitbook.io, a rebrand of the older
// CoinPipe "Pay with NEAR" gateway) is silent or inconsistent in places.
// Where it is, this package assumes:
//
//   - Creation uses POST {create_url}/payment/{client_id}/page and status
//     GET {status_url}/payment/{id}; both base URLs are configurable because
//     the docs name two hosts.
//   - There is no order-id field: the name reads "Order #<id> (<reference>)"
//     and the reference is added to return_url as the wcbridge_ref query
//     parameter, which the status API echoes back as GatewayState.OrderRef.
//   - Amounts are sent as decimal strings in the order's own precision (no
//     rounding); only USD and EUR orders are accepted unless
//     native_token_amounts is set, in which case any other currency is sent
//     as the native-token `amount` and the shop prices its goods in the
//     token (native_token is its label).
//   - The link lifetime is not settable: CreatePaymentRequest.Lifetime is
//     ignored and the returned expiryAt is used.
//   - `not_found` is documented for expired payments and is also what the
//     status host answers for an id it does not know (yet): creation and
//     status are two hosts. It is reported as GatewayState.NotFound, which
//     the bridge reads as expired only after the payment's expiry plus a
//     grace. A 200 body with status not_found counts (with its expiry_at
//     where it has one); a 404 counts only when its JSON body names the
//     payment asked for; any other 404 is an error (a wrong status_url).
//   - `ERR_CALLBACK` (the callbacks page: paid, the callback retried every
//     10 minutes for 3 days) means paid with callback delivery failing: the
//     state asks to keep polling and carries a note for the shop.
//   - network other than "mainnet" marks a payment as Test.
//   - The status API carries no received amount; ConfirmCallback counts a
//     callback only when the API says completed (or ERR_CALLBACK) and then
//     classifies it from the verified callback's amount_usd and
//     received_amount_usd (more: overpaid, less: underpaid). A pending
//     answer leaves the payment pending; the bridge applies its tolerance.
//   - Callback signatures are compared in constant time after hex-decoding,
//     so upper-case hex is accepted too. No freshness window is documented
//     and current_datetime is the send time of each retry, so old callbacks
//     are accepted: replays are harmless because processing is idempotent
//     and every callback is confirmed with the status API.
//   - Every callback field must be present and a JSON string; amount_usd
//     and received_amount_usd must be non-negative decimals. The
//     Content-Type header is not checked: the signature authenticates.
//   - Error answers have no documented shape: a JSON "error" or "message"
//     field is used when present, else the body text.
package streampay
