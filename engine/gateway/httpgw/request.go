package httpgw

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/rulesync/rulesync/engine/gateway"
)

// RequestInfo adapts an *http.Request to gateway.RequestInfo. The zero value
// is not usable; use NewRequestInfo.
type RequestInfo struct {
	r     *http.Request
	ip    string
	cache gateway.ArgCache
}

var _ gateway.CachingRequestInfo = (*RequestInfo)(nil)

// NewRequestInfo returns the gateway view of r, with clientIP as the client
// address (see Middleware.ClientIP for how the middleware finds it).
func NewRequestInfo(r *http.Request, clientIP string) *RequestInfo {
	return &RequestInfo{r: r, ip: clientIP}
}

func (ri *RequestInfo) reset(r *http.Request, clientIP string) {
	ri.r, ri.ip = r, clientIP
	ri.cache.Reset()
}

// ArgCache returns the request's cache of parsed attributes, so that the
// route and every API group of one request share them.
func (ri *RequestInfo) ArgCache() *gateway.ArgCache { return &ri.cache }

// ClientIP returns the client address given to NewRequestInfo.
func (ri *RequestInfo) ClientIP() string { return ri.ip }

// Host returns the request's Host (with the port, if the client sent one).
func (ri *RequestInfo) Host() string { return ri.r.Host }

// Header returns the first value of the named header.
func (ri *RequestInfo) Header(name string) string { return ri.r.Header.Get(name) }

// Cookie returns the value of the named cookie.
func (ri *RequestInfo) Cookie(name string) string {
	c, err := ri.r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// Query returns the first value of the named URL query parameter. It scans the
// raw query instead of parsing it into a map, so that a lookup allocates only
// when a key or value is escaped.
func (ri *RequestInfo) Query(name string) string {
	if ri.r.URL == nil {
		return ""
	}
	return queryValue(ri.r.URL.RawQuery, name)
}

func queryValue(raw, name string) string {
	// One pass over the bytes: a pair ends at '&'; the key at its first '='.
	// The flags say which pairs need the slow path (escapes) or are skipped
	// (';', which url.ParseQuery rejects too).
	for start := 0; start < len(raw); {
		eq, end := -1, start
		escaped, semi := false, false
		for ; end < len(raw) && raw[end] != '&'; end++ {
			switch raw[end] {
			case '=':
				if eq < 0 {
					eq = end
				}
			case '%', '+':
				escaped = true
			case ';':
				semi = true
			}
		}
		k, v := raw[start:end], ""
		if eq >= 0 {
			k, v = raw[start:eq], raw[eq+1:end]
		}
		start = end + 1
		if eq < 0 && k == "" || semi {
			continue
		}
		if !escaped {
			if k == name {
				return v
			}
			continue
		}
		if !unescapedEqual(k, name) {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			u, err := url.QueryUnescape(v)
			if err != nil {
				continue
			}
			return u
		}
		return v
	}
	return ""
}

func unescapedEqual(k, name string) bool {
	if !strings.ContainsAny(k, "%+") {
		return k == name
	}
	u, err := url.QueryUnescape(k)
	return err == nil && u == name
}
