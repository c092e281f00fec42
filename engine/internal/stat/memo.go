package stat

import "sync/atomic"

// MemoSlots is the number of memo slots of a ResourceNode: one per rule
// family that keeps one there (see package base for who owns which).
const MemoSlots = 8

// memo is what one rule family found for a resource in one generation of its
// rules.
type memo struct {
	gen uint64
	v   any
}

// generations hands out generation numbers; it only ever counts up, so no two
// rule sets, of any manager or engine, share one.
var generations atomic.Uint64

// NewGeneration returns a number that no other call returns. A rule manager
// tags each rule set it publishes with one, so that a memo made for an older
// set is recognized as stale without keeping that set alive: only the value
// memoized for the one resource stays reachable until the next lookup on the
// resource replaces it.
func NewGeneration() uint64 { return generations.Add(1) }

// Memo returns the value stored in slot for generation gen. It reports false
// when the slot is out of range, empty, or holds another generation.
func (r *ResourceNode) Memo(slot int, gen uint64) (any, bool) {
	if uint(slot) >= MemoSlots {
		return nil, false
	}
	if m := r.memos[slot].Load(); m != nil && m.gen == gen {
		return m.v, true
	}
	return nil, false
}

// SetMemo stores v in slot for generation gen, replacing whatever the slot
// held. Racing stores of different generations are harmless: a reader
// compares the generation and looks up afresh on a mismatch.
func (r *ResourceNode) SetMemo(slot int, gen uint64, v any) {
	if uint(slot) < MemoSlots {
		r.memos[slot].Store(&memo{gen: gen, v: v})
	}
}
