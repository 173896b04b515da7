// Package cryptocloud is the CryptoCloud API v2 gateway: a client that
// creates invoices and reads their status, postback verification as pure
// functions over raw bytes. Its simulator, for tests and demos, is package
// cryptocloudsim.
//
// Assumptions where CryptoCloud's documentation is silent:
//
//   - Amounts go out as decimal strings in major units of the order's fiat
//     (the API accepts numbers or strings); answers carry JSON floats, decoded
//     through json.Number into decimals.
//   - The comparable unit of GatewayState.Amount/Received is USD: received
//     money is reported only in the coin and in USD (received_usd). Amount is
//     amount_in_fiat for USD invoices and amount_usd otherwise.
//   - "canceled" does not say why: canceled at or after expiry_date maps to
//     expired, before it to cancelled; a canceled invoice that had received
//     money maps to underpaid so the money is not forgotten. "created" past
//     expiry_date maps to expired; unknown statuses stay pending.
//   - Invoices with test_mode: true count as pending unless allow_test_mode
//     is set: a test invoice is "paid" without money moving.
//   - The postback token claim naming the invoice is undocumented. "id" or
//     "uuid" string claims are compared with invoice_id (INV- prefix
//     normalised) and must match; numeric ids (the doc's sample has "id":13)
//     are ignored; exp is required and checked with token_leeway (default
//     30s); only HS256 is accepted. The token covers the invoice id only, so
//     the other postback fields are hints: ConfirmCallback re-reads the
//     invoice through merchant/info and only that counts.
//   - In form-encoded postbacks invoice_info is a JSON string.
//   - The API has no per-invoice return, cancel URL or description: the
//     project's success/fail URLs apply, and those request fields are not sent.
//   - Lifetime is sent as time_to_pay in whole minutes, rounded up.
//   - An error envelope ({"status":"error"}) under HTTP 200 is reported as a
//     400 refusal carrying the gateway's messages.
//   - Cancel is retried like a read: cancelling twice is harmless.
//   - Postback retry schedule is undocumented; cryptocloudsim retries every
//     minute for an hour by default. Its pay links are {PublicURL}/pay/{id}.
package cryptocloud
