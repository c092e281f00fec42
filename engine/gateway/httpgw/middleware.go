package httpgw

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/internal/httpstatus"
)

// Errors recorded as the outcome of an entry (degrade rules count them).
var (
	// ErrServerStatus is recorded when the handler answered with a status
	// that WithErrorStatus counts as an error (by default 500-599).
	ErrServerStatus = errors.New("httpgw: handler answered with an error status")
	// ErrPanic is recorded when the handler panicked; the panic goes on.
	ErrPanic = errors.New("httpgw: handler panicked")
)

// Option configures a Middleware.
type Option func(*config)

type config struct {
	routeID      func(*http.Request) string
	origin       func(*http.Request) string
	proxyHeader  string
	trusted      []netip.Prefix
	blockHandler func(http.ResponseWriter, *http.Request, *engine.BlockError)
	errorStatus  func(int) bool
}

// WithRouteID sets how the middleware names a request's route. The route id
// is the first resource checked; an empty id means the request has no route.
// Without this option only API groups apply.
func WithRouteID(fn func(*http.Request) string) Option {
	return func(c *config) { c.routeID = fn }
}

// WithOrigin sets how the middleware finds the caller's origin (for limitApp
// and authority rules on the route and API resources).
func WithOrigin(fn func(*http.Request) string) Option {
	return func(c *config) { c.origin = fn }
}

// WithTrustedProxyHeader makes the middleware read the client address from a
// forwarding header such as X-Forwarded-For or X-Real-IP, whose values are
// comma-separated addresses, each proxy appending the address it received
// the request from. The header is read only when the direct peer is one of
// the trusted proxies (when none are given, the direct peer is trusted). The
// client is the right-most address that is not a trusted proxy: addresses
// left of it may be forged by the client itself. When every address is a
// trusted proxy, the left-most one is the client; an address that does not
// parse makes the middleware fall back to the direct peer.
func WithTrustedProxyHeader(name string, trusted ...netip.Prefix) Option {
	return func(c *config) {
		c.proxyHeader = http.CanonicalHeaderKey(name)
		c.trusted = append([]netip.Prefix(nil), trusted...)
	}
}

// WithBlockHandler replaces the default answer to a blocked request (429 with
// a small JSON body).
func WithBlockHandler(fn func(http.ResponseWriter, *http.Request, *engine.BlockError)) Option {
	return func(c *config) { c.blockHandler = fn }
}

// WithErrorStatus sets which response statuses are recorded as errors of the
// entries (default: 500-599), so that degrade rules on routes and APIs see
// them.
func WithErrorStatus(fn func(status int) bool) Option {
	return func(c *config) { c.errorStatus = fn }
}

// Middleware runs gateway flow control in front of an http.Handler: for each
// request it enters the engine once for the route (WithRouteID) and once for
// every API definition whose predicates match the path, each entry with its
// own gateway arguments and as inbound traffic. A block answers the request
// at once; otherwise every entry is exited after the handler returns, with an
// error when the handler panicked or answered with an error status.
type Middleware struct {
	e     *engine.Engine
	cfg   config
	state sync.Pool
}

// New returns a middleware function checking requests against e's gateway
// rules; see Middleware.
func New(e *engine.Engine, opts ...Option) func(http.Handler) http.Handler {
	return NewMiddleware(e, opts...).Wrap
}

// NewMiddleware returns a Middleware checking requests against e's gateway
// rules; a nil e means engine.Default().
func NewMiddleware(e *engine.Engine, opts ...Option) *Middleware {
	if e == nil {
		e = engine.Default()
	}
	m := &Middleware{e: e}
	for _, o := range opts {
		o(&m.cfg)
	}
	if m.cfg.blockHandler == nil {
		m.cfg.blockHandler = DefaultBlockHandler
	}
	if m.cfg.errorStatus == nil {
		m.cfg.errorStatus = func(s int) bool { return s >= 500 && s <= 599 }
	}
	m.state.New = func() any { return &reqState{} }
	return m
}

// reqState is what one request needs, pooled.
type reqState struct {
	names   []string
	args    []any
	entries []*engine.Entry
	info    RequestInfo
	sw      httpstatus.Writer
}

func (st *reqState) clear() {
	clear(st.names)
	clear(st.args)
	clear(st.entries)
	st.names, st.args, st.entries = st.names[:0], st.args[:0], st.entries[:0]
	st.info = RequestInfo{}
	st.sw = httpstatus.Writer{}
}

// Wrap returns next behind the gateway checks.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.serve(w, r, next)
	})
}

