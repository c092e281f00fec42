// Package httpadapter puts the engine in front of net/http handlers: each
// request is one inbound entry on a resource named after its route, a
// blocked request is answered 429 Too Many Requests (with Retry-After when a
// rate limiter knows the wait), and 5xx answers and panics are recorded as
// errors that circuit breakers count.
//
// The resource is, in this order: what WithResource returns; the ServeMux
// pattern that matched the request ("GET /orders/{id}"), which a ServeMux
// sets before it calls the handler, so wrap the handlers you register (Handle
// and HandleFunc do) or pass the mux with WithMux when the middleware wraps
// the mux itself; otherwise the URL path. Patterns keep the number of
// resources bounded; raw paths do not (the engine stops counting new
// resources past engine.WithMaxResources).
//
// This middleware checks every family of rules on one resource per request;
// package engine/gateway/httpgw is the API-gateway middleware (route and
// API-group resources, gateway rules with request attributes).
package httpadapter

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/internal/httpstatus"
)

// Errors recorded as the outcome of an entry, for degrade rules.
var (
	// ErrServerStatus: the handler answered with a status that
	// WithErrorStatus counts as an error (by default 500-599).
	ErrServerStatus = errors.New("httpadapter: handler answered with an error status")
	// ErrPanic: the handler panicked; the panic goes on.
	ErrPanic = errors.New("httpadapter: handler panicked")
)

// Option configures a Middleware.
type Option func(*config)

type config struct {
	resource     func(*http.Request) string
	mux          *http.ServeMux
	origin       func(*http.Request) string
	args         func(*http.Request) []any
	blockHandler func(http.ResponseWriter, *http.Request, *engine.BlockError)
	errorStatus  func(int) bool
}

// WithResource names the resource of a request; "" lets the request through
// unchecked.
func WithResource(fn func(*http.Request) string) Option {
	return func(c *config) { c.resource = fn }
}

// WithMux makes a middleware that wraps mux itself name each request after
// the pattern of mux that matches it (one extra route lookup per request).
func WithMux(mux *http.ServeMux) Option { return func(c *config) { c.mux = mux } }

// WithOrigin names the caller of a request (a header, a client certificate's
// name), for limitApp and authority rules.
func WithOrigin(fn func(*http.Request) string) Option {
	return func(c *config) { c.origin = fn }
}

// WithArgs gives the request's arguments for hot-parameter rules (a user id,
// a path value).
func WithArgs(fn func(*http.Request) []any) Option {
	return func(c *config) { c.args = fn }
}

// WithBlockHandler replaces the default answer to a blocked request
// (DefaultBlockHandler).
func WithBlockHandler(fn func(http.ResponseWriter, *http.Request, *engine.BlockError)) Option {
	return func(c *config) { c.blockHandler = fn }
}

// WithErrorStatus sets which answers are recorded as errors (default
// 500-599).
func WithErrorStatus(fn func(status int) bool) Option {
	return func(c *config) { c.errorStatus = fn }
}

// Middleware checks requests against an engine; see the package doc.
type Middleware struct {
	e       *engine.Engine
	cfg     config
	writers sync.Pool // of *httpstatus.Writer
}

// New returns the middleware function of a Middleware on e.
func New(e *engine.Engine, opts ...Option) func(http.Handler) http.Handler {
	return NewMiddleware(e, opts...).Wrap
}

// NewMiddleware returns a Middleware on e (engine.Default() when nil).
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
	m.writers.New = func() any { return &httpstatus.Writer{} }
	return m
}

// Wrap returns next behind the checks, the resource chosen per request.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.serve(w, r, next, m.resourceOf(r))
	})
}

// Handle registers h on mux under pattern, checked as the resource pattern.
func (m *Middleware) Handle(mux *http.ServeMux, pattern string, h http.Handler) {
	mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := pattern
		if m.cfg.resource != nil {
			res = m.cfg.resource(r)
		}
		m.serve(w, r, h, res)
	}))
}

// HandleFunc is Handle for a function.
func (m *Middleware) HandleFunc(mux *http.ServeMux, pattern string, fn func(http.ResponseWriter, *http.Request)) {
	m.Handle(mux, pattern, http.HandlerFunc(fn))
}

func (m *Middleware) resourceOf(r *http.Request) string {
	switch {
	case m.cfg.resource != nil:
		return m.cfg.resource(r)
	case r.Pattern != "":
		return r.Pattern
	case m.cfg.mux != nil:
		if _, p := m.cfg.mux.Handler(r); p != "" {
			return p
		}
	}
	return r.URL.Path
}

func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler, res string) {
	if res == "" {
		next.ServeHTTP(w, r)
		return
	}
	var en *engine.Entry
	var err error
	origin := ""
	if m.cfg.origin != nil {
		origin = m.cfg.origin(r)
	}
	if m.cfg.args != nil {
		en, err = m.e.Entry(r.Context(), res, engine.Inbound(), engine.Origin(origin), engine.WithArgs(m.cfg.args(r)...))
	} else {
		en, err = m.e.Entry(r.Context(), res, engine.Inbound(), engine.Origin(origin))
	}
	if err != nil {
		var be *engine.BlockError
		if !errors.As(err, &be) {
			be = &engine.BlockError{Resource: res, Reason: err.Error()}
		}
		m.cfg.blockHandler(w, r, be)
		return
	}
	sw := m.writers.Get().(*httpstatus.Writer)
	sw.ResponseWriter = w
	finished := false
	defer func() {
		if !finished {
			// The handler panicked: record it and let the panic go on. The
			// writer is not reused, as the handler may still hold it.
			en.Exit(engine.WithError(ErrPanic))
		}
	}()
	next.ServeHTTP(sw, r)
	finished = true
	if sw.Status != 0 && m.cfg.errorStatus(sw.Status) {
		en.Exit(engine.WithError(ErrServerStatus))
	} else {
		en.Exit()
	}
	*sw = httpstatus.Writer{}
	m.writers.Put(sw)
}

// DefaultBlockHandler answers 429 Too Many Requests, with Retry-After (in
// whole seconds, rounded up) when the rule that blocked knows how long the
// call would have had to wait (rate limiters, hot-param rate limiters).
func DefaultBlockHandler(w http.ResponseWriter, _ *http.Request, be *engine.BlockError) {
	h := w.Header()
	if s := RetryAfter(be); s > 0 {
		h.Set("Retry-After", strconv.FormatInt(s, 10))
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = io.WriteString(w, "blocked by rulesync: "+string(be.Family)+" rule on "+be.Resource+"\n")
}

// RetryAfter is the Retry-After of a block in seconds (its wait rounded up),
// or 0 when the rule does not know how long to wait.
func RetryAfter(be *engine.BlockError) int64 {
	if be == nil || be.WaitMs <= 0 {
		return 0
	}
	return (be.WaitMs + 999) / 1000
}
