package engine

import (
	"context"
	"time"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

// statisticMaxRtMs caps the response time counted in statistics, as Sentinel
// does, so that one stuck call does not dominate the average.
const statisticMaxRtMs = 5000

// Entry is a call admitted by Engine.Entry. Call Exit exactly once when the call
// ends; the Entry is recycled by Exit and must not be used afterwards. Calling
// Exit on a nil *Entry (the result of a blocked Entry) is a no-op, and so is a
// second Exit made before the Entry is handed out again.
type Entry struct {
	e        *Engine
	c        kernel.Context
	origin   *stat.Node
	entrance *stat.Node
	done     bool
}

// Entry checks a call on resource against the rules in Sentinel's slot order and
// counts it. It returns a *BlockError when a rule blocks the call; then there is
// nothing to Exit. The caller's origin and entrance come from ctx (WithOrigin,
// WithEntrance).
func (e *Engine) Entry(ctx context.Context, resource string, opts ...EntryOption) (*Entry, error) {
	en := e.pool.Get().(*Entry)
	en.e = e
	en.done = false
	c := &en.c
	c.Resource = resource
	c.Count = 1
	at := int64(-1)
	origin, hasOrigin := "", false
	for i := range opts {
		switch o := &opts[i]; o.kind {
		case optInbound:
			c.Inbound = true
		case optCount:
			if o.n > 0 {
				c.Count = o.n
			}
		case optPrioritized:
			c.Prioritized = true
		case optArgs:
			c.Args = o.args
		case optAt:
			at = o.n
		case optOrigin:
			if o.s != "" {
				origin, hasOrigin = o.s, true
			}
		}
	}
	c.Ctx = ctx
	if ctx != nil {
		ci := callFrom(ctx)
		c.Origin, c.Entrance = ci.origin, ci.entrance
	}
	if hasOrigin {
		c.Origin = origin
	}
	if at >= 0 {
		c.NowMs, c.StartNanos = at/int64(time.Millisecond), at
	} else {
		c.NowMs, c.StartNanos = stat.Now(e.clock)
	}
	c.Node = e.reg.GetOrCreate(resource)
	if c.Node == nil {
		e.fullOnce.Do(func() {
			e.log.Warn("rulesync: resource limit reached; new resources are not counted", "resource", resource, "limit", e.reg.Len())
		})
	}

	if be, at := e.check(c); be != nil {
		c.Blocked = be
		e.recordBlock(c)
		e.undo(c, at)
		e.release(en)
		return nil, be
	}
	e.recordPass(en)
	return en, nil
}

// slot is a rule family's place in Sentinel's check order.
type slot uint8

const (
	slotAuthority slot = iota
	slotSystem
	slotGateway
	slotParam
	slotFlow
	slotDegrade
)

// check runs the families in Sentinel's slot order and returns the first block
// and the slot that returned it.
func (e *Engine) check(c *kernel.Context) (*base.BlockError, slot) {
	if be := e.authority.Check(c); be != nil {
		return be, slotAuthority
	}
	if be := e.system.Check(c); be != nil {
		return be, slotSystem
	}
	if be := e.gateway.Check(c); be != nil {
		return be, slotGateway
	}
	if be := e.param.Check(c); be != nil {
		return be, slotParam
	}
	if be := e.flow.Check(c); be != nil {
		return be, slotFlow
	}
	if be := e.degrade.Check(c); be != nil {
		return be, slotDegrade
	}
	return nil, 0
}

// undo gives back what the families before slot at took for a call that a
// later family blocked (hot-param concurrency), and runs the hooks they
// registered; c.Blocked tells the hooks that the call did not pass.
func (e *Engine) undo(c *kernel.Context, at slot) {
	if at > slotParam {
		e.param.Exit(c)
	}
	if at > slotGateway {
		e.gateway.Exit(c)
	}
	c.RunExits()
}

// recordPass counts an admitted call as Sentinel's StatisticSlot does: on the
// resource, on (resource, origin) and (resource, entrance), and on the inbound node.
func (e *Engine) recordPass(en *Entry) {
	c := &en.c
	if rn := c.Node; rn != nil {
		rn.Node.AddPass(c.NowMs, c.Count)
		if c.Origin != "" {
			en.origin = rn.Origin(c.Origin)
			en.origin.AddPass(c.NowMs, c.Count)
		}
		if c.Entrance != "" {
			en.entrance = rn.Entrance(c.Entrance)
			en.entrance.AddPass(c.NowMs, c.Count)
		}
	}
	if c.Inbound {
		e.inbound.AddPass(c.NowMs, c.Count)
	}
}

func (e *Engine) recordBlock(c *kernel.Context) {
	if rn := c.Node; rn != nil {
		rn.Node.AddBlock(c.NowMs, c.Count)
		if c.Origin != "" {
			rn.Origin(c.Origin).AddBlock(c.NowMs, c.Count)
		}
		if c.Entrance != "" {
			rn.Entrance(c.Entrance).AddBlock(c.NowMs, c.Count)
		}
	}
	if c.Inbound {
		e.inbound.AddBlock(c.NowMs, c.Count)
	}
}

// Exit ends the call: it records the response time and the outcome (an error
// given with WithError counts as failed), lowers the concurrency, and runs the
// families' completion hooks. See Entry for the once-only rule.
func (en *Entry) Exit(opts ...ExitOption) {
	if en == nil || en.done {
		return
	}
	en.done = true
	e, c := en.e, &en.c
	var nowMs, nowNanos int64
	at := false
	for i := range opts {
		if opts[i].err != nil {
			c.Err = opts[i].err
		}
		if opts[i].at {
			at, nowNanos = true, opts[i].nanos
		}
	}
	if at {
		nowMs = nowNanos / int64(time.Millisecond)
	} else {
		nowMs, nowNanos = stat.Now(e.clock)
	}
	rt := (nowNanos - c.StartNanos) / 1e6
	if rt < 0 {
		rt = 0
	}
	c.RTMs = rt
	statRT := min(rt, statisticMaxRtMs)
	failed := c.Err != nil
	if c.Node != nil {
		c.Node.Node.AddComplete(nowMs, c.Count, statRT, failed)
	}
	if en.origin != nil {
		en.origin.AddComplete(nowMs, c.Count, statRT, failed)
	}
	if en.entrance != nil {
		en.entrance.AddComplete(nowMs, c.Count, statRT, failed)
	}
	if c.Inbound {
		e.inbound.AddComplete(nowMs, c.Count, statRT, failed)
	}
	e.exit(c)
	c.RunExits()
	e.release(en)
}

// exit calls the completion hooks of the families that need them.
func (e *Engine) exit(c *kernel.Context) {
	e.param.Exit(c)
	e.gateway.Exit(c)
	e.degrade.Exit(c)
}

func (e *Engine) release(en *Entry) {
	en.c.Reset()
	en.origin, en.entrance = nil, nil
	e.pool.Put(en)
}
