package stat

import (
	"sync"
	"sync/atomic"
)

// ResourceNode holds the statistics of one resource: the node over all callers
// (Sentinel's cluster node), plus a node per origin and per entrance created on
// first use. Rule families memoize their per-resource lookups in it (Memo), so
// that a call finds its resource's rules without a map lookup per family.
type ResourceNode struct {
	Name      string
	Node      *Node
	origins   nodeMap
	entrances nodeMap
	memos     [MemoSlots]atomic.Pointer[memo]
	reg       *Registry
}

// Origin returns the node of (resource, origin), creating it on first use.
func (r *ResourceNode) Origin(origin string) *Node { return r.origins.getOrCreate(origin) }

// LookupOrigin returns the node of (resource, origin) or nil.
func (r *ResourceNode) LookupOrigin(origin string) *Node { return r.origins.lookup(origin) }

// Entrance returns the node of (resource, entrance), creating it on first
// use; it keeps history when the registry does (EnableHistory).
func (r *ResourceNode) Entrance(entrance string) *Node {
	if n := r.entrances.lookup(entrance); n != nil {
		return n
	}
	return r.entrances.getOrCreateWith(entrance, r.reg.history)
}

// RangeEntrances calls fn for every (resource, entrance) node until fn returns false.
func (r *ResourceNode) RangeEntrances(fn func(entrance string, n *Node) bool) {
	r.entrances.rangeAll(fn)
}

// LookupEntrance returns the node of (resource, entrance) or nil.
func (r *ResourceNode) LookupEntrance(entrance string) *Node { return r.entrances.lookup(entrance) }

// nodeMap is a copy-on-write map: reads are one atomic load and a map lookup;
// writes, which happen once per new key, copy the map under a mutex.
type nodeMap struct {
	m  atomic.Pointer[map[string]*Node]
	mu sync.Mutex
}

func (nm *nodeMap) lookup(k string) *Node {
	if m := nm.m.Load(); m != nil {
		return (*m)[k]
	}
	return nil
}

func (nm *nodeMap) getOrCreate(k string) *Node { return nm.getOrCreateWith(k, nil) }

func (nm *nodeMap) rangeAll(fn func(string, *Node) bool) {
	if m := nm.m.Load(); m != nil {
		for k, n := range *m {
			if !fn(k, n) {
				return
			}
		}
	}
}

// getOrCreateWith is getOrCreate for a node that keeps history() seconds of
// history (0: none). history is read after the node is published, so that a
// concurrent Registry.EnableHistory either sees the node or is seen by it.
func (nm *nodeMap) getOrCreateWith(k string, history func() int) *Node {
	if n := nm.lookup(k); n != nil {
		return n
	}
	nm.mu.Lock()
	defer nm.mu.Unlock()
	old := nm.m.Load()
	if old != nil {
		if n := (*old)[k]; n != nil {
			return n
		}
	}
	next := make(map[string]*Node, 1+lenOf(old))
	if old != nil {
		for kk, v := range *old {
			next[kk] = v
		}
	}
	n := NewNode()
	next[k] = n
	nm.m.Store(&next)
	if history != nil {
		if h := history(); h > 0 {
			n.EnableHistory(h)
		}
	}
	return n
}

func lenOf(m *map[string]*Node) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// DefaultMaxResources bounds the number of distinct resources a Registry tracks,
// so that resource names built from request data cannot exhaust memory.
const DefaultMaxResources = 6000

// Registry maps resource names to their nodes. Lookups are lock-free.
type Registry struct {
	m   atomic.Pointer[map[string]*ResourceNode]
	mu  sync.Mutex
	max int
	// hist is how many seconds of history new nodes keep (EnableHistory).
	hist atomic.Int64
}

// NewRegistry returns a registry tracking at most max resources (<= 0: the default).
func NewRegistry(max int) *Registry {
	if max <= 0 {
		max = DefaultMaxResources
	}
	r := &Registry{max: max}
	empty := map[string]*ResourceNode{}
	r.m.Store(&empty)
	return r
}

// Lookup returns the node of resource or nil.
func (r *Registry) Lookup(resource string) *ResourceNode {
	return (*r.m.Load())[resource]
}

// GetOrCreate returns the node of resource, creating it on first use. It returns
// nil when the registry is full.
func (r *Registry) GetOrCreate(resource string) *ResourceNode {
	if n := r.Lookup(resource); n != nil {
		return n
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.m.Load()
	if n := old[resource]; n != nil {
		return n
	}
	if len(old) >= r.max {
		return nil
	}
	next := make(map[string]*ResourceNode, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	n := &ResourceNode{Name: resource, Node: NewNode(), reg: r}
	if h := r.history(); h > 0 {
		n.Node.EnableHistory(h)
	}
	next[resource] = n
	r.m.Store(&next)
	return n
}

// EnableHistory makes every resource node, and every (resource, entrance)
// node, keep the per-second totals of their last seconds seconds: those
// tracked now and those created later. A smaller value than before is
// ignored. Origin nodes keep none.
func (r *Registry) EnableHistory(seconds int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if int64(seconds) <= r.hist.Load() {
		return
	}
	r.hist.Store(int64(seconds))
	for _, rn := range *r.m.Load() {
		rn.Node.EnableHistory(seconds)
		rn.entrances.rangeAll(func(_ string, n *Node) bool {
			n.EnableHistory(seconds)
			return true
		})
	}
}

func (r *Registry) history() int {
	if r == nil {
		return 0
	}
	return int(r.hist.Load())
}

// Len is the number of tracked resources.
func (r *Registry) Len() int { return len(*r.m.Load()) }

// Range calls fn for every tracked resource until fn returns false.
func (r *Registry) Range(fn func(*ResourceNode) bool) {
	for _, v := range *r.m.Load() {
		if !fn(v) {
			return
		}
	}
}
