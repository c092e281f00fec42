package datasource

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff yields exponentially growing delays with full jitter: each delay is
// uniform in [0, min(max, initial*2^n)), so that many clients that lost the same
// server do not come back in lockstep.
type backoff struct {
	initial, max time.Duration
	n            int
}

func (b *backoff) next() time.Duration {
	ceil := b.initial
	for i := 0; i < b.n && ceil < b.max; i++ {
		ceil *= 2
	}
	if ceil > b.max {
		ceil = b.max
	}
	b.n++
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil) + 1
}

func (b *backoff) reset() { b.n = 0 }

// sleep waits d or until ctx ends; it reports whether the full delay elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
