package degrade

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

// State is a circuit breaker's state.
type State int32

// Breaker states.
const (
	StateClosed   State = iota // calls pass; completions are measured
	StateOpen                  // calls are rejected until the time window ends
	StateHalfOpen              // one probe call is in flight; others are rejected
)

// String names the state as Sentinel does.
func (s State) String() string {
	switch s {
	case StateClosed:
		return "CLOSED"
	case StateOpen:
		return "OPEN"
	case StateHalfOpen:
		return "HALF_OPEN"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// String names the grade.
func (g Grade) String() string {
	switch g {
	case GradeRT:
		return "slow-call-ratio"
	case GradeExceptionRatio:
		return "error-ratio"
	case GradeExceptionCount:
		return "error-count"
	}
	return "Grade(" + strconv.Itoa(int(g)) + ")"
}

// StateChange tells a listener that a breaker changed state.
type StateChange struct {
	Rule Rule  // the rule that owns the breaker
	Prev State // the state before
	Next State // the state after
	// Value is the measure that caused the change: the slow-call or error ratio
	// or the error count when tripping from CLOSED, 1 when a probe failed, 0
	// otherwise.
	Value float64
	// Removed is set when the breaker left because its rule was removed or
	// changed by a Load (Next is then StateClosed: the resource is no longer
	// limited by that breaker).
	Removed bool
}

// breaker is the runtime state of one rule. It survives reloads that keep the
// rule; rule is swapped then, since an equal rule may carry another id.
type breaker struct {
	rule   atomic.Pointer[Rule]
	key    Rule // the rule without id; the parameters read on the hot path
	notify func(StateChange)

	state       atomic.Int32
	nextRetryMs atomic.Int64
	tripValue   atomic.Uint64 // math.Float64bits of the value that last opened it
	// probe is the call admitted in HALF_OPEN. Its pointer is only compared,
	// never dereferenced, so that exactly that call's completion decides.
	probe atomic.Pointer[kernel.Context]
	// probeDeadline is when the probe in flight is given up: a probe whose
	// Exit never comes (a leaked entry, a panic between Entry and Exit) must
	// not hold the breaker half-open, rejecting every call, forever.
	probeDeadline atomic.Int64
	// win counts completions (Success) and bad completions (Error: slow or
	// failed) in one bucket of statIntervalMs, as Sentinel does.
	win *stat.Window
}

func newBreaker(r Rule, notify func(StateChange)) *breaker {
	b := &breaker{key: r.Key(), notify: notify, win: stat.NewWindow(1, int64(r.StatIntervalMs))}
	b.rule.Store(&r)
	return b
}

// tryPass reports whether c may pass this breaker, taking the half-open probe
// slot when the open time window is over, or when the probe in flight has not
// completed within a time window (Sentinel has no such limit: there a lost
// probe keeps the breaker half-open until the rules change). The completion
// of a probe given up that way is then counted like any call's, and no longer
// decides the state.
func (b *breaker) tryPass(c *kernel.Context, nowMs int64) bool {
	switch State(b.state.Load()) {
	case StateClosed:
		return true
	case StateOpen:
		if nowMs < b.nextRetryMs.Load() {
			return false
		}
		// The deadline is set before the state changes, so that no call sees
		// HALF_OPEN with the deadline of an earlier probe.
		b.probeDeadline.Store(retryAt(nowMs, b.key.TimeWindow))
		if b.state.CompareAndSwap(int32(StateOpen), int32(StateHalfOpen)) {
			b.takeProbe(c)
			b.fire(StateOpen, StateHalfOpen, 0)
			return true
		}
	case StateHalfOpen:
		if d := b.probeDeadline.Load(); nowMs >= d && b.probeDeadline.CompareAndSwap(d, retryAt(nowMs, b.key.TimeWindow)) {
			b.takeProbe(c)
			return true
		}
	}
	return false
}

func (b *breaker) takeProbe(c *kernel.Context) {
	b.probe.Store(c)
	// Should a later check reject the call, the engine's exit hooks give
	// the probe slot back (see OnExit).
	c.AddExit(b)
}

// releaseProbe undoes tryPass for a call that another breaker then rejected:
// the breaker goes back to OPEN with its old retry time, so the next call
// probes again (Sentinel does the same).
func (b *breaker) releaseProbe(c *kernel.Context) {
	if b.probe.CompareAndSwap(c, nil) && b.state.CompareAndSwap(int32(StateHalfOpen), int32(StateOpen)) {
		b.fire(StateHalfOpen, StateOpen, 0)
	}
}

// OnExit implements kernel.ExitHook for a call this breaker admitted as its
// probe: when a check after this family blocked the call, no completion will
// come, so the breaker goes back to OPEN. A call that passed is left to Exit.
func (b *breaker) OnExit(c *kernel.Context) {
	if c.Blocked != nil {
		b.releaseProbe(c)
	}
}

// complete records the completion of c (which passed) and moves the state.
func (b *breaker) complete(c *kernel.Context, nowMs int64) {
	bad := false
	if b.key.Grade == GradeRT {
		bad = float64(c.RTMs) > b.key.Count
	} else {
		bad = isFailure(c.Err)
	}
	b.win.Add(nowMs, stat.Success, 1)
	if bad {
		b.win.Add(nowMs, stat.Error, 1)
	}
	switch State(b.state.Load()) {
	case StateOpen:
		return
	case StateHalfOpen:
		if !b.probe.CompareAndSwap(c, nil) {
			return // a call admitted before the breaker opened: not the probe
		}
		if bad {
			b.open(StateHalfOpen, nowMs, 1)
		} else if b.state.CompareAndSwap(int32(StateHalfOpen), int32(StateClosed)) {
			b.win.Reset()
			b.fire(StateHalfOpen, StateClosed, 0)
		}
		return
	}
	total := b.win.Sum(nowMs, stat.Success)
	if total < int64(b.key.MinRequestAmount) {
		return
	}
	badN := float64(b.win.Sum(nowMs, stat.Error))
	switch b.key.Grade {
	case GradeRT:
		ratio := badN / float64(total)
		if ratio > b.key.SlowRatioThreshold || (ratio == 1 && b.key.SlowRatioThreshold == 1) {
			b.open(StateClosed, nowMs, ratio)
		}
	case GradeExceptionRatio:
		if ratio := badN / float64(total); ratio > b.key.Count {
			b.open(StateClosed, nowMs, ratio)
		}
	case GradeExceptionCount:
		if badN > b.key.Count {
			b.open(StateClosed, nowMs, badN)
		}
	}
}

// open moves from prev to OPEN. The retry time is stored first: a racing
// tryPass that sees OPEN must not read the retry time of an earlier period.
func (b *breaker) open(prev State, nowMs int64, value float64) {
	b.nextRetryMs.Store(retryAt(nowMs, b.key.TimeWindow))
	if b.state.CompareAndSwap(int32(prev), int32(StateOpen)) {
		b.tripValue.Store(floatBits(value))
		b.fire(prev, StateOpen, value)
	}
}

// retryAt is nowMs plus timeWindow seconds, saturating instead of wrapping
// around for absurd windows.
func retryAt(nowMs int64, timeWindowSec int) int64 {
	const maxMs = math.MaxInt64 / 2
	w := int64(timeWindowSec)
	if w > maxMs/1000 || nowMs > maxMs {
		return math.MaxInt64
	}
	return nowMs + w*1000
}

func (b *breaker) fire(prev, next State, value float64) {
	if b.notify != nil {
		b.notify(StateChange{Rule: *b.rule.Load(), Prev: prev, Next: next, Value: value})
	}
}

// isFailure reports whether a call's error counts against the breaker. Block
// errors from rules further down the call chain do not: like Sentinel's
// tracer, only business errors count.
func isFailure(err error) bool {
	return err != nil && !errors.Is(err, base.ErrBlocked)
}

func (b *breaker) blockError(c *kernel.Context) *base.BlockError {
	r := *b.rule.Load()
	var reason string
	if State(b.state.Load()) == StateHalfOpen {
		reason = fmt.Sprintf("%s breaker is half-open, waiting for its probe", r.Grade)
	} else {
		reason = fmt.Sprintf("%s breaker is open (tripped at %s)", r.Grade, strconv.FormatFloat(floatFrom(b.tripValue.Load()), 'g', 4, 64))
	}
	return &base.BlockError{Family: base.FamilyDegrade, Resource: c.Resource, Rule: r, Reason: reason}
}
