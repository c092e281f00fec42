package param

import (
	"hash/maphash"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/rulesync/rulesync/engine/internal/kernel"
)

// ruleState is the runtime state of one rule: the values it tracks. A reload
// hands the same ruleState to a rule equal to the previous one.
type ruleState struct {
	// hot is the lruSet's hot slot, kept here so that a hit costs one load
	// less (see lruSet).
	hot      atomic.Pointer[valueState]
	capacity int
	shards   int                    // LRU shards; 0 picks by capacity
	values   atomic.Pointer[lruSet] // created on first use

	// A regex rule counts each matching resource apart, as Sentinel keeps
	// parameter metrics per resource.
	mu          sync.Mutex
	perResource map[string]*ruleState
}

// forResource returns the state a regex rule keeps for one resource. Past
// maxCachedResources resources, the others share the rule's own state.
func (s *ruleState) forResource(resource string) *ruleState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.perResource[resource]; ok {
		return st
	}
	if len(s.perResource) >= maxCachedResources {
		return s
	}
	if s.perResource == nil {
		s.perResource = make(map[string]*ruleState)
	}
	st := &ruleState{capacity: s.capacity, shards: s.shards}
	s.perResource[resource] = st
	return st
}

// valueState is what a rule remembers about one value. Which fields are used
// depends on the rule: tokens+last for the token bucket, last for the rate
// limiter, threads for the thread grade. k is the value itself, fixed at
// creation, so that the lock-free hot slot can tell whose state it holds.
type valueState struct {
	k       key
	shard   uint32 // index of the LRU shard holding it
	tokens  atomic.Int64
	last    atomic.Int64 // ms of the last refill (bucket) or of the last pass (rate limiter)
	threads atomic.Int64
}

// neverPassed is the rate limiter's "last pass" of a value not seen yet: far
// enough in the past that the first call passes at once, far enough from
// MinInt64 that adding a cost cannot overflow.
const neverPassed = math.MinInt64 / 2

// Sharding the LRU of a rule spreads the calls of different values over
// several locks. Small bounds are kept exact in one LRU; large ones are split
// evenly, which makes eviction least-recently-used per shard.
const (
	lruShards        = 16
	minShardCapacity = 256
)

// lruShard is one LRU of a rule's values under its own mutex. A plain mutex
// around the single-threaded LRU is cheaper than the RWMutex of a concurrent
// cache (Get moves the entry, so it would take the write lock anyway), and it
// lets the eviction callback run under the same lock as every lookup, which
// the hot slot relies on.
type lruShard struct {
	mu   sync.Mutex
	lru  *simplelru.LRU[key, *valueState]
	last *valueState // returned by the previous locked lookup
}

// lruSet is the LRU of a rule, split into a power-of-two number of shards,
// with a lock-free slot in front of it.
//
// hot holds the state of a value that repeats. Most gateway rules see one
// constant value ("$D"), and a hot key often comes in bursts, so most lookups
// are served by one atomic load and one key comparison, without hashing or
// locking. A value is promoted to hot when two locked lookups in a row in its
// shard are for it; so values that do not repeat never write the slot, which
// calls on other cores read. Three invariants keep counts exact, the bound
// intact and the eviction order that of a plain LRU:
//
//   - hot is only stored under the lock of the shard holding the value, right
//     after the LRU returned it, so the state in hot is the one the LRU holds
//     for that value; and every eviction clears hot, under the same lock, if
//     hot holds the evicted state. A value therefore never has two live
//     states: one in hot and a newer one in the LRU.
//   - A locked lookup of another value in the hot value's shard clears hot
//     (under that shard's lock). So the value in hot is always the most
//     recently used one of its shard, and the lookups hot serves without
//     touching the LRU would not have changed its order.
//   - Only the shard's own lock holder reads or writes its last.
type lruSet struct {
	hot    *atomic.Pointer[valueState]
	mask   uint64
	seed   maphash.Seed
	shards []lruShard
}

// newLRUSet returns an empty set; hot is its hot slot (nil: one of its own).
func newLRUSet(capacity, shards int, hot *atomic.Pointer[valueState]) *lruSet {
	if hot == nil {
		hot = new(atomic.Pointer[valueState])
	}
	capacity = max(capacity, 1)
	if shards <= 0 {
		shards = 1
		for shards < lruShards && capacity/(shards*2) >= minShardCapacity {
			shards *= 2
		}
	}
	l := &lruSet{hot: hot, mask: uint64(shards - 1), seed: maphash.MakeSeed(), shards: make([]lruShard, shards)}
	per := (capacity + shards - 1) / shards
	evicted := func(_ key, v *valueState) { l.hot.CompareAndSwap(v, nil) }
	for i := range l.shards {
		// NewLRU fails only for a size <= 0, which per never is.
		l.shards[i].lru, _ = simplelru.NewLRU[key, *valueState](per, evicted)
	}
	return l
}

// of returns the shard that holds k.
func (l *lruSet) of(k *key) *lruShard { return &l.shards[l.index(k)] }

// index returns the index of the shard that holds k.
func (l *lruSet) index(k *key) uint32 {
	if l.mask == 0 {
		return 0
	}
	var h uint64
	switch k.kind {
	case kindString:
		h = maphash.String(l.seed, k.s)
	case kindOther:
		h = maphash.Comparable(l.seed, k.o) // o is known to be comparable
	default:
		h = (k.n ^ uint64(k.kind)<<56) * 0x9e3779b97f4a7c15 // Fibonacci hashing: the high bits mix
		h >>= 32
	}
	return uint32(h & l.mask)
}

