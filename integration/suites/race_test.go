//go:build race

package suites

// raceEnabled reports whether the tests run under the race detector.
const raceEnabled = true
