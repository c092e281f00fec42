package flow

import (
	"sync"
	"sync/atomic"
)

// defaultMatchCacheSize bounds how many resource names a rule set remembers the
// regex matches of; past it, names are matched on every call rather than letting
// resource names built from request data grow memory without limit.
const defaultMatchCacheSize = 4096

// matchCache maps resource names to the rules that apply to them. Reads are one
// atomic load and a map lookup; a miss copies the map under a mutex, which is
// cheap because a rule set meets each resource name once.
type matchCache struct {
	m   atomic.Pointer[map[string]*resourceRules]
	mu  sync.Mutex
	max int
}

func newMatchCache(max int) *matchCache {
	c := &matchCache{max: max}
	empty := map[string]*resourceRules{}
	c.m.Store(&empty)
	return c
}

func (c *matchCache) get(res string) (*resourceRules, bool) {
	rr, ok := (*c.m.Load())[res]
	return rr, ok
}

func (c *matchCache) put(res string, rr *resourceRules) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.m.Load()
	if _, ok := old[res]; ok || len(old) >= c.max {
		return
	}
	next := make(map[string]*resourceRules, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[res] = rr
	c.m.Store(&next)
}
