// Package kernel is the engine's machinery that its rule families share and
// users never see: the per-call Context each family checks, the hooks a
// family registers to run at Exit, the memo of per-resource lookups, and the
// even pacing of rate limiters. The vocabulary that users do see (block
// errors, load reports, family names) is package base.
package kernel

import (
	"context"
	"math"
	"time"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

// Context is what a rule family sees of one call. The engine fills it in Entry,
// hands it to each family's check, and to each family's exit hook. It is pooled:
// families must not keep a pointer to it after the call returns.
type Context struct {
	Resource    string
	Node        *stat.ResourceNode // the resource's statistics; nil when the registry is full
	Origin      string             // the caller (limitApp / authority), "" if unknown
	Entrance    string             // the entrance (Sentinel's context name) for chain rules
	Inbound     bool               // inbound traffic: system rules apply
	Count       int64              // tokens acquired, usually 1
	Prioritized bool               // may borrow from the next window
	Args        []any              // hot-param arguments
	NowMs       int64              // clock reading at Entry
	StartNanos  int64              // clock reading at Entry, for RT
	Err         error              // business error recorded at Exit
	RTMs        int64              // response time, set before exit hooks run
	Blocked     *base.BlockError   // set when the call was blocked

	// Ctx is the context the call was entered with. A call waiting in line
	// (rate limiter, prioritized borrowing, a cluster wait) stops waiting
	// when it ends; see Wait. It may be nil.
	Ctx context.Context
	// WaitErr is the error of the wait a call gave up (Wait), which the
	// family reports as the Cause of its BlockError.
	WaitErr error

	// Exit hooks registered by families during the check (param concurrency
	// release, a degrade probe), run by the engine at Exit in reverse order.
	exits [4]ExitHook
	nexit int
	more  []ExitHook
}

// ExitHook runs when a call exits, or when a later check blocks a call that this
// family already admitted (then Context.Blocked is set), so that the family can
// hand back what it took (a concurrency slot, a half-open probe).
type ExitHook interface {
	OnExit(c *Context)
}

// AddExit registers h to run at Exit. It does not allocate for the first four hooks.
func (c *Context) AddExit(h ExitHook) {
	if c.nexit < len(c.exits) {
		c.exits[c.nexit] = h
		c.nexit++
		return
	}
	c.more = append(c.more, h)
}

// RunExits runs the registered hooks, last registered first, and forgets them.
func (c *Context) RunExits() {
	for i := len(c.more) - 1; i >= 0; i-- {
		c.more[i].OnExit(c)
		c.more[i] = nil
	}
	c.more = c.more[:0]
	for i := c.nexit - 1; i >= 0; i-- {
		c.exits[i].OnExit(c)
		c.exits[i] = nil
	}
	c.nexit = 0
}

// Wait makes the call wait d on clock, its time in line before it may pass,
// unless c.Ctx ends first. Then it records the context's error in c.WaitErr
// and returns it, and the family blocks the call. The place in line that the
// call had reserved is not given back: an abandoned wait can make later calls
// wait a little longer, never let more calls pass.
func (c *Context) Wait(clock stat.Clock, d time.Duration) error {
	err := stat.SleepContext(c.Ctx, clock, d)
	if err != nil {
		c.WaitErr = err
	}
	return err
}

// Reset clears c for reuse.
func (c *Context) Reset() {
	more := c.more[:0]
	*c = Context{}
	c.more = more
}

// Finite reports whether v is neither NaN nor infinite. Thresholds must be
// finite: NaN compares false with everything, so a NaN count would silently
// disable a rule.
func Finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
