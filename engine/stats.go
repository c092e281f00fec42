package engine

import (
	"iter"

	"github.com/rulesync/rulesync/engine/internal/stat"
)

// ResourceStats are the statistics of one resource at one instant: rates over
// the last second (the window that flow rules read) and the calls in flight.
// Fields may be added in later versions.
type ResourceStats struct {
	Resource    string
	AtMs        int64   // the engine's clock reading the figures are for (Engine.Clock)
	PassQPS     float64 // calls admitted
	BlockQPS    float64 // calls blocked
	SuccessQPS  float64 // calls completed (Exit)
	ErrorQPS    float64 // completed calls that reported an error (WithError)
	AvgRTMs     float64 // average response time of the completed calls, in ms
	Concurrency int64   // calls admitted and not yet exited
}

// ResourceView reads the statistics that the engine keeps for one resource.
// It is a small value, cheap to copy and valid for the life of the engine;
// its methods read the live counters when they are called, and never change
// them. The zero ResourceView reads as a resource without calls.
type ResourceView struct {
	node  *stat.ResourceNode
	clock stat.Clock
}

func (e *Engine) view(rn *stat.ResourceNode) ResourceView {
	return ResourceView{node: rn, clock: e.clock}
}

// Name returns the resource's name.
func (v ResourceView) Name() string {
	if v.node == nil {
		return ""
	}
	return v.node.Name
}

// Stats returns the resource's statistics now, by the engine's clock.
func (v ResourceView) Stats() ResourceStats {
	if v.node == nil {
		return ResourceStats{}
	}
	return nodeStats(v.node.Name, v.node.Node, v.clock.NowMs())
}

func nodeStats(name string, n *stat.Node, nowMs int64) ResourceStats {
	return ResourceStats{
		Resource:    name,
		AtMs:        nowMs,
		PassQPS:     n.PassQPS(nowMs),
		BlockQPS:    n.BlockQPS(nowMs),
		SuccessQPS:  n.SuccessQPS(nowMs),
		ErrorQPS:    n.ErrorQPS(nowMs),
		AvgRTMs:     n.AvgRT(nowMs),
		Concurrency: n.Threads(),
	}
}

// Resources yields a view of every resource the engine keeps statistics for
// (at most WithMaxResources of them), in no particular order. Resources
// entered while it runs may or may not be yielded.
func (e *Engine) Resources() iter.Seq[ResourceView] {
	return func(yield func(ResourceView) bool) {
		e.reg.Range(func(rn *stat.ResourceNode) bool {
			return yield(e.view(rn))
		})
	}
}

// Resource returns the view of one resource, and false when the engine keeps
// no statistics for it (no call entered it yet, or the resource bound was
// reached first).
func (e *Engine) Resource(name string) (ResourceView, bool) {
	rn := e.reg.Lookup(name)
	if rn == nil {
		return ResourceView{}, false
	}
	return e.view(rn), true
}

// InboundResource names the statistics of all inbound calls, as Sentinel's
// dashboard does; system rules read them.
const InboundResource = "__total_inbound_traffic__"

// InboundStats returns the statistics of all inbound calls (those entered
// with Inbound()) now, under the name InboundResource.
func (e *Engine) InboundStats() ResourceStats {
	return nodeStats(InboundResource, e.inbound, e.clock.NowMs())
}
