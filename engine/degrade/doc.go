// Package degrade implements Sentinel 1.8 circuit breaking: one breaker per
// degrade rule, measuring the slow-call ratio, the error ratio or the error
// count of a resource over the rule's statIntervalMs.
//
// A breaker is CLOSED until its measure crosses the threshold (with at least
// minRequestAmount calls in the interval), then OPEN for timeWindow seconds,
// rejecting every call; the first call after that is let through as a probe
// (HALF_OPEN) while all others are still rejected, and the probe's outcome
// closes the breaker again or re-opens it for another timeWindow.
//
// The Manager publishes immutable rule sets atomically; a reload keeps the
// breakers (state and counters) of rules that did not change.
package degrade
