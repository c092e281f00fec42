// Package gateway implements Sentinel-style gateway flow control: API
// definitions that group request paths (exact, Ant-style prefix, regex),
// gateway flow rules on routes and API groups, their conversion to hot-param
// rules ("$D" for rules without a paramItem, "$NM" for values that fail a
// pattern), and the parsing of a request into the argument array those
// rules read. Package httpgw puts it in front of a net/http handler.
package gateway
