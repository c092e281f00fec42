// Package grpcadapter puts the engine in front of gRPC services and clients:
// unary and stream interceptors for both sides. Its name keeps it apart from
// google.golang.org/grpc, which the same files import.
//
//	srv := grpc.NewServer(
//		grpc.UnaryInterceptor(grpcadapter.UnaryServerInterceptor(e)),
//		grpc.StreamInterceptor(grpcadapter.StreamServerInterceptor(e)),
//	)
//	conn, err := grpc.NewClient(addr, creds,
//		grpc.WithUnaryInterceptor(grpcadapter.UnaryClientInterceptor(e)),
//		grpc.WithStreamInterceptor(grpcadapter.StreamClientInterceptor(e)))
//
// Each call is one entry on the resource /package.Service/Method (or what
// WithResourceExtract returns). A server call is inbound traffic (system
// rules count it); its caller's origin, for limitApp and authority rules, is
// the value of the incoming metadata key WithOriginKey names
// (DefaultOriginKey by default), which a client sends with
// WithOriginName. A blocked call fails with codes.ResourceExhausted (with a
// RetryInfo detail when a rate limiter knows the wait), or with the error
// WithBlockFallback returns; an error the handler (or, on the client, the
// server) returns is recorded for circuit breakers.
//
// This package lives in a module of its own, so that the core module does
// not require gRPC.
package grpcadapter

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/rulesync/rulesync/engine"
)

// DefaultOriginKey is the metadata key that names the caller by default.
const DefaultOriginKey = "rulesync-origin"

// Option configures an interceptor.
type Option func(*config)

type config struct {
	resource    func(ctx context.Context, fullMethod string) string
	fallback    func(ctx context.Context, fullMethod string, be *engine.BlockError) error
	originKey   string
	origin      func(ctx context.Context) string
	originName  string
	args        func(ctx context.Context, req any) []any
	errorFilter func(error) bool
}

func newConfig(opts []Option) config {
	c := config{originKey: DefaultOriginKey}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithResourceExtract names the resource of a call (default: its full
// method, /package.Service/Method); "" lets the call through unchecked.
func WithResourceExtract(fn func(ctx context.Context, fullMethod string) string) Option {
	return func(c *config) { c.resource = fn }
}

// WithBlockFallback sets what a blocked call fails with: fn's error (nil
// makes the call fail with codes.ResourceExhausted all the same, as a
// blocked call must not look like a success). The default is
// BlockedStatus(be).Err().
func WithBlockFallback(fn func(ctx context.Context, fullMethod string, be *engine.BlockError) error) Option {
	return func(c *config) { c.fallback = fn }
}

// WithOriginKey sets the incoming metadata key whose value names the caller
// on the server side ("" for none). Keys are lower case in gRPC.
func WithOriginKey(key string) Option { return func(c *config) { c.originKey = key } }

// WithOrigin sets how the server side finds the caller (a peer certificate's
// name, say), in place of the metadata key.
func WithOrigin(fn func(ctx context.Context) string) Option {
	return func(c *config) { c.origin = fn }
}

// WithOriginName makes the client interceptors send name under the origin
// key (WithOriginKey), so that the server's limitApp and authority rules see
// this client as name. It costs the metadata gRPC adds to each call.
func WithOriginName(name string) Option { return func(c *config) { c.originName = name } }

// WithArgs gives a unary call's arguments for hot-parameter rules.
func WithArgs(fn func(ctx context.Context, req any) []any) Option {
	return func(c *config) { c.args = fn }
}

// WithErrorFilter decides which errors of a call are recorded for circuit
// breakers (default: every error but a cancellation, see Canceled).
func WithErrorFilter(fn func(error) bool) Option { return func(c *config) { c.errorFilter = fn } }

// BlockedStatus is the default answer to a blocked call: ResourceExhausted
// with the block's message, and a RetryInfo detail when the rule knows how
// long the call would have had to wait.
func BlockedStatus(be *engine.BlockError) *status.Status {
	st := status.New(codes.ResourceExhausted, be.Error())
	if be.WaitMs > 0 {
		if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(be.WaitMs) * time.Millisecond)}); err == nil {
			st = withInfo
		}
	}
	return st
}

func (c *config) resourceOf(ctx context.Context, method string) string {
	if c.resource != nil {
		return c.resource(ctx, method)
	}
	return method
}

// blocked turns an Entry error into the call's error.
func (c *config) blocked(ctx context.Context, method, res string, err error) error {
	var be *engine.BlockError
	if !errors.As(err, &be) {
		be = &engine.BlockError{Resource: res, Reason: err.Error()}
	}
	if c.fallback != nil {
		if ferr := c.fallback(ctx, method, be); ferr != nil {
			return ferr
		}
	}
	return BlockedStatus(be).Err()
}

// exit ends an entry with the call's outcome.
func (c *config) exit(en *engine.Entry, err error) {
	if err != nil && (c.errorFilter != nil && c.errorFilter(err) || c.errorFilter == nil && !Canceled(err)) {
		en.Exit(engine.WithError(err))
		return
	}
	en.Exit()
}