func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	gw := m.e.Gateway()
	st := m.state.Get().(*reqState)
	if m.cfg.routeID != nil {
		if id := m.cfg.routeID(r); id != "" {
			st.names = append(st.names, id)
		}
	}
	st.names = gw.MatchingAPIs(r.URL.Path, st.names)
	if len(st.names) == 0 {
		m.state.Put(st)
		next.ServeHTTP(w, r)
		return
	}

	st.info.reset(r, m.ClientIP(r))
	ctx := r.Context()
	if m.cfg.origin != nil {
		if o := m.cfg.origin(r); o != "" {
			ctx = engine.WithOrigin(ctx, o)
		}
	}
	// One clock reading serves every entry of the request: they are checked
	// at the same moment, and a clock read can cost as much as a check.
	now := m.e.Clock().NowNanos()
	for _, name := range st.names {
		// Each entry keeps its own window of the shared args slice; a later
		// append that moves the slice leaves earlier windows intact.
		start := len(st.args)
		st.args = gw.AppendArgs(st.args, name, &st.info)
		args := st.args[start:len(st.args):len(st.args)]
		en, err := m.enter(ctx, name, args, now)
		if err != nil {
			m.exitAll(st, nil)
			var be *engine.BlockError
			if !errors.As(err, &be) {
				be = &engine.BlockError{Resource: name, Reason: err.Error()}
			}
			m.cfg.blockHandler(w, r, be)
			st.clear()
			m.state.Put(st)
			return
		}
		st.entries = append(st.entries, en)
	}

	st.sw.ResponseWriter = w
	finished := false
	defer func() {
		if !finished {
			// The handler panicked: record it and let the panic go on. The
			// state is not reused, as the handler may still hold the writer.
			m.exitAll(st, ErrPanic)
		}
	}()
	next.ServeHTTP(&st.sw, r)
	finished = true
	var outcome error
	if st.sw.Status != 0 && m.cfg.errorStatus(st.sw.Status) {
		outcome = ErrServerStatus
	}
	m.exitAll(st, outcome)
	st.clear()
	m.state.Put(st)
}

func (m *Middleware) enter(ctx context.Context, name string, args []any, now int64) (*engine.Entry, error) {
	if len(args) == 0 {
		return m.e.Entry(ctx, name, engine.Inbound(), engine.At(now))
	}
	return m.e.Entry(ctx, name, engine.Inbound(), engine.WithArgs(args...), engine.At(now))
}

// exitAll exits the entries in reverse order of entry, all at one clock reading.
func (m *Middleware) exitAll(st *reqState, err error) {
	if len(st.entries) == 0 {
		return
	}
	end := engine.ExitAt(m.e.Clock().NowNanos())
	for i := len(st.entries) - 1; i >= 0; i-- {
		if err != nil {
			st.entries[i].Exit(end, engine.WithError(err))
		} else {
			st.entries[i].Exit(end)
		}
		st.entries[i] = nil
	}
	st.entries = st.entries[:0]
}

// blockBody is the default JSON answer to a blocked request.
type blockBody struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	Resource string `json:"resource"`
}

// DefaultBlockHandler answers 429 Too Many Requests with
// {"code":429,"message":"blocked by rulesync","resource":"<resource>"}.
func DefaultBlockHandler(w http.ResponseWriter, _ *http.Request, be *engine.BlockError) {
	body, _ := json.Marshal(blockBody{Code: http.StatusTooManyRequests, Message: "blocked by rulesync", Resource: be.Resource})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write(append(body, '\n'))
}

// ClientIP returns the address the middleware limits by: the host of
// r.RemoteAddr, or the forwarded client when WithTrustedProxyHeader applies.
func (m *Middleware) ClientIP(r *http.Request) string {
	peer := hostOnly(r.RemoteAddr)
	if m.cfg.proxyHeader == "" {
		return peer
	}
	if len(m.cfg.trusted) > 0 && !m.isTrusted(peer) {
		return peer
	}
	values := r.Header[m.cfg.proxyHeader]
	var leftmost string
	for i := len(values) - 1; i >= 0; i-- {
		rest := values[i]
		for rest != "" {
			var part string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				part, rest = rest[j+1:], rest[:j]
			} else {
				part, rest = rest, ""
			}
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			addr, ok := parseAddr(part)
			if !ok {
				return peer
			}
			if !m.isTrustedAddr(addr) {
				return addr.String()
			}
			leftmost = addr.String()
		}
	}
	if leftmost != "" {
		return leftmost
	}
	return peer
}

func (m *Middleware) isTrusted(host string) bool {
	addr, ok := parseAddr(host)
	return ok && m.isTrustedAddr(addr)
}

func (m *Middleware) isTrustedAddr(a netip.Addr) bool {
	for _, p := range m.cfg.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseAddr reads "1.2.3.4", "::1", "1.2.3.4:80" or "[::1]:80".
func parseAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func hostOnly(remote string) string {
	// The common "1.2.3.4:port" form, without net.SplitHostPort's general
	// parsing: one colon, no brackets, and so the same split.
	if i := strings.IndexByte(remote, ':'); i >= 0 && strings.IndexByte(remote[i+1:], ':') < 0 &&
		strings.IndexByte(remote, '[') < 0 && strings.IndexByte(remote, ']') < 0 {
		return remote[:i]
	}
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}
