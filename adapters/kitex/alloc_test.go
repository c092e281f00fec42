//go:build !race

package kitexadapter_test

import (
	"context"
	"testing"

	kitexadapter "github.com/rulesync/rulesync/adapters/kitex"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/flow"
)

// TestMiddlewareAddsNoAllocation: a passed call through either middleware
// allocates nothing of its own: the resource name Service:Method is built
// once, and the caller's name reaches the engine without a new context (the
// race detector allocates, hence the build tag).
func TestMiddlewareAddsNoAllocation(t *testing.T) {
	e := engine.New()
	defer e.Close()
	e.Flow().Load([]flow.Rule{qps("greeter:Hello", 1e12)})
	ctx := benchRPCContext()
	next := func(context.Context, any, any) error { return nil }
	srv := kitexadapter.ServerMiddleware(e)(next)
	cli := kitexadapter.ClientMiddleware(e)(next)
	for _, tc := range []struct {
		name string
		call func() error
	}{{"server", func() error { return srv(ctx, nil, nil) }}, {"client", func() error { return cli(ctx, nil, nil) }}} {
		if err := tc.call(); err != nil {
			t.Fatal(err)
		}
		if got := testing.AllocsPerRun(1000, func() { tc.call() }); got != 0 {
			t.Errorf("%s: %v allocations per call, want 0", tc.name, got)
		}
	}
}
