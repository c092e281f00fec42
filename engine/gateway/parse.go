package gateway

import "github.com/rulesync/rulesync/engine/param"

// RequestInfo is what gateway rules can read from a request. It is an
// interface so that any gateway (net/http, gRPC, a custom proxy) can supply
// it; httpgw adapts *http.Request. An empty string means the attribute is
// absent: like Sentinel, a rule does not limit requests that lack its
// attribute.
type RequestInfo interface {
	ClientIP() string
	Host() string
	Header(name string) string
	Query(name string) string
	Cookie(name string) string
}

// CachingRequestInfo is a RequestInfo that carries an ArgCache for its
// request. AppendArgs then reads and boxes each attribute once, however many
// resources (a route and its API groups) the request is checked as.
type CachingRequestInfo interface {
	RequestInfo
	ArgCache() *ArgCache
}

// ArgCache remembers the attributes parsed from one request. The zero value is
// empty; Reset it before reusing it for another request. The arguments
// AppendArgs builds through a cache refer to the values held in it (as
// param.StringRef, which the param manager reads as the string), so a cache
// must not be Reset or reused while calls that carry them are in flight.
type ArgCache struct {
	n    int
	keys [8]argKey
	vals [8]cachedArg
}

type argKey struct {
	strategy int
	field    string
}

type cachedArg struct {
	s   string
	box any // s as an argument, nil when s is ""
}

// Reset empties the cache.
func (c *ArgCache) Reset() { *c = ArgCache{} }

func (c *ArgCache) get(k argKey) (*cachedArg, bool) {
	for i := range c.n {
		if c.keys[i] == k {
			return &c.vals[i], true
		}
	}
	return nil, false
}

// add caches s under k and returns the entry, or nil when the cache is full.
// The entry's box refers to the cached string, so building it does not
// allocate.
func (c *ArgCache) add(k argKey, s string) *cachedArg {
	if c.n == len(c.keys) {
		return nil
	}
	v := &c.vals[c.n]
	c.keys[c.n], v.s, v.box = k, s, nil
	if s != "" {
		v.box = param.RefString(&v.s)
	}
	c.n++
	return v
}

// Pre-boxed markers, so that placing them in an args array does not allocate.
var (
	defaultArg  any = DefaultParam
	notMatchArg any = NotMatchParam
	// literalNotMatchArg stands for a request value that is literally "$NM"
	// and matched the pattern: counted under its own key, like any value.
	literalNotMatchArg any = "\x00" + NotMatchParam
)

// ParseArgs builds the hot-param argument array for one entry of resource:
// index i holds the value of the i-th rule with a paramItem ("$NM" when it
// fails the item's pattern, nil when the request lacks it; a value that is
// literally "$NM" is renamed so that it cannot claim the pass-through
// threshold of non-matching values), and the last
// index holds "$D" when some rule of the resource has no paramItem. It
// returns nil when no gateway rule names resource.
func (m *Manager) ParseArgs(resource string, req RequestInfo) []any {
	return m.AppendArgs(nil, resource, req)
}

// AppendArgs is ParseArgs appending to dst, for callers that pool their
// argument slices. With a plain RequestInfo each non-empty value is one
// allocation (its conversion to an interface). With a CachingRequestInfo
// nothing is allocated: each attribute is read once per request, and the
// arguments are param.StringRef values referring to the strings in the
// request's ArgCache (see ArgCache for how long they stay valid).
func (m *Manager) AppendArgs(dst []any, resource string, req RequestInfo) []any {
	plan := m.rules.Load().plans[resource]
	if plan == nil {
		return dst
	}
	base := len(dst)
	for range plan.nargs() {
		dst = append(dst, nil)
	}
	args := dst[base:]
	var cache *ArgCache
	if cr, ok := req.(CachingRequestInfo); ok {
		cache = cr.ArgCache()
	}
	for i := range plan.slots {
		s := &plan.slots[i]
		// v points into the cache rather than copying the entry just
		// written there (a copy right after the write stalls the CPU).
		var v *cachedArg
		if cache != nil {
			k := argKey{s.strategy, s.field}
			var ok bool
			if v, ok = cache.get(k); !ok {
				val := s.value(req)
				if v = cache.add(k, val); v == nil {
					v = boxed(val) // cache full: a plain string
				}
			}
		} else {
			v = boxed(s.value(req))
		}
		switch {
		case v.s == "":
			// absent: nil, not limited
		case !s.accepts(v.s):
			args[i] = notMatchArg
		case v.s == NotMatchParam:
			// A client sending the marker itself must not get the
			// marker's pass-through threshold.
			args[i] = literalNotMatchArg
		default:
			args[i] = v.box
		}
	}
	if plan.hasDefault {
		args[len(args)-1] = defaultArg
	}
	return dst
}

func boxed(s string) *cachedArg {
	if s == "" {
		return &cachedArg{}
	}
	return &cachedArg{s: s, box: s}
}

func (s *paramSlot) value(req RequestInfo) string {
	if req == nil {
		return ""
	}
	switch s.strategy {
	case ParseClientIP:
		return req.ClientIP()
	case ParseHost:
		return req.Host()
	case ParseHeader:
		return req.Header(s.field)
	case ParseURLParam:
		return req.Query(s.field)
	case ParseCookie:
		return req.Cookie(s.field)
	}
	return ""
}
