// Package degrade implements Sentinel 1.8 circuit breaking: one breaker per
// degrade rule, measuring the slow-call ratio, the error ratio or the error
// count of a resource over the rule's statIntervalMs.
//
// A breaker is CLOSED until its measure crosses the threshold (with at least
// minRequestAmount calls in the interval), then OPEN for timeWindow seconds,
// rejecting every call; the first call after that is let through as a probe
// (HALF_OPEN) while all others are still rejected, and the probe's outcome
// closes the breaker again or re-opens it for another timeWindow. Unlike
// Sentinel, a probe that has not completed within timeWindow (its Exit lost
// to a leaked entry or a panic) is given up and the next call probes, so that
// a breaker cannot stay half-open, rejecting every call, for good.
//
// As in Sentinel 1.8, a breaker sees every call of its resource whatever the
// caller: limitApp is kept for compatibility but does not select calls. Only
// business errors count as failures; a BlockError from a dependency does not.
//
// The Manager publishes immutable rule sets atomically; a reload keeps the
// breakers (state and counters) of rules that did not change.
package degrade
