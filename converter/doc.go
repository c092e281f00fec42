// Package converter turns rule payloads (Sentinel and Sentinel-dashboard JSON,
// and YAML) into the engine's typed rules and back. It does no I/O. Each rule
// family has a Codec: Flow, Degrade, System, Authority, Param, GatewayFlow and
// APIDefinitions.
//
// Decoding is lenient where the input is unambiguous and says what it did:
//
//   - A payload that opens with [ or { is JSON, which may carry // and /* */
//     comments between tokens; a syntax error in it is reported with its line
//     and column (it is not re-read as YAML, which would quietly accept some
//     broken JSON). Any other payload is read as YAML.
//   - The top level is a list of rules; a single rule object is read as a
//     list of one (with a note); an object holding a list under a key that is
//     not a rule field ({"rules": [...]}) is not guessed at and is unreadable.
//   - Every rule starts from its family's DefaultRule, so missing keys keep
//     Sentinel's defaults; a nested clusterConfig that is present but partial
//     starts from the family's DefaultClusterConfig. null means "default".
//   - Keys match the json tags exactly. Any other key is reported in
//     Report.UnknownKeys (as a dotted path) and ignored; the dashboard's
//     bookkeeping keys (app, ip, port, gmtCreate, gmtModified, and id where the
//     rule has none) are known and ignored silently.
//   - Numbers may be strings ("10", "1.5"), whole floats fill integer fields,
//     booleans may be "true"/"false". A value of the wrong kind ("abc" for
//     count) rejects that rule with a reason naming the key.
//   - Each rule is validated with its Validate; rejected rules are left out and
//     listed in Report.Rejected, equal rules collapse to the first (a note).
//   - Dashboard entities that wrap the rule ({"id":..,"app":..,"rule":{...}},
//     param and authority rules) are unwrapped, with a note; the entity's id
//     is kept on the rule. A hot item of a param rule that cannot be read is
//     dropped with a note, as Sentinel does, rather than the whole rule.
//
// ByRuleType picks a codec by the rule-type names Spring Cloud Alibaba uses
// (flow, degrade, param-flow, system, authority, gw-flow, gw-api-group).
//
// Decode returns an error wrapping ErrUnreadable only when nothing can be read,
// which includes a payload that is not UTF-8: invalid bytes are reported with
// their offset (never replaced by U+FFFD, which would rename a resource in
// silence), and UTF-16 is refused as such.
//
// Encode writes canonical Sentinel JSON: compact, fields in a fixed order, no
// HTML escaping, rules in the given order; Java Sentinel reads it.
package converter
