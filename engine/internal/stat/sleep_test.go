package stat

import (
	"context"
	"errors"
	"testing"
	"time"
)

// plainClock is a Clock that is not a ContextSleeper.
type plainClock struct{ slept time.Duration }

func (c *plainClock) NowMs() int64          { return 0 }
func (c *plainClock) NowNanos() int64       { return 0 }
func (c *plainClock) Sleep(d time.Duration) { c.slept += d }

func TestSleepContext(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()

	m := NewManualClock(0)
	if err := SleepContext(context.Background(), m, time.Second); err != nil || m.NowMs() != 1000 {
		t.Fatalf("manual clock, live context: err %v, now %d ms", err, m.NowMs())
	}
	if err := SleepContext(done, m, time.Second); !errors.Is(err, context.Canceled) || m.NowMs() != 1000 {
		t.Fatalf("manual clock, ended context: err %v, now %d ms (must not advance)", err, m.NowMs())
	}
	if err := SleepContext(nil, m, time.Second); err != nil || m.NowMs() != 2000 {
		t.Fatalf("manual clock, nil context: err %v, now %d ms", err, m.NowMs())
	}

	p := &plainClock{}
	if err := SleepContext(done, p, time.Second); !errors.Is(err, context.Canceled) || p.slept != 0 {
		t.Fatalf("plain clock, ended context: err %v, slept %v", err, p.slept)
	}
	if err := SleepContext(context.Background(), p, time.Second); err != nil || p.slept != time.Second {
		t.Fatalf("plain clock, live context: err %v, slept %v", err, p.slept)
	}

	ctx, stop := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer stop()
	for _, clk := range []Clock{SystemClock{}, NewCoarseClock(time.Millisecond)} {
		if err := SleepContext(ctx, clk, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%T: err %v, want the deadline", clk, err)
		}
		if cc, ok := clk.(*CoarseClock); ok {
			cc.Stop()
		}
	}
	if err := SleepContext(context.Background(), SystemClock{}, time.Millisecond); err != nil {
		t.Fatalf("system clock, short sleep: %v", err)
	}
}
