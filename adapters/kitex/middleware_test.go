package kitexadapter_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/client/genericclient"
	"github.com/cloudwego/kitex/pkg/endpoint"
	"github.com/cloudwego/kitex/pkg/generic"
	"github.com/cloudwego/kitex/pkg/kerrors"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/transmeta"
	"github.com/cloudwego/kitex/server"
	"github.com/cloudwego/kitex/server/genericserver"
	"github.com/cloudwego/kitex/transport"

	kitexadapter "github.com/rulesync/rulesync/adapters/kitex"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/authority"
	"github.com/rulesync/rulesync/engine/degrade"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/system"
)

// greeterIDL is the service the tests run: a real Kitex server and client
// speaking Thrift over TTHeader, with JSON generic calls on both sides, so
// that no generated code is needed.
const greeterIDL = `
namespace go greeter

struct HelloRequest { 1: string name }
struct HelloReply { 1: string message }

service Greeter {
    HelloReply Hello(1: HelloRequest req)
    HelloReply Fail(1: HelloRequest req)
}
`

func init() { klog.SetLevel(klog.LevelFatal) }

// greeter answers Hello and fails Fail, counting the calls it handles.
type greeter struct{ calls atomic.Int64 }

func (g *greeter) GenericCall(_ context.Context, method string, request any) (any, error) {
	g.calls.Add(1)
	if method == "Fail" {
		return nil, errors.New("backend down")
	}
	return `{"message":"hello"}`, nil
}

