package engine

import (
	"slices"

	"github.com/rulesync/rulesync/engine/internal/stat"
)

// MaxHistorySeconds bounds KeepHistory.
const MaxHistorySeconds = 3600

// KeepHistory makes the engine keep the statistics of every second of the
// last seconds seconds (at most MaxHistorySeconds), for every resource, every
// resource per entrance, and the inbound calls: what a dashboard's charts
// and one-minute totals read (ResourceView.History, LastMinute, CallTree).
// It costs the Entry/Exit path nothing: a second is recorded when the
// statistics window moves past it. It costs memory: about 64 bytes per
// second per resource and per (resource, entrance). Calling it again with a
// smaller value keeps the larger history.
func (e *Engine) KeepHistory(seconds int) {
	seconds = min(seconds, MaxHistorySeconds)
	if seconds < 1 {
		return
	}
	e.reg.EnableHistory(seconds)
	e.inbound.EnableHistory(seconds)
}

// HistorySeconds is how many seconds of history the engine keeps (0 until
// KeepHistory).
func (e *Engine) HistorySeconds() int { return e.inbound.Window().HistoryLen() }

// UnixMilli converts a reading of the engine's clock in milliseconds to Unix
// milliseconds. The default clock counts from a whole wall-clock second, so
// that a second of statistics is a second of the wall clock; an engine with
// a clock of its own (WithClock) reads its readings as Unix milliseconds.
func (e *Engine) UnixMilli(clockMs int64) int64 { return clockMs + stat.WallOffsetMs(e.clock) }

// SecondStats are the statistics of one second of a resource's history.
type SecondStats struct {
	StartMs  int64 // Unix milliseconds at the start of the second (a multiple of 1000 with the default clock)
	Pass     int64 // calls admitted
	Block    int64 // calls blocked
	Success  int64 // calls completed (Exit)
	Error    int64 // completed calls that reported an error
	Occupied int64 // prioritized calls admitted against a later window
	// RTMs is the sum of the response times of the completed calls, in ms
	// (each capped at 5 s): their average is RTMs / Success.
	RTMs int64
	// Concurrency is the largest number of calls in flight seen as the
	// second's statistics were recorded.
	Concurrency int64
}

func secondStats(off int64, s stat.Second) SecondStats {
	return SecondStats{
		StartMs: s.StartMs + off, Pass: s.Count(stat.Pass), Block: s.Count(stat.Block),
		Success: s.Count(stat.Success), Error: s.Count(stat.Error), Occupied: s.Count(stat.Occupied),
		RTMs: s.Count(stat.RT), Concurrency: s.Concurrency,
	}
}

func (e *Engine) history(n *stat.Node, fromMs, toMs int64) []SecondStats {
	off := stat.WallOffsetMs(e.clock)
	var out []SecondStats
	n.Seconds(e.clock.NowMs(), fromMs-off, toMs-off, func(s stat.Second) {
		out = append(out, secondStats(off, s))
	})
	return out
}

// History returns the seconds of the resource's history that are over, start
// in [fromMs, toMs] (Unix milliseconds) and counted any call, oldest first.
// It is empty unless the engine keeps history (KeepHistory).
func (v ResourceView) History(fromMs, toMs int64) []SecondStats {
	if v.node == nil {
		return nil
	}
	off := stat.WallOffsetMs(v.clock)
	var out []SecondStats
	v.node.Node.Seconds(v.clock.NowMs(), fromMs-off, toMs-off, func(s stat.Second) {
		out = append(out, secondStats(off, s))
	})
	return out
}

// InboundHistory is History for the inbound calls (InboundResource).
func (e *Engine) InboundHistory(fromMs, toMs int64) []SecondStats {
	return e.history(e.inbound, fromMs, toMs)
}

// Totals are counts over a span of time.
type Totals struct {
	Pass    int64 // calls admitted
	Block   int64 // calls blocked
	Success int64 // calls completed
	Error   int64 // completed calls that reported an error
}

func totalsOf(c [stat.NumEvents]int64) Totals {
	return Totals{Pass: c[stat.Pass], Block: c[stat.Block], Success: c[stat.Success], Error: c[stat.Error]}
}

func (t Totals) minus(o Totals) Totals {
	return Totals{Pass: t.Pass - o.Pass, Block: t.Block - o.Block, Success: t.Success - o.Success, Error: t.Error - o.Error}
}

func (t Totals) plus(o Totals) Totals {
	return Totals{Pass: t.Pass + o.Pass, Block: t.Block + o.Block, Success: t.Success + o.Success, Error: t.Error + o.Error}
}

