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

// SystemClock reads the monotonic clock. Its readings count from the whole
// wall-clock second before the process started (see WallOffsetMs), so that
// its whole seconds, and with them the per-second statistics, fall on the
// wall clock's seconds, by which the Sentinel dashboard aggregates.
type SystemClock struct{}

var (
	epoch      = time.Now()
	epochShift = time.Duration(epoch.Nanosecond())
)

// NowMs returns milliseconds since the start of the process's first second (monotonic).
func (SystemClock) NowMs() int64 { return int64((time.Since(epoch) + epochShift) / time.Millisecond) }

// NowNanos returns nanoseconds since the start of the process's first second (monotonic).
func (SystemClock) NowNanos() int64 { return int64(time.Since(epoch) + epochShift) }

// WallOffsetMs returns what to add to a reading of c in milliseconds to get
// Unix milliseconds: for SystemClock and CoarseClock, the Unix time of their
// epoch (a whole second; a wall clock stepped since start is not followed);
// for any other clock 0, so that a ManualClock set to Unix milliseconds reads
// as wall time.
func WallOffsetMs(c Clock) int64 {
	switch c.(type) {
	case SystemClock, *CoarseClock:
		return epoch.Unix() * 1000
	}
	return 0
}

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
