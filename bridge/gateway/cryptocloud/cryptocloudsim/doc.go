// Package cryptocloudsim is an in-memory CryptoCloud API v2 for tests and
// demos: invoice create, merchant/info (batches of up to 100), canceled and
// list, a hosted pay page, postbacks signed with a JWT (JSON or form, each
// documented token claim shape) with retries, and the shared simkit controls.
// It is written from CryptoCloud's documentation apart from the client
// (package cryptocloud).
package cryptocloudsim
