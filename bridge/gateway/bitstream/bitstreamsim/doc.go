// Package bitstreamsim is a local stand-in for Bitstream's checkout session
// API for tests and demos, as Copperx's documentation describes it
// (Bitstream's API is Copperx's): create and read with amounts in 10^-8 of
// the token, the statuses open, complete, incomplete and expired, signed
// webhooks with retries, a hosted payment page and the shared simkit
// controls. It is written apart from the client (package bitstream).
package bitstreamsim
