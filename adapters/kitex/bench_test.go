package kitexadapter_test

import (
	"context"
	"testing"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/endpoint"
	"github.com/cloudwego/kitex/pkg/rpcinfo"

	kitexadapter "github.com/rulesync/rulesync/adapters/kitex"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/flow"
)

// BenchmarkCall is one JSON generic call of greeter:Hello over loopback
// (TTHeader, Thrift): bare; with middleware that does nothing on both sides
// (what Kitex spends on a middleware); with ServerMiddleware; with both
// sides' middleware. One QPS rule that never blocks is loaded.
func BenchmarkCall(b *testing.B) {
	noop := endpoint.Middleware(func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req, resp any) error { return next(ctx, req, resp) }
	})
	for _, c := range []struct {
		name           string
		server, client bool
		noop           bool
	}{
		{"bare", false, false, false},
		{"noop-middleware", false, false, true},
		{"server", true, false, false},
		{"server+client", true, true, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := newRigWith(b, c.server, c.noop)
			mustLoad(b, r.srvEngine.Flow().Load([]flow.Rule{qps("greeter:Hello", 1e12)}))
			var extra []client.Option
			switch {
			case c.client:
				ce := engine.New()
				defer ce.Close()
				ce.Flow().Load([]flow.Rule{qps("greeter:Hello", 1e12)})
				extra = append(extra, client.WithMiddleware(kitexadapter.ClientMiddleware(ce)))
			case c.noop:
				extra = append(extra, client.WithMiddleware(noop))
			}
			cli := r.client(b, "billing", extra...)
			if err := hello(cli, "Hello"); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := hello(cli, "Hello"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMiddlewareOnly is the middleware alone around an endpoint that
// does nothing, in process: the overhead per call without the network's
// noise. The caller is "billing", one QPS rule that never blocks is loaded.
func BenchmarkMiddlewareOnly(b *testing.B) {
	e := engine.New()
	defer e.Close()
	e.Flow().Load([]flow.Rule{qps("greeter:Hello", 1e12)})
	ctx := benchRPCContext()
	next := endpoint.Endpoint(func(context.Context, any, any) error { return nil })
	for _, c := range []struct {
		name string
		ep   endpoint.Endpoint
	}{
		{"bare", next},
		{"server", kitexadapter.ServerMiddleware(e)(next)},
		{"client", kitexadapter.ClientMiddleware(e)(next)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.ep(ctx, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchRPCContext is the context of a call from billing to greeter.Hello,
// as Kitex builds it.
func benchRPCContext() context.Context {
	ri := rpcinfo.NewRPCInfo(
		rpcinfo.NewEndpointInfo("billing", "", nil, nil),
		rpcinfo.NewEndpointInfo("greeter", "Hello", nil, nil),
		rpcinfo.NewInvocation("greeter", "Hello"), rpcinfo.NewRPCConfig(), rpcinfo.NewRPCStats())
	return rpcinfo.NewCtxWithRPCInfo(context.Background(), ri)
}