// hotFor returns the state in the hot slot if it is k's.
func (l *lruSet) hotFor(k *key) *valueState { return hotIn(l.hot, k) }

func hotIn(hot *atomic.Pointer[valueState], k *key) *valueState {
	if v := hot.Load(); v != nil && v.k.same(k) {
		return v
	}
	return nil
}

// get returns the state of k, creating it with the given tokens and last when
// k is not tracked.
func (l *lruSet) get(k *key, tokens, last int64) *valueState {
	if v := l.hotFor(k); v != nil {
		return v
	}
	i := l.index(k)
	sh := &l.shards[i]
	sh.mu.Lock()
	v, ok := sh.lru.Get(*k)
	if !ok {
		v = &valueState{k: *k, shard: i}
		v.tokens.Store(tokens)
		v.last.Store(last)
		sh.lru.Add(*k, v) // may evict, which clears hot if it held the victim
	}
	if h := l.hot.Load(); h != v {
		if h != nil && h.shard == i {
			// v is now the most recent of the shard: h may no longer skip
			// the LRU.
			l.hot.CompareAndSwap(h, nil)
		}
		if sh.last == v {
			l.hot.Store(v)
		}
	}
	sh.last = v
	sh.mu.Unlock()
	return v
}

// peek returns the state of k if it is tracked, without creating it or
// refreshing its recency.
func (l *lruSet) peek(k *key) *valueState {
	if v := l.hotFor(k); v != nil {
		return v
	}
	sh := l.of(k)
	sh.mu.Lock()
	v, _ := sh.lru.Peek(*k)
	sh.mu.Unlock()
	return v
}

func (s *ruleState) cache() *lruSet {
	if c := s.values.Load(); c != nil {
		return c
	}
	c := newLRUSet(s.capacity, s.shards, &s.hot)
	if s.values.CompareAndSwap(nil, c) {
		return c
	}
	return s.values.Load()
}

// get returns the state of k, creating it with the given tokens and last when
// k is not tracked.
func (s *ruleState) get(k *key, tokens, last int64) *valueState {
	if v := hotIn(&s.hot, k); v != nil {
		return v
	}
	return s.cache().get(k, tokens, last)
}

// peek returns the state of k if it is tracked, without creating it or
// refreshing its recency.
func (s *ruleState) peek(k *key) *valueState {
	if v := hotIn(&s.hot, k); v != nil {
		return v
	}
	c := s.values.Load()
	if c == nil {
		return nil
	}
	return c.peek(k)
}

// tracked is the number of values the rule tracks now.
func (s *ruleState) tracked() int {
	n := 0
	if c := s.values.Load(); c != nil {
		for i := range c.shards {
			sh := &c.shards[i]
			sh.mu.Lock()
			n += sh.lru.Len()
			sh.mu.Unlock()
		}
	}
	return n
}

// takeTokens is Sentinel's passDefaultLocalCheck for one value: a bucket of at
// most maxCount tokens, refilled by tokenCount per durMs once a whole duration
// has passed since the last refill. One caller claims each refill by moving
// last, so that two callers racing cannot both add the same tokens.
func (v *valueState) takeTokens(now, acquire, tokenCount, maxCount, durMs int64) bool {
	for {
		last := v.last.Load()
		if elapsed := now - last; elapsed > durMs {
			if !v.last.CompareAndSwap(last, now) {
				continue
			}
			add := refill(elapsed, tokenCount, durMs, maxCount)
			for {
				rest := v.tokens.Load()
				next := min(rest+add, maxCount)
				if v.tokens.CompareAndSwap(rest, next) {
					break
				}
			}
		}
		cur := v.tokens.Load()
		if cur < acquire {
			return false
		}
		if v.tokens.CompareAndSwap(cur, cur-acquire) {
			return true
		}
	}
}

// throttle is Sentinel's passThrottleLocalCheck for one value: passes are
// spaced costMs apart; a call that would wait strictly less than maxQueueMs
// reserves its slot and returns how long to wait. ok is false when the call
// must be blocked.
func (v *valueState) throttle(now, costMs, maxQueueMs int64) (waitMs int64, ok bool) {
	// Sentinel blocks a wait of maxQueueingTimeMs or more here (and only a
	// longer one in flow's rate limiter): in whole ms, that is a wait longer
	// than maxQueueMs-1.
	return kernel.Reserve(&v.last, now, costMs, maxQueueMs-1)
}

// acquireThread takes a concurrency slot if fewer than limit are taken.
func (v *valueState) acquireThread(limit int64) bool {
	for {
		n := v.threads.Load()
		if n >= limit {
			return false
		}
		if v.threads.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// releaseThread gives a slot back; it never goes below zero, so an Exit whose
// Check ran against other rules cannot corrupt the count.
func (v *valueState) releaseThread() {
	for {
		n := v.threads.Load()
		if n <= 0 || v.threads.CompareAndSwap(n, n-1) {
			return
		}
	}
}

// refill is elapsed*tokenCount/durMs, capped at maxCount, computed in 128 bits
// so that a value idle for a long time under a large count cannot overflow.
// All arguments are positive.
func refill(elapsed, tokenCount, durMs, maxCount int64) int64 {
	hi, lo := bits.Mul64(uint64(elapsed), uint64(tokenCount))
	if hi >= uint64(durMs) { // the quotient would not fit 64 bits
		return maxCount
	}
	q, _ := bits.Div64(hi, lo, uint64(durMs))
	if q > uint64(maxCount) {
		return maxCount
	}
	return int64(q)
}
