// Package flow implements Sentinel 1.8 flow rules: a limit on the QPS or the
// concurrency of a resource, read from the resource itself (direct), from another
// resource (relate) or from the resource as entered through one entrance (chain),
// per caller (limitApp), enforced by rejecting, warming up, pacing requests into a
// queue, or warming up and pacing.
//
// A Manager holds the rules in force as an immutable set behind an atomic pointer:
// Check never takes a lock and does not allocate when the call passes, and Load
// swaps in a new set while keeping the controller state (warm-up tokens, the
// pacer's last pass) of every rule that did not change.
//
// Cluster-mode rules ask a TokenService (SetTokenService: a token client, an
// embedded token server, a Redis-backed service; see engine/cluster) and fall
// back as Sentinel does when it cannot decide: OK passes, SHOULD_WAIT waits
// and passes, NO_RULE_EXISTS, BAD_REQUEST, FAIL, TOO_MANY_REQUEST and errors
// check locally when clusterConfig.fallbackToLocalWhenFail is set and pass
// otherwise, any other status blocks. Local rules of a resource are checked
// before its cluster rules.
package flow
