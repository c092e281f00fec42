// Package kitexadapter puts the engine in front of Kitex services and
// clients, as middleware:
//
//	svr := greeter.NewServer(handler,
//		server.WithServerBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: "greeter"}),
//		server.WithMiddleware(kitexadapter.ServerMiddleware(e)))
//	cli, err := greeter.NewClient("greeter",
//		client.WithMiddleware(kitexadapter.ClientMiddleware(e)))
//
// Each call is one entry on the resource Service:Method (or what
// WithResourceExtract returns). On the server side the call is inbound
// traffic (system rules count it) and its origin, for limitApp and authority
// rules, is the caller's service name as Kitex knows it (rpcinfo's From
// endpoint, which a client sends with TTHeader and its
// client.WithClientBasicInfo). A blocked call fails with the
// *engine.BlockError, or with the error WithBlockFallback returns (a
// business status error, kerrors.NewBizStatusError, reaches the caller with
// its code and message); the error a call ends with is recorded for circuit
// breakers. A business status a handler answers with is an answer, not a
// failure: Kitex keeps it out of the middleware's error, and breakers do not
// count it.
//
// Those coming from kitex-contrib/opensergo's sentinel package find the same
// shape: ServerMiddleware and ClientMiddleware for SentinelServerMiddleware
// and SentinelClientMiddleware, with WithResourceExtract and
// WithBlockFallback of the same signatures.
//
// This package lives in a module of its own, so that the core module does
// not require Kitex.
package kitexadapter

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/cloudwego/kitex/pkg/endpoint"
	"github.com/cloudwego/kitex/pkg/kerrors"
	"github.com/cloudwego/kitex/pkg/rpcinfo"

	"github.com/rulesync/rulesync/engine"
)

// Option configures a middleware.
type Option func(*config)

type config struct {
	resource    func(ctx context.Context, req, resp any) string
	fallback    func(ctx context.Context, req, resp any, blockErr error) error
	origin      func(ctx context.Context) string
	args        func(ctx context.Context, req any) []any
	errorFilter func(error) bool
}

// WithResourceExtract names the resource of a call (default
// Service:Method); "" lets the call through unchecked.
func WithResourceExtract(fn func(ctx context.Context, req, resp any) string) Option {
	return func(c *config) { c.resource = fn }
}

// WithBlockFallback sets what a blocked call returns: fn gets the
// *engine.BlockError and returns the call's error (a
// kerrors.NewBizStatusError, say, or nil to answer with resp as fn filled
// it in).
func WithBlockFallback(fn func(ctx context.Context, req, resp any, blockErr error) error) Option {
	return func(c *config) { c.fallback = fn }
}

// WithOrigin sets how the server side names the caller, in place of the
// caller's service name.
func WithOrigin(fn func(ctx context.Context) string) Option {
	return func(c *config) { c.origin = fn }
}

// WithArgs gives a call's arguments for hot-parameter rules.
func WithArgs(fn func(ctx context.Context, req any) []any) Option {
	return func(c *config) { c.args = fn }
}

// WithErrorFilter decides which errors of a call are recorded for circuit
// breakers (default: every error but the caller's cancellation).
func WithErrorFilter(fn func(error) bool) Option {
	return func(c *config) { c.errorFilter = fn }
}

// ServerMiddleware checks each call a Kitex server receives against e
// (engine.Default() when nil).
func ServerMiddleware(e *engine.Engine, opts ...Option) endpoint.Middleware {
	return newMiddleware(e, true, opts)
}

// ClientMiddleware checks each call a Kitex client makes against e before
// it is sent; a blocked call is not sent.
func ClientMiddleware(e *engine.Engine, opts ...Option) endpoint.Middleware {
	return newMiddleware(e, false, opts)
}

