// Package base is the vocabulary that the engine, its rule families and the
// packages around them share: the rule families' names (Family), the
// BlockError a blocked call gets, the LoadReport a rule manager returns, and
// the values rule fields of several families take (ControlBehavior, limitApp).
// It holds no machinery: the engine's counters and per-call state are internal
// to it. It sits below the engine so that the rule families, the converter and
// the datasource bindings need not import the engine that wires them together.
package base

import "fmt"

// Family names a rule family. The names are the rule types of Spring Cloud
// Alibaba's datasource configuration (rule-type: flow, param-flow, gw-flow,
// ...), so that one vocabulary serves block errors, configuration files, the
// command line and the dashboard.
type Family string

// The rule families. FamilyGatewayAPI holds the gateway's API definitions,
// which never block a call themselves; FamilyCluster marks a block decided
// by a token server.
const (
	FamilyFlow       Family = "flow"
	FamilyDegrade    Family = "degrade"
	FamilySystem     Family = "system"
	FamilyAuthority  Family = "authority"
	FamilyParam      Family = "param-flow"
	FamilyGateway    Family = "gw-flow"
	FamilyGatewayAPI Family = "gw-api-group"
	FamilyCluster    Family = "cluster"
)

// The cluster configuration types: what the Sentinel dashboard stores for
// cluster flow control besides the rules ({app}-cluster-map and the token
// server's {app}-cs-* configs). They block nothing, so they are not rule
// families of an engine, but they are rule types of the same table
// (package ruleapply), named by their data-id suffixes, so that one
// vocabulary serves configuration files, the command line and the dashboard.
const (
	FamilyClusterMap         Family = "cluster-map"
	FamilyServerNamespaceSet Family = "cs-namespace-set"
	FamilyServerTransport    Family = "cs-transport-config"
	FamilyServerFlow         Family = "cs-flow-config"
)

// BlockError tells which rule of which family blocked a call on which resource.
type BlockError struct {
	Family   Family
	Resource string
	Rule     any    // the rule that blocked, a value of the family's rule type (for system rules: the rule that set the exceeded threshold)
	Reason   string // short, e.g. "qps 12 > count 10"
	Value    any    // the hot-param value that was limited, if any
	// WaitMs is set by cluster/rate-limited checks that asked the caller to wait but timed out.
	WaitMs int64
	// Cause is why a call that was waiting in line gave up: the error of its
	// context (context.Canceled or context.DeadlineExceeded), nil otherwise.
	// errors.Is sees through to it.
	Cause error
}

// Error implements error.
func (e *BlockError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("rulesync: %s: blocked by %s rule", e.Resource, e.Family)
	}
	return fmt.Sprintf("rulesync: %s: blocked by %s rule: %s", e.Resource, e.Family, e.Reason)
}

// Is makes errors.Is(err, ErrBlocked) true for every BlockError.
func (e *BlockError) Is(target error) bool { return target == ErrBlocked }

// Unwrap returns the Cause, so that errors.Is(err, context.Canceled) tells a
// call whose caller went away while it waited in line.
func (e *BlockError) Unwrap() error { return e.Cause }

// ErrBlocked matches any *BlockError with errors.Is.
var ErrBlocked = fmt.Errorf("rulesync: blocked")

// Rejection is one rule that was not loaded.
type Rejection struct {
	Index    int    // position in the input list
	Resource string // the rule's resource (or apiName), if it had one
	Reason   string
}

// String formats the rejection for logs.
func (r Rejection) String() string {
	return fmt.Sprintf("rule %d (%q): %s", r.Index, r.Resource, r.Reason)
}

// LoadReport is what a rule manager says about a Load.
type LoadReport struct {
	Loaded     int         // rules in force after the load (after duplicates collapsed)
	Duplicates int         // rules dropped as duplicates of an earlier one
	Rejected   []Rejection // invalid rules, skipped
	Kept       int         // rules whose runtime state (counters, breakers, buckets) was carried over
	Notes      []string    // what was loaded but changed, e.g. a dropped hot-param exception item
}

// Validator is implemented by every rule type.
type Validator interface {
	// Validate returns nil or an error naming the field that is wrong.
	Validate() error
}
