package kernel

import "sync/atomic"

// Reserve spaces calls evenly: latest holds the time the latest admitted call
// is scheduled to pass, and a call costing cost (in the same unit) takes the
// next slot with a compare-and-swap, so concurrent callers never share one.
// It returns how long the call must wait at now, and ok == false, reserving
// nothing, when that wait would exceed maxWait. A slot in the past is not
// saved up: a call arriving after it passes at once and the pace restarts
// from now. Seed latest far enough in the past that the first call passes and
// latest+cost cannot overflow.
func Reserve(latest *atomic.Int64, now, cost, maxWait int64) (wait int64, ok bool) {
	for {
		last := latest.Load()
		expected := last + cost
		if expected <= now {
			if latest.CompareAndSwap(last, now) {
				return 0, true
			}
			continue
		}
		wait = expected - now
		if wait > maxWait {
			return wait, false
		}
		if latest.CompareAndSwap(last, expected) {
			return wait, true
		}
	}
}
