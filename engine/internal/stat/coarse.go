package stat

import (
	"sync"
	"sync/atomic"
	"time"
)

// CoarseClock is a Clock that a background goroutine refreshes every tick, so
// that reading it is one atomic load. Reading the system clock costs tens of
// nanoseconds, more on virtual machines whose clock source traps, and the
// engine reads it twice per call; Sentinel caches its clock for the same
// reason. Readings lag real time by up to one tick, which statistics in whole
// milliseconds do not notice. It reads the same epoch as SystemClock.
type CoarseClock struct {
	nanos atomic.Int64
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// NewCoarseClock starts a clock refreshed every tick (at least 100µs; 1 ms is
// the usual choice). Call Stop to end its goroutine.
func NewCoarseClock(tick time.Duration) *CoarseClock {
	tick = max(tick, 100*time.Microsecond)
	c := &CoarseClock{stop: make(chan struct{}), done: make(chan struct{})}
	c.nanos.Store(SystemClock{}.NowNanos())
	go c.run(tick)
	return c
}

func (c *CoarseClock) run(tick time.Duration) {
	defer close(c.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.nanos.Store(SystemClock{}.NowNanos())
		}
	}
}

// NowMs returns the cached time in milliseconds.
func (c *CoarseClock) NowMs() int64 { return c.nanos.Load() / int64(time.Millisecond) }

// NowNanos returns the cached time in nanoseconds.
func (c *CoarseClock) NowNanos() int64 { return c.nanos.Load() }

// Sleep sleeps for d.
func (c *CoarseClock) Sleep(d time.Duration) { time.Sleep(d) }

// Stop ends the refreshing goroutine and waits for it; the clock then stands
// still. Stop is idempotent.
func (c *CoarseClock) Stop() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
}
