package param

import (
	"fmt"
	"math"
	"time"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/kernel"
)

// argAt returns the argument a rule with paramIdx idx looks at, nil when there
// is none.
func argAt(args []any, idx int) any {
	if idx < 0 {
		idx += len(args)
	}
	if idx < 0 || idx >= len(args) {
		return nil
	}
	return args[idx]
}

// Check checks the call against the hot-param rules of c.Resource, in load
// order, and returns the first rule's block, or nil. It takes no lock except
// the short one of the LRU of a rule that applies; a call without arguments or
// to a resource without rules touches nothing but an atomic load and a map.
// A rate-limited call may sleep on the manager's clock before it passes.
// Token buckets read the time from c.NowMs (the engine's reading at Entry, on
// the same clock), or from the clock when it is 0.
// The engine calls Check from Entry; its Context is the engine's own.
func (m *Manager) Check(c *kernel.Context) *base.BlockError {
	if len(c.Args) == 0 {
		return nil
	}
	s := m.set.Load()
	if len(s.all) == 0 {
		return nil
	}
	rr := kernel.Lookup(c, m.memo, s.gen, s.index.Lookup)
	if rr == nil {
		return nil
	}
	acquire := max(c.Count, 1)
	for i, r := range rr.rules {
		if be := m.checkRule(c, r, acquire); be != nil {
			if rr.hasThread {
				releaseRules(c.Args, rr.rules[:i])
			}
			return be
		}
	}
	return nil
}

// Exit gives back the concurrency slots that Check took for the call. It must
// be called once for every Check that returned nil, with the same Resource and
// Args, also when a later check blocked the call.
// The engine calls Exit from Entry.Exit; its Context is the engine's own.
func (m *Manager) Exit(c *kernel.Context) {
	if len(c.Args) == 0 {
		return
	}
	s := m.set.Load()
	if !s.hasThread {
		return
	}
	rr := kernel.Lookup(c, m.memo, s.gen, s.index.Lookup)
	if rr == nil || !rr.hasThread {
		return
	}
	releaseRules(c.Args, rr.rules)
}

// releaseRules gives back the slots the thread-grade rules among rules took
// for args.
func releaseRules(args []any, rules []*compiled) {
	for _, r := range rules {
		if r.mode != modeThread {
			continue
		}
		arg := argAt(args, r.idx)
		k, kind := argKey(arg)
		if kind == argKeyed {
			arg, k, kind = resolveKeyed(arg.(Argument))
		}
		switch kind {
		case argScalar:
			r.release(&k)
		case argCollection:
			eachElement(arg, func(_ any, k key) bool {
				r.release(&k)
				return true
			})
		}
	}
}

func (r *compiled) release(k *key) {
	if v := r.st.peek(k); v != nil {
		v.releaseThread()
	}
}

func (m *Manager) checkRule(c *kernel.Context, r *compiled, acquire int64) *base.BlockError {
	if r.cluster {
		if h := m.tokens.Load(); h != nil {
			if be, local := m.checkCluster(c, r, h.ts, acquire); !local {
				return be
			}
		}
	}
	if r.mode == modeOff {
		return nil
	}
	arg := argAt(c.Args, r.idx)
	var k key
	kind := fillKey(arg, &k) // resolveArg, inlined by hand for the hot path
	if kind == argKeyed {
		arg, k, kind = resolveKeyed(arg.(Argument))
	}
	switch kind {
	case argSkip:
		return nil
	case argScalar:
		return m.checkValue(c, r, arg, &k, acquire)
	}
	var be *base.BlockError
	passed := 0
	eachElement(arg, func(elem any, k key) bool {
		if be = m.checkValue(c, r, elem, &k, acquire); be != nil {
			return false
		}
		passed++
		return true
	})
	if be != nil && r.mode == modeThread {
		// Give back the slots taken for the elements before the one blocked.
		eachElement(arg, func(_ any, k key) bool {
			if passed == 0 {
				return false
			}
			passed--
			r.release(&k)
			return true
		})
	}
	return be
}

// checkValue checks one value against one rule.
func (m *Manager) checkValue(c *kernel.Context, r *compiled, v any, k *key, acquire int64) *base.BlockError {
	limit := r.count
	if r.items != nil {
		if n, ok := r.items.lookup(k); ok {
			limit = n
		}
	}
	switch r.mode {
	case modeThread:
		if limit > 0 && r.st.get(k, 0, 0).acquireThread(limit) {
			return nil
		}
		return m.block(c, r, v, 0, "value %v: %d concurrent calls allowed", v, limit)
	case modeThrottle:
		if limit <= 0 {
			return m.block(c, r, v, 0, "value %v: threshold is 0", v)
		}
		cost := costMs(acquire, r.durMs, limit)
		wait, ok := r.st.get(k, 0, neverPassed).throttle(m.clock.NowMs(), cost, r.maxQueue)
		if !ok {
			return m.block(c, r, v, wait, "value %v: would wait %d ms, maxQueueingTimeMs is %d", v, wait, r.maxQueue)
		}
		if wait > 0 {
			if err := c.Wait(m.clock, time.Duration(wait)*time.Millisecond); err != nil {
				return m.block(c, r, v, wait, "value %v: gave up waiting %d ms in line: %v", v, wait, err)
			}
		}
		return nil
	default:
		maxCount := limit + r.burst
		if limit <= 0 {
			return m.block(c, r, v, 0, "value %v: threshold is 0", v)
		}
		if acquire > maxCount {
			return m.block(c, r, v, 0, "value %v: %d tokens asked, bucket holds %d", v, acquire, maxCount)
		}
		now := c.NowMs // the engine's reading at Entry; saves a clock read
		if now == 0 {
			now = m.clock.NowMs()
		}
		if r.st.get(k, maxCount, now).takeTokens(now, acquire, limit, maxCount, r.durMs) {
			return nil
		}
		return m.block(c, r, v, 0, "value %v: more than %d per %d s (burst %d)", v, limit, r.durMs/1000, r.burst)
	}
}

// costMs is the spacing of rate-limited calls: acquire tokens of limit per
// durMs, rounded as Sentinel rounds it.
func costMs(acquire, durMs, limit int64) int64 {
	f := math.Round(float64(acquire) * float64(durMs) / float64(limit))
	if f >= math.MaxInt64/4 {
		return math.MaxInt64 / 4
	}
	return int64(f)
}

func (m *Manager) block(c *kernel.Context, r *compiled, v any, waitMs int64, format string, args ...any) *base.BlockError {
	if ref, ok := v.(StringRef); ok {
		// The error may outlive the string's owner (a pooled request).
		v = ref.String()
	}
	return &base.BlockError{
		Family:   m.opts.family,
		Resource: c.Resource,
		Rule:     r.rule,
		Reason:   fmt.Sprintf(format, args...),
		Value:    v,
		WaitMs:   waitMs,
		Cause:    c.WaitErr,
	}
}