func (c *config) serverOrigin(ctx context.Context) string {
	if c.origin != nil {
		return c.origin(ctx)
	}
	if c.originKey == "" {
		return ""
	}
	// One value is copied (a small allocation) when the key is present:
	// gRPC's metadata API gives no view of it.
	if v := metadata.ValueFromIncomingContext(ctx, c.originKey); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c *config) serverEntry(e *engine.Engine, ctx context.Context, res string, req any) (*engine.Entry, error) {
	origin := c.serverOrigin(ctx)
	if c.args != nil && req != nil {
		return e.Entry(ctx, res, engine.Inbound(), engine.Origin(origin), engine.WithArgs(c.args(ctx, req)...))
	}
	return e.Entry(ctx, res, engine.Inbound(), engine.Origin(origin))
}

func (c *config) clientEntry(e *engine.Engine, ctx context.Context, res string, req any) (*engine.Entry, error) {
	if c.args != nil && req != nil {
		return e.Entry(ctx, res, engine.WithArgs(c.args(ctx, req)...))
	}
	return e.Entry(ctx, res)
}

func (c *config) outgoing(ctx context.Context) context.Context {
	if c.originName == "" || c.originKey == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, c.originKey, c.originName)
}

// UnaryServerInterceptor checks each unary call against e (engine.Default()
// when nil) before the handler runs.
func UnaryServerInterceptor(e *engine.Engine, opts ...Option) grpc.UnaryServerInterceptor {
	e = orDefault(e)
	c := newConfig(opts)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		res := c.resourceOf(ctx, info.FullMethod)
		if res == "" {
			return handler(ctx, req)
		}
		en, err := c.serverEntry(e, ctx, res, req)
		if err != nil {
			return nil, c.blocked(ctx, info.FullMethod, res, err)
		}
		finished := false
		defer func() {
			if !finished {
				en.Exit(engine.WithError(errPanic))
			}
		}()
		resp, herr := handler(ctx, req)
		finished = true
		c.exit(en, herr)
		return resp, herr
	}
}

// errPanic is recorded when a handler panics; the panic goes on.
var errPanic = errors.New("grpcadapter: handler panicked")

// StreamServerInterceptor checks each stream against e when it opens; the
// entry lasts until the handler returns.
func StreamServerInterceptor(e *engine.Engine, opts ...Option) grpc.StreamServerInterceptor {
	e = orDefault(e)
	c := newConfig(opts)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx := ss.Context()
		res := c.resourceOf(ctx, info.FullMethod)
		if res == "" {
			return handler(srv, ss)
		}
		en, err := c.serverEntry(e, ctx, res, nil)
		if err != nil {
			return c.blocked(ctx, info.FullMethod, res, err)
		}
		finished := false
		defer func() {
			if !finished {
				en.Exit(engine.WithError(errPanic))
			}
		}()
		herr := handler(srv, ss)
		finished = true
		c.exit(en, herr)
		return herr
	}
}

// UnaryClientInterceptor checks each outgoing unary call against e before
// it is sent; a blocked call is not sent.
func UnaryClientInterceptor(e *engine.Engine, opts ...Option) grpc.UnaryClientInterceptor {
	e = orDefault(e)
	c := newConfig(opts)
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
		res := c.resourceOf(ctx, method)
		if res == "" {
			return invoker(c.outgoing(ctx), method, req, reply, cc, callOpts...)
		}
		en, err := c.clientEntry(e, ctx, res, req)
		if err != nil {
			return c.blocked(ctx, method, res, err)
		}
		ierr := invoker(c.outgoing(ctx), method, req, reply, cc, callOpts...)
		c.exit(en, ierr)
		return ierr
	}
}

// StreamClientInterceptor checks each outgoing stream against e before it
// is opened. The entry ends when the stream does: RecvMsg returns an error
// (io.EOF is a success), or the stream's context ends.
func StreamClientInterceptor(e *engine.Engine, opts ...Option) grpc.StreamClientInterceptor {
	e = orDefault(e)
	c := newConfig(opts)
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, callOpts ...grpc.CallOption) (grpc.ClientStream, error) {
		res := c.resourceOf(ctx, method)
		if res == "" {
			return streamer(c.outgoing(ctx), desc, cc, method, callOpts...)
		}
		en, err := c.clientEntry(e, ctx, res, nil)
		if err != nil {
			return nil, c.blocked(ctx, method, res, err)
		}
		cs, serr := streamer(c.outgoing(ctx), desc, cc, method, callOpts...)
		if serr != nil {
			c.exit(en, serr)
			return nil, serr
		}
		ws := &clientStream{ClientStream: cs, c: &c, en: en}
		ws.stop = context.AfterFunc(cs.Context(), func() { ws.end(cs.Context().Err()) })
		return ws, nil
	}
}

// clientStream ends its entry once, when the stream ends.
type clientStream struct {
	grpc.ClientStream
	c    *config
	en   *engine.Entry
	stop func() bool
	done atomic.Bool
}

func (s *clientStream) end(err error) {
	if s.done.Swap(true) {
		return
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	s.c.exit(s.en, err)
}

func (s *clientStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		s.end(err)
		s.stop() // set before the stream was handed out
	}
	return err
}

// Canceled reports whether err is the caller giving up (context.Canceled
// or codes.Canceled): not a failure of the callee, so not recorded for
// circuit breakers by default. A deadline that passed is recorded: the
// callee was too slow.
func Canceled(err error) bool {
	return errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled
}

func orDefault(e *engine.Engine) *engine.Engine {
	if e == nil {
		return engine.Default()
	}
	return e
}
