// Package stat holds the engine's sliding-window counters: Window (per-bucket
// event counts), Node (the statistics of one resource, origin or entrance) and
// Registry (the lock-free map from resource name to its nodes). It also holds the
// Clock the engine reads time from, so that tests can drive time by hand.
package stat
