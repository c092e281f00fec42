package stat

import (
	"sync/atomic"
	"time"
)

// Clock tells the time in milliseconds and nanoseconds since an arbitrary epoch
// and can sleep; the engine never reads time.Now directly so that tests can
// drive time by hand.
type Clock interface {
	NowMs() int64
	NowNanos() int64
	Sleep(d time.Duration)
}

// SystemClock reads the monotonic clock.
type SystemClock struct{}

var epoch = time.Now()

// NowMs returns milliseconds since process start (monotonic).
func (SystemClock) NowMs() int64 { return int64(time.Since(epoch) / time.Millisecond) }

// NowNanos returns nanoseconds since process start (monotonic).
func (SystemClock) NowNanos() int64 { return int64(time.Since(epoch)) }

// Sleep sleeps for d.
func (SystemClock) Sleep(d time.Duration) { time.Sleep(d) }

// ManualClock is a Clock for tests: time moves only through Advance or Sleep.
// The zero value starts at 0; tests usually Set a start well past zero.
type ManualClock struct{ nanos atomic.Int64 }

// NewManualClock returns a clock reading startMs milliseconds.
func NewManualClock(startMs int64) *ManualClock {
	c := &ManualClock{}
	c.nanos.Store(startMs * int64(time.Millisecond))
	return c
}

// NowMs returns the current manual time in milliseconds.
func (c *ManualClock) NowMs() int64 { return c.nanos.Load() / int64(time.Millisecond) }

// NowNanos returns the current manual time in nanoseconds.
func (c *ManualClock) NowNanos() int64 { return c.nanos.Load() }

// Sleep advances the clock by d instead of blocking.
func (c *ManualClock) Sleep(d time.Duration) { c.Advance(d) }

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) { c.nanos.Add(int64(d)) }

// Set moves the clock to ms milliseconds.
func (c *ManualClock) Set(ms int64) { c.nanos.Store(ms * int64(time.Millisecond)) }

// Now reads c once and returns the time in milliseconds and in nanoseconds.
// Reading a clock can cost a system call on virtual machines without a fast
// time source, so the hot path reads it as rarely as it can: for the clocks of
// this package, whose NowMs is NowNanos in whole milliseconds, one reading gives
// both.
func Now(c Clock) (ms, nanos int64) {
	switch c := c.(type) {
	case SystemClock:
		nanos = c.NowNanos()
		return nanos / int64(time.Millisecond), nanos
	case *ManualClock:
		nanos = c.NowNanos()
		return nanos / int64(time.Millisecond), nanos
	case *CoarseClock:
		nanos = c.NowNanos()
		return nanos / int64(time.Millisecond), nanos
	}
	return c.NowMs(), c.NowNanos()
}