// LastMinute returns the resource's counts over the last 60 seconds, this
// one included (Sentinel's one-minute figures). Without history (see
// KeepHistory, which needs 60 seconds for it) it covers the last second only.
func (v ResourceView) LastMinute() Totals {
	if v.node == nil {
		return Totals{}
	}
	return totalsOf(v.node.Node.Totals(v.clock.NowMs(), 60))
}

// DefaultEntrance names, in CallTree, the entrance of calls entered without
// WithEntrance: Sentinel's default context.
const DefaultEntrance = "sentinel_default_context"

// TreeRoot is the name of CallTree's root, as in Sentinel.
const TreeRoot = "machine-root"

// TreeNode is a node of the engine's call tree (CallTree): its name, its
// statistics now and over the last minute, and its children.
type TreeNode struct {
	Name       string
	Stats      ResourceStats
	LastMinute Totals
	Children   []TreeNode
}

// raw is a node's counts over the last second, summable and subtractable.
type raw struct {
	counts  [stat.NumEvents]int64
	threads int64
	minute  Totals
}

func rawOf(n *stat.Node, nowMs int64) raw {
	var r raw
	for i := range r.counts {
		r.counts[i] = n.Window().Sum(nowMs, stat.Event(i))
	}
	r.threads = n.Threads()
	r.minute = totalsOf(n.Totals(nowMs, 60))
	return r
}

func (r *raw) add(o raw, sign int64) {
	for i := range r.counts {
		r.counts[i] += sign * o.counts[i]
	}
	r.threads += sign * o.threads
	if sign > 0 {
		r.minute = r.minute.plus(o.minute)
	} else {
		r.minute = r.minute.minus(o.minute)
	}
}

func (r raw) zero() bool {
	for _, c := range r.counts {
		if c > 0 {
			return false
		}
	}
	return r.threads <= 0 && r.minute.Pass <= 0 && r.minute.Block <= 0 && r.minute.Error <= 0
}

func (r raw) node(name string, atMs int64) TreeNode {
	c := r.counts
	for i := range c {
		c[i] = max(c[i], 0) // a call counted between two reads must not show as negative
	}
	st := ResourceStats{
		Resource: name, AtMs: atMs,
		PassQPS: float64(c[stat.Pass]), BlockQPS: float64(c[stat.Block]),
		SuccessQPS: float64(c[stat.Success]), ErrorQPS: float64(c[stat.Error]),
		Concurrency: max(r.threads, 0),
	}
	if c[stat.Success] > 0 {
		st.AvgRTMs = float64(c[stat.RT]) / float64(c[stat.Success])
	}
	m := r.minute
	m.Pass, m.Block, m.Success, m.Error = max(m.Pass, 0), max(m.Block, 0), max(m.Success, 0), max(m.Error, 0)
	return TreeNode{Name: name, Stats: st, LastMinute: m}
}

// CallTree returns the engine's statistics shaped as Sentinel's call tree:
// the root TreeRoot, one child per entrance (WithEntrance; DefaultEntrance
// for calls entered without one), and under each the resources entered
// through it, with the statistics of those calls only. An entrance's
// statistics are the sums of its resources'. Children are sorted by name.
// Sentinel also nests a resource entered while another one's entry is open;
// the engine has no such nesting, so the tree is two levels deep.
func (e *Engine) CallTree() TreeNode {
	now := e.clock.NowMs()
	type acc struct {
		total raw
		kids  []TreeNode
	}
	entrances := map[string]*acc{}
	addTo := func(entrance, resource string, r raw) {
		a := entrances[entrance]
		if a == nil {
			a = &acc{}
			entrances[entrance] = a
		}
		a.total.add(r, 1)
		a.kids = append(a.kids, r.node(resource, now))
	}
	e.reg.Range(func(rn *stat.ResourceNode) bool {
		rest := rawOf(rn.Node, now)
		entered := false
		rn.RangeEntrances(func(name string, n *stat.Node) bool {
			r := rawOf(n, now)
			rest.add(r, -1)
			addTo(name, rn.Name, r)
			entered = true
			return true
		})
		// A resource only ever entered through entrances is not listed
		// under the default one.
		if !entered || !rest.zero() {
			addTo(DefaultEntrance, rn.Name, rest)
		}
		return true
	})
	root := TreeNode{Name: TreeRoot, Stats: ResourceStats{Resource: TreeRoot, AtMs: now}}
	var all raw
	for name, a := range entrances {
		slices.SortFunc(a.kids, func(x, y TreeNode) int { return compareNames(x.Name, y.Name) })
		n := a.total.node(name, now)
		n.Children = a.kids
		root.Children = append(root.Children, n)
		all.add(a.total, 1)
	}
	slices.SortFunc(root.Children, func(x, y TreeNode) int { return compareNames(x.Name, y.Name) })
	r := all.node(TreeRoot, now)
	root.Stats, root.LastMinute = r.Stats, r.LastMinute
	return root
}

func compareNames(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