func newMiddleware(e *engine.Engine, server bool, opts []Option) endpoint.Middleware {
	if e == nil {
		e = engine.Default()
	}
	m := &middleware{e: e, server: server}
	for _, o := range opts {
		o(&m.cfg)
	}
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req, resp any) error { return m.call(ctx, req, resp, next) }
	}
}

type middleware struct {
	e      *engine.Engine
	server bool
	cfg    config
	names  resourceNames
}

func (m *middleware) call(ctx context.Context, req, resp any, next endpoint.Endpoint) error {
	ri := rpcinfo.GetRPCInfo(ctx)
	var res string
	if m.cfg.resource != nil {
		res = m.cfg.resource(ctx, req, resp)
	} else if ri != nil && ri.To() != nil {
		res = m.names.of(ri.To().ServiceName(), ri.To().Method())
	}
	if res == "" {
		return next(ctx, req, resp)
	}
	var en *engine.Entry
	var err error
	if m.server {
		origin := ""
		if m.cfg.origin != nil {
			origin = m.cfg.origin(ctx)
		} else if ri != nil && ri.From() != nil {
			origin = ri.From().ServiceName()
		}
		if m.cfg.args != nil {
			en, err = m.e.Entry(ctx, res, engine.Inbound(), engine.Origin(origin), engine.WithArgs(m.cfg.args(ctx, req)...))
		} else {
			en, err = m.e.Entry(ctx, res, engine.Inbound(), engine.Origin(origin))
		}
	} else if m.cfg.args != nil {
		en, err = m.e.Entry(ctx, res, engine.WithArgs(m.cfg.args(ctx, req)...))
	} else {
		en, err = m.e.Entry(ctx, res)
	}
	if err != nil {
		var be *engine.BlockError
		if !errors.As(err, &be) {
			be = &engine.BlockError{Resource: res, Reason: err.Error()}
		}
		if m.cfg.fallback == nil {
			return be
		}
		ferr := m.cfg.fallback(ctx, req, resp, be)
		if m.server && ri != nil {
			// A business status goes back to the caller as one (code and
			// message), the way Kitex treats a handler's.
			if bizErr, ok := kerrors.FromBizStatusError(ferr); ok {
				if setter, ok := ri.Invocation().(rpcinfo.InvocationSetter); ok {
					setter.SetBizStatusErr(bizErr)
					return nil
				}
			}
		}
		return ferr
	}
	finished := false
	defer func() {
		if !finished {
			en.Exit(engine.WithError(errPanic))
		}
	}()
	cerr := next(ctx, req, resp)
	finished = true
	if cerr != nil && (m.cfg.errorFilter != nil && m.cfg.errorFilter(cerr) || m.cfg.errorFilter == nil && !errors.Is(cerr, context.Canceled)) {
		en.Exit(engine.WithError(cerr))
	} else {
		en.Exit()
	}
	return cerr
}

// errPanic is recorded when the call panics; the panic goes on.
var errPanic = errors.New("kitexadapter: call panicked")

// maxNames bounds the cached resource names: method names come from the
// IDL, but a generic server sees what its callers send.
const maxNames = 4096

type nameKey struct{ service, method string }

// resourceNames caches "Service:Method" so that a call does not build the
// string again: the map is replaced, never changed, and read without a lock.
type resourceNames struct {
	m  atomic.Pointer[map[nameKey]string]
	mu sync.Mutex
}

func (r *resourceNames) of(service, method string) string {
	k := nameKey{service, method}
	if mp := r.m.Load(); mp != nil {
		if s, ok := (*mp)[k]; ok {
			return s
		}
	}
	s := service + ":" + method
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.m.Load()
	if old != nil && len(*old) >= maxNames {
		return s
	}
	next := make(map[nameKey]string, 1+lenOf(old))
	if old != nil {
		for kk, v := range *old {
			next[kk] = v
		}
	}
	next[k] = s
	r.m.Store(&next)
	return s
}

func lenOf(m *map[nameKey]string) int {
	if m == nil {
		return 0
	}
	return len(*m)
}
