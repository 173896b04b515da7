// Package streampaysim is an in-memory StreamPay for tests and demos: the
// create, manual-create and status endpoints, a hosted payment page, signed
// callbacks with retries and the shared simkit controls. It is written from
// StreamPay's documentation apart from the client (package streampay).
//
// Where the documentation is silent it assumes: errors are {"error": "..."};
// ids the status host does not know (unknown, or new within Config.StatusLag)
// answer 200 {"status":"not_found"}, or with NotFound404 a 404 naming the
// payment; an underpayment stays pending without a callback
// (Config.CallbackOnUnderpay changes that); ERR_CALLBACK shows while a
// callback fails (Config.ShowErrCallback, on in DefaultConfig);
// current_datetime is RFC 3339 in UTC; token amounts use 24 decimals.
package streampaysim
