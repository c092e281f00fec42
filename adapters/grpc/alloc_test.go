//go:build !race

package grpcadapter_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	grpcadapter "github.com/rulesync/rulesync/adapters/grpc"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/flow"
)

// TestInterceptorsAddNoAllocation: a passed call through the interceptors
// allocates nothing of their own; reading the origin from incoming metadata
// costs the one copy gRPC's metadata API makes (the race detector
// allocates, hence the build tag).
func TestInterceptorsAddNoAllocation(t *testing.T) {
	e := engine.New()
	defer e.Close()
	e.Flow().Load([]flow.Rule{qps(checkMethod, 1e12)})
	srv := grpcadapter.UnaryServerInterceptor(e)
	cli := grpcadapter.UnaryClientInterceptor(e)
	info := &grpc.UnaryServerInfo{FullMethod: checkMethod}
	handler := func(context.Context, any) (any, error) { return nil, nil }
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	bare := context.Background()
	withOrigin := metadata.NewIncomingContext(bare, metadata.Pairs(grpcadapter.DefaultOriginKey, "billing"))
	for _, tc := range []struct {
		name string
		want float64
		call func()
	}{
		{"server", 0, func() { srv(bare, nil, info, handler) }},
		{"server with origin metadata", 1, func() { srv(withOrigin, nil, info, handler) }},
		{"client", 0, func() { cli(bare, checkMethod, nil, nil, nil, invoker) }},
	} {
		tc.call()
		if got := testing.AllocsPerRun(1000, tc.call); got != tc.want {
			t.Errorf("%s: %v allocations per call, want %v", tc.name, got, tc.want)
		}
	}
}
