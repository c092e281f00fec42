package grpcadapter_test

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	grpcadapter "github.com/rulesync/rulesync/adapters/grpc"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/flow"
)

// BenchmarkUnary is one Check call over a loopback connection: with no
// interceptor; with interceptors that do nothing (what gRPC itself spends
// once any interceptor is installed: the generated handler allocates the
// call's info and a closure); with the server interceptor; with both sides';
// and with both and the client naming itself (origin metadata). One QPS
// rule that never blocks is loaded on each side.
func BenchmarkUnary(b *testing.B) {
	for _, c := range []struct {
		name           string
		server, client bool
		cliOpts        []grpcadapter.Option
		noop           bool
	}{
		{"bare", false, false, nil, false},
		{"noop-interceptors", false, false, nil, true},
		{"server", true, false, nil, false},
		{"server+client", true, true, nil, false},
		{"server+client+origin", true, true, []grpcadapter.Option{grpcadapter.WithOriginName("billing")}, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := engine.New()
			defer e.Close()
			e.Flow().Load([]flow.Rule{qps(checkMethod, 1e12)})
			var sopts []grpc.ServerOption
			if c.server {
				sopts = append(sopts, grpc.UnaryInterceptor(grpcadapter.UnaryServerInterceptor(e)))
			}
			if c.noop {
				sopts = append(sopts, grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
					return h(ctx, req)
				}))
			}
			srv := grpc.NewServer(sopts...)
			healthpb.RegisterHealthServer(srv, &healthServer{})
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go srv.Serve(lis)
			defer srv.Stop()
			dopts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
			if c.client {
				dopts = append(dopts, grpc.WithUnaryInterceptor(grpcadapter.UnaryClientInterceptor(e, c.cliOpts...)))
			}
			if c.noop {
				dopts = append(dopts, grpc.WithUnaryInterceptor(func(ctx context.Context, m string, req, reply any, cc *grpc.ClientConn, inv grpc.UnaryInvoker, o ...grpc.CallOption) error {
					return inv(ctx, m, req, reply, cc, o...)
				}))
			}
			conn, err := grpc.NewClient(lis.Addr().String(), dopts...)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			hc := healthpb.NewHealthClient(conn)
			ctx := context.Background()
			req := &healthpb.HealthCheckRequest{}
			if _, err := hc.Check(ctx, req); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := hc.Check(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInterceptorOnly is each interceptor alone around a handler (or
// invoker) that does nothing, in process: the overhead per call without the
// network's noise. One QPS rule that never blocks is loaded.
func BenchmarkInterceptorOnly(b *testing.B) {
	e := engine.New()
	defer e.Close()
	e.Flow().Load([]flow.Rule{qps(checkMethod, 1e12)})
	srv := grpcadapter.UnaryServerInterceptor(e)
	cli := grpcadapter.UnaryClientInterceptor(e)
	info := &grpc.UnaryServerInfo{FullMethod: checkMethod}
	handler := func(context.Context, any) (any, error) { return nil, nil }
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	ctx := context.Background()
	withOrigin := metadata.NewIncomingContext(ctx, metadata.Pairs(grpcadapter.DefaultOriginKey, "billing"))
	for _, c := range []struct {
		name string
		call func()
	}{
		{"bare-handler", func() { handler(ctx, nil) }},
		{"server", func() { srv(ctx, nil, info, handler) }},
		{"server+origin-metadata", func() { srv(withOrigin, nil, info, handler) }},
		{"client", func() { cli(ctx, checkMethod, nil, nil, nil, invoker) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.call()
			}
		})
	}
}
