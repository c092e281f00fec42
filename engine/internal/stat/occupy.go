package stat

// Prioritized requests may borrow capacity from the next bucket of a node's
// per-second window instead of being rejected (Sentinel's "occupy"). The node
// tracks what was promised to future buckets in a separate window so that two
// borrowers cannot both take the same room.

// TryOccupyNext reports how many milliseconds a request of count tokens must wait
// until the per-second window, after dropping its oldest buckets, has room for it
// under threshold (tokens per second), counting tokens already promised to future
// buckets. It returns ok == false when no bucket within timeoutMs has room.
func (n *Node) TryOccupyNext(nowMs, count int64, threshold float64, timeoutMs int64) (waitMs int64, ok bool) {
	w := n.second
	maxCount := threshold * float64(w.intervalMs) / 1000
	borrowed := n.Waiting(nowMs)
	if float64(borrowed) >= maxCount {
		return 0, false
	}
	bucketMs := w.bucketMs
	earliest := nowMs - nowMs%bucketMs + bucketMs - w.intervalMs
	pass := w.Sum(nowMs, Pass)
	for idx := int64(0); earliest < nowMs; idx++ {
		wait := idx*bucketMs + bucketMs - nowMs%bucketMs
		if wait >= timeoutMs {
			break
		}
		// When the bucket starting at earliest leaves the window, its passes no
		// longer count against the threshold.
		dropped := w.BucketSum(earliest, Pass)
		if float64(pass+borrowed+count-dropped) <= maxCount {
			return wait, true
		}
		earliest += bucketMs
		pass -= dropped
	}
	return 0, false
}

// AddWaiting records count tokens promised to the bucket that contains futureMs.
func (n *Node) AddWaiting(futureMs, count int64) {
	n.waiting.Add(futureMs, Pass, count)
}

// Waiting is the number of tokens promised to buckets that start after nowMs.
func (n *Node) Waiting(nowMs int64) int64 {
	return n.waiting.FutureSum(nowMs, Pass)
}
