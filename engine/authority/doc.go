// Package authority implements Sentinel's authority rules: per-resource white
// and black lists of caller origins. A white list admits only the origins it
// names (a call with no origin is refused); a black list refuses the origins it
// names (a call with no origin passes). When several rules apply to a resource,
// a call must pass all of them.
//
// The Manager swaps immutable rule sets atomically, so Check never waits for a
// Load and does not allocate when a call passes.
package authority