func jsonGeneric(t testing.TB) generic.Generic {
	t.Helper()
	p, err := generic.NewThriftContentProvider(greeterIDL, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := generic.JSONThriftGeneric(p)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// rig is a Kitex server on a loopback port behind ServerMiddleware of one
// engine (nil: no middleware), and the clients the tests make.
type rig struct {
	srvEngine *engine.Engine
	handler   *greeter
	addr      string
}

func newRig(t testing.TB, withMiddleware bool, opts ...kitexadapter.Option) *rig {
	t.Helper()
	return newRigWith(t, withMiddleware, false, opts...)
}

// newRigWith is newRig, with a middleware that does nothing when noop (for
// benchmarks: what Kitex spends on a middleware of any kind).
func newRigWith(t testing.TB, withMiddleware, noop bool, opts ...kitexadapter.Option) *rig {
	t.Helper()
	r := &rig{srvEngine: engine.New(), handler: &greeter{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	sopts := []server.Option{
		server.WithListener(ln),
		server.WithServerBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: "greeter"}),
		server.WithMetaHandler(transmeta.ServerTTHeaderHandler),
		server.WithExitWaitTime(10 * time.Millisecond),
	}
	if withMiddleware {
		sopts = append(sopts, server.WithMiddleware(kitexadapter.ServerMiddleware(r.srvEngine, opts...)))
	}
	if noop {
		sopts = append(sopts, server.WithMiddleware(func(next endpoint.Endpoint) endpoint.Endpoint {
			return func(ctx context.Context, req, resp any) error { return next(ctx, req, resp) }
		}))
	}
	svr := genericserver.NewServer(r.handler, jsonGeneric(t), sopts...)
	done := make(chan error, 1)
	go func() { done <- svr.Run() }()
	t.Cleanup(func() {
		svr.Stop()
		<-done
		r.srvEngine.Close()
	})
	waitListening(t, r.addr)
	return r
}

func waitListening(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Kitex server does not listen on %s: %v", addr, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// client returns a generic client calling the rig as service caller,
// behind extra client options (its middleware).
func (r *rig) client(t testing.TB, caller string, extra ...client.Option) genericclient.Client {
	t.Helper()
	opts := append([]client.Option{
		client.WithHostPorts(r.addr),
		client.WithClientBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: caller}),
		client.WithTransportProtocol(transport.TTHeader),
		client.WithMetaHandler(transmeta.ClientTTHeaderHandler),
		client.WithRPCTimeout(10 * time.Second),
	}, extra...)
	c, err := genericclient.NewClient("greeter", jsonGeneric(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func hello(c genericclient.Client, method string) error {
	_, err := c.GenericCall(context.Background(), method, `{"name":"ann"}`)
	return err
}

func qps(res string, count float64) flow.Rule {
	r := flow.DefaultRule()
	r.Resource, r.Count = res, count
	return r
}

func mustLoad(t testing.TB, rep engine.LoadReport) {
	t.Helper()
	if len(rep.Rejected) > 0 {
		t.Fatalf("rules rejected: %v", rep.Rejected)
	}
}

// TestServerBlocksNthCall: the third call on greeter:Hello, with a rule of
// count 2, reaches the client as the block's error; the handler never runs
// for it.
func TestServerBlocksNthCall(t *testing.T) {
	r := newRig(t, true)
	mustLoad(t, r.srvEngine.Flow().Load([]flow.Rule{qps("greeter:Hello", 2)}))
	c := r.client(t, "billing")
	for i := range 2 {
		if err := hello(c, "Hello"); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	err := hello(c, "Hello")
	if err == nil || !strings.Contains(err.Error(), "greeter:Hello: blocked by flow rule") {
		t.Fatalf("third call: %v", err)
	}
	if n := r.handler.calls.Load(); n != 2 {
		t.Fatalf("the handler ran %d times, want 2", n)
	}
}

// TestBlockFallback: a fallback's business status error reaches the client
// with its code and message.
func TestBlockFallback(t *testing.T) {
	var family atomic.Value
	r := newRig(t, true, kitexadapter.WithBlockFallback(func(_ context.Context, _, _ any, blockErr error) error {
		var be *engine.BlockError
		if errors.As(blockErr, &be) {
			family.Store(string(be.Family))
		}
		return kerrors.NewBizStatusError(429, "greeter is busy")
	}))
	mustLoad(t, r.srvEngine.Flow().Load([]flow.Rule{qps("greeter:Hello", 0)}))
	err := hello(r.client(t, "billing"), "Hello")
	bizErr, ok := kerrors.FromBizStatusError(err)
	if !ok || bizErr.BizStatusCode() != 429 || bizErr.BizMessage() != "greeter is busy" {
		t.Fatalf("err = %v, want the fallback's business status 429", err)
	}
	if family.Load() != "flow" {
		t.Fatalf("the fallback saw %v", family.Load())
	}

	plain := newRig(t, true, kitexadapter.WithBlockFallback(func(context.Context, any, any, error) error {
		return errors.New("greeter sheds load, retry in a second")
	}))
	mustLoad(t, plain.srvEngine.Flow().Load([]flow.Rule{qps("greeter:Hello", 0)}))
	if err := hello(plain.client(t, "billing"), "Hello"); err == nil || !strings.Contains(err.Error(), "greeter sheds load, retry in a second") {
		t.Fatalf("plain fallback error: %v", err)
	}
}

// TestServerErrorsOpenBreaker: errors of the handler open an error-count
// breaker on the server.
func TestServerErrorsOpenBreaker(t *testing.T) {
	r := newRig(t, true)
	mustLoad(t, r.srvEngine.Degrade().Load([]degrade.Rule{{Resource: "greeter:Fail", Grade: degrade.GradeExceptionCount, Count: 1,
		TimeWindow: 10, MinRequestAmount: 1, StatIntervalMs: 10000}}))
	c := r.client(t, "billing")
	for range 2 {
		if err := hello(c, "Fail"); err == nil || !strings.Contains(err.Error(), "backend down") {
			t.Fatalf("failing call: %v", err)
		}
	}
	if err := hello(c, "Fail"); err == nil || !strings.Contains(err.Error(), "blocked by degrade rule") {
		t.Fatalf("after two errors: %v", err)
	}
	if n := r.handler.calls.Load(); n != 2 {
		t.Fatalf("the handler ran %d times, want 2", n)
	}
}

// TestCallerReachesAuthority: the caller's service name is the origin of a
// server call: an authority white list admits billing only.
func TestCallerReachesAuthority(t *testing.T) {
	r := newRig(t, true)
	mustLoad(t, r.srvEngine.Authority().Load([]authority.Rule{{Resource: "greeter:Hello", LimitApp: "billing", Strategy: authority.StrategyWhite}}))
	if err := hello(r.client(t, "billing"), "Hello"); err != nil {
		t.Fatalf("billing: %v", err)
	}
	if err := hello(r.client(t, "intruder"), "Hello"); err == nil || !strings.Contains(err.Error(), "blocked by authority rule") {
		t.Fatalf("intruder: %v", err)
	}
}

// TestServerCallsAreInbound: a system rule, which limits inbound traffic
// only, limits server calls; the same rule on a client's engine does not
// limit its outgoing calls.
func TestServerCallsAreInbound(t *testing.T) {
	inbound := []system.Rule{{HighestSystemLoad: -1, HighestCPUUsage: -1, QPS: 1, AvgRT: -1, MaxThread: -1}}
	r := newRig(t, true)
	mustLoad(t, r.srvEngine.System().Load(inbound))
	ce := engine.New()
	defer ce.Close()
	mustLoad(t, ce.System().Load(inbound))
	c := r.client(t, "billing", client.WithMiddleware(kitexadapter.ClientMiddleware(ce)))
	if err := hello(c, "Hello"); err != nil {
		t.Fatal(err)
	}
	err := hello(c, "Hello")
	var local *engine.BlockError
	if err == nil || !strings.Contains(err.Error(), "blocked by system rule") || errors.As(err, &local) {
		t.Fatalf("second server call in the second: %v, want the server's system rule (not the client's) to block it", err)
	}
}

// TestClientMiddleware: the client's own rules keep calls from being sent,
// its resource can be renamed, and errors of the server open its breaker.
func TestClientMiddleware(t *testing.T) {
	r := newRig(t, false)
	ce := engine.New()
	defer ce.Close()
	mustLoad(t, ce.Flow().Load([]flow.Rule{qps("greeter:Hello", 1)}))
	mustLoad(t, ce.Degrade().Load([]degrade.Rule{{Resource: "greeter:Fail", Grade: degrade.GradeExceptionCount, Count: 0,
		TimeWindow: 10, MinRequestAmount: 1, StatIntervalMs: 10000}}))
	c := r.client(t, "billing", client.WithMiddleware(kitexadapter.ClientMiddleware(ce)))
	if err := hello(c, "Hello"); err != nil {
		t.Fatal(err)
	}
	err := hello(c, "Hello")
	var be *engine.BlockError
	if !errors.As(err, &be) || be.Family != engine.FamilyFlow {
		t.Fatalf("second call: %v, want the client's flow block", err)
	}
	if err := hello(c, "Fail"); err == nil || errors.As(err, &be) {
		t.Fatalf("failing call: %v", err)
	}
	if err := hello(c, "Fail"); !errors.As(err, &be) || be.Family != engine.FamilyDegrade {
		t.Fatalf("after an error: %v, want the client's breaker open", err)
	}
	if n := r.handler.calls.Load(); n != 2 {
		t.Fatalf("the server handled %d calls, want 2", n)
	}

	renamed := r.client(t, "billing", client.WithMiddleware(kitexadapter.ClientMiddleware(ce,
		kitexadapter.WithResourceExtract(func(context.Context, any, any) string { return "" }))))
	if err := hello(renamed, "Hello"); err != nil {
		t.Fatalf("an empty resource is not checked: %v", err)
	}
}
