package stat

import (
	"context"
	"time"
)

// ContextSleeper is a Clock that can stop sleeping when a context ends. The
// clocks of this package implement it; SleepContext falls back to Sleep for
// clocks that do not.
type ContextSleeper interface {
	SleepContext(ctx context.Context, d time.Duration) error
}

// SleepContext sleeps d on clk, or less when ctx ends first; then it returns
// ctx's error. A ctx that is already done returns at once without sleeping. A
// clock that is not a ContextSleeper sleeps the whole d once started.
func SleepContext(ctx context.Context, clk Clock, d time.Duration) error {
	if ctx == nil {
		clk.Sleep(d)
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if cs, ok := clk.(ContextSleeper); ok {
		return cs.SleepContext(ctx, d)
	}
	clk.Sleep(d)
	return nil
}

// sleepTimer is SleepContext for clocks that follow real time.
func sleepTimer(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	if ctx.Done() == nil {
		time.Sleep(d)
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SleepContext sleeps for d, or until ctx ends.
func (SystemClock) SleepContext(ctx context.Context, d time.Duration) error {
	return sleepTimer(ctx, d)
}

// SleepContext sleeps for d, or until ctx ends.
func (c *CoarseClock) SleepContext(ctx context.Context, d time.Duration) error {
	return sleepTimer(ctx, d)
}

// SleepContext advances the clock by d, unless ctx has already ended.
func (c *ManualClock) SleepContext(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}
