package flow_test

import (
	"sync"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

// harness plays the engine's statistic slot around a flow manager: it checks a
// call and, when it passes, counts it on the nodes as the engine would.
type harness struct {
	t     *testing.T
	clock stat.Clock
	reg   *stat.Registry
	m     *flow.Manager
}

func newHarness(t *testing.T, clock stat.Clock, rules ...flow.Rule) *harness {
	t.Helper()
	h := &harness{t: t, clock: clock, reg: stat.NewRegistry(0)}
	h.m = flow.NewManager(clock, h.reg)
	if rep := h.m.Load(rules); len(rep.Rejected) > 0 {
		t.Fatalf("load rejected rules: %v", rep.Rejected)
	}
	return h
}

type call struct {
	origin, entrance string
	prioritized      bool
}

// enter returns the context of a passed call, or the block error.
func (h *harness) enter(res string, cl call) (*kernel.Context, *base.BlockError) {
	c := &kernel.Context{
		Resource: res, Count: 1, Origin: cl.origin, Entrance: cl.entrance, Prioritized: cl.prioritized,
		NowMs: h.clock.NowMs(), StartNanos: h.clock.NowNanos(), Node: h.reg.GetOrCreate(res),
	}
	if be := h.m.Check(c); be != nil {
		c.Node.Node.AddBlock(c.NowMs, c.Count)
		return nil, be
	}
	c.Node.Node.AddPass(c.NowMs, c.Count)
	if cl.origin != "" {
		c.Node.Origin(cl.origin).AddPass(c.NowMs, c.Count)
	}
	if cl.entrance != "" {
		c.Node.Entrance(cl.entrance).AddPass(c.NowMs, c.Count)
	}
	return c, nil
}

func (h *harness) pass(res string, cl call) bool {
	_, be := h.enter(res, cl)
	return be == nil
}

// exit completes a passed call, lowering the concurrency.
func (h *harness) exit(c *kernel.Context) {
	c.Node.Node.AddComplete(h.clock.NowMs(), c.Count, 0, false)
	if c.Origin != "" {
		c.Node.Origin(c.Origin).AddComplete(h.clock.NowMs(), c.Count, 0, false)
	}
}

// passes counts how many of n calls pass.
func (h *harness) passes(res string, cl call, n int) int {
	got := 0
	for range n {
		if h.pass(res, cl) {
			got++
		}
	}
	return got
}

// recordingClock is a manual clock whose Sleep records the wait without moving
// time, so that requests queued at one instant show their full wait.
type recordingClock struct {
	*stat.ManualClock
	mu     sync.Mutex
	sleeps []time.Duration
}

func (r *recordingClock) Sleep(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sleeps = append(r.sleeps, d)
}

func (r *recordingClock) take() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sleeps
	r.sleeps = nil
	return s
}

func qps(res string, count float64) flow.Rule {
	r := flow.DefaultRule()
	r.Resource = res
	r.Count = count
	return r
}

const start = 100_000 // ms, a bucket boundary well past zero
