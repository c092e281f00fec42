package gateway

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
// empty; Reset it before reusing it for another request.
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
	box any // s as an interface, nil when s is ""
}

// Reset empties the cache.
func (c *ArgCache) Reset() { *c = ArgCache{} }

func (c *ArgCache) get(k argKey) (cachedArg, bool) {
	for i := range c.n {
		if c.keys[i] == k {
			return c.vals[i], true
		}
	}
	return cachedArg{}, false
}

func (c *ArgCache) put(k argKey, v cachedArg) {
	if c.n < len(c.keys) {
		c.keys[c.n], c.vals[c.n] = k, v
		c.n++
	}
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
// argument slices. Only the parsed values themselves are allocated (one
// interface conversion per non-empty value, once per request when req is a
// CachingRequestInfo).
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
		var v cachedArg
		if cache != nil {
			k := argKey{s.strategy, s.field}
			var ok bool
			if v, ok = cache.get(k); !ok {
				v = boxed(s.value(req))
				cache.put(k, v)
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

func boxed(s string) cachedArg {
	if s == "" {
		return cachedArg{}
	}
	return cachedArg{s: s, box: s}
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
