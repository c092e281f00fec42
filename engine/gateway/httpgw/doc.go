// Package httpgw puts gateway flow control in front of a net/http handler:
// every request is checked as its route (when the application names one)
// and as each API definition whose path predicates match it, with the
// gateway rules' arguments parsed from the client address, Host, headers,
// URL parameters and cookies. A blocked request gets 429 and a small JSON
// body, or whatever WithBlockHandler writes.
package httpgw
