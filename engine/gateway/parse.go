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

// Pre-boxed markers, so that placing them in an args array does not allocate.
var (
	defaultArg  any = DefaultParam
	notMatchArg any = NotMatchParam
)

// ParseArgs builds the hot-param argument array for one entry of resource:
// index i holds the value of the i-th rule with a paramItem ("$NM" when it
// fails the item's pattern, nil when the request lacks it), and the last
// index holds "$D" when some rule of the resource has no paramItem. It
// returns nil when no gateway rule names resource.
func (m *Manager) ParseArgs(resource string, req RequestInfo) []any {
	return m.AppendArgs(nil, resource, req)
}

// AppendArgs is ParseArgs appending to dst, for callers that pool their
// argument slices. Only the parsed values themselves are allocated (one
// interface conversion per non-empty value).
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
	for i := range plan.slots {
		s := &plan.slots[i]
		v := s.value(req)
		switch {
		case v == "":
			// absent: nil, not limited
		case !s.accepts(v):
			args[i] = notMatchArg
		default:
			args[i] = v
		}
	}
	if plan.hasDefault {
		args[len(args)-1] = defaultArg
	}
	return dst
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
