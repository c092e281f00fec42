// Package converter turns rule payloads (Sentinel and Sentinel-dashboard JSON,
// and YAML) into the engine's typed rules and back. It does no I/O. Each rule
// family has a Codec: Flow, Degrade, System, Authority, Param, GatewayFlow and
// APIDefinitions; so do the dashboard's cluster configuration types:
// ClusterMap (the assignment of token servers and clients), NamespaceSet, and
// ServerTransport and ServerFlow, the token server's configs, which are one
// object each rather than a list (see their docs for how that changes the
// rules below).
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
// Code that holds a rule type's name at run time finds its codec in the
// rule-type table of package ruleapply (ruleapply.LookupRuleType).
//
// Decode returns an error wrapping codec.ErrUnreadable only when nothing can be read,
// which includes a payload that is not UTF-8: invalid bytes are reported with
// their offset (never replaced by U+FFFD, which would rename a resource in
// silence), and UTF-16 is refused as such.
//
// # What Encode writes
//
// Encode writes canonical Sentinel JSON: indented by two spaces, one key per
// line, fields in a fixed order, no HTML escaping, rules in the given order,
// ending in a newline. Canonical means the same rules always give the same
// bytes, so a write-back over a hand-edited file is a stable, diffable text.
//
// A field is left out only where Java Sentinel leaves it out, so that what we
// write reads back with the same meaning in every Java reader. Java writes
// rules with fastjson, which skips null fields and writes every primitive
// field, defaults included; the dashboard writes its entity objects in full.
// So Encode leaves out exactly the fields that are null in Java by default:
// id when there is none, flow refResource, clusterConfig when it was never
// set, a gateway rule's paramItem and an item's fieldName and pattern when
// empty, a system rule's resource and limitApp. It also leaves out regex when
// false: fastjson writes "regex":false, but absent reads as false in the rule
// classes and in the dashboard's entities alike. Every other field is written
// even at its default, for two reasons:
//
//   - Many Java defaults are not Go's zero value (flow grade 1, limitApp
//     "default", warmUpPeriodSec 10, maxQueueingTimeMs 500; degrade
//     minRequestAmount 5, slowRatioThreshold 1.0, statIntervalMs 1000; every
//     system threshold -1; param durationInSec 1; gateway intervalSec 1,
//     maxQueueingTimeoutMs 500; cluster fallbackToLocalWhenFail true,
//     sampleCount 10, ...). Left out, they would read as zero in any reader
//     that starts from zero values, including Go's encoding/json.
//   - The dashboard reads pushed rules into entity classes whose fields are
//     boxed (Integer, Double) and unboxes several of them without a null
//     check when it turns an entity into a rule: FlowRuleEntity grade, count
//     and strategy, DegradeRuleEntity grade, count and timeWindow. An absent
//     key there is a NullPointerException, not a default. A param rule's
//     paramIdx has no Java default at all (it is required), and
//     paramFlowItemList is written as [] rather than left out, since parts of
//     Java iterate it without a null check.
package converter
