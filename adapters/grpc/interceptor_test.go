package grpcadapter_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	grpcadapter "github.com/rulesync/rulesync/adapters/grpc"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/authority"
	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/degrade"
	"github.com/rulesync/rulesync/engine/flow"
)

const (
	checkMethod = "/grpc.health.v1.Health/Check"
	watchMethod = "/grpc.health.v1.Health/Watch"
)

// healthServer answers Check (failing for the service "flaky") and streams
// two answers on Watch; it counts the calls that reached it and remembers
// the last origin metadata it saw.
type healthServer struct {
	healthpb.UnimplementedHealthServer
	calls  atomic.Int64
	origin atomic.Value
}

func (h *healthServer) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	h.calls.Add(1)
	if v := metadata.ValueFromIncomingContext(ctx, grpcadapter.DefaultOriginKey); len(v) > 0 {
		h.origin.Store(v[0])
	}
	if req.GetService() == "flaky" {
		return nil, status.Error(codes.Internal, "flaky backend")
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (h *healthServer) Watch(_ *healthpb.HealthCheckRequest, ss grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	h.calls.Add(1)
	for range 2 {
		if err := ss.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}); err != nil {
			return err
		}
	}
	return nil
}

// rig is a real gRPC server on a loopback port behind the server
// interceptors of one engine, and a client behind the client interceptors
// of another.
type rig struct {
	srvEngine, cliEngine *engine.Engine
	health               *healthServer
	client               healthpb.HealthClient
}

func newRig(t testing.TB, srvOpts, cliOpts []grpcadapter.Option) *rig {
	t.Helper()
	r := &rig{srvEngine: engine.New(), cliEngine: engine.New(), health: &healthServer{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.UnaryInterceptor(grpcadapter.UnaryServerInterceptor(r.srvEngine, srvOpts...)),
		grpc.StreamInterceptor(grpcadapter.StreamServerInterceptor(r.srvEngine, srvOpts...)),
	)
	healthpb.RegisterHealthServer(srv, r.health)
	go srv.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(grpcadapter.UnaryClientInterceptor(r.cliEngine, cliOpts...)),
		grpc.WithStreamInterceptor(grpcadapter.StreamClientInterceptor(r.cliEngine, cliOpts...)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		r.srvEngine.Close()
		r.cliEngine.Close()
	})
	r.client = healthpb.NewHealthClient(conn)
	return r
}

func (r *rig) check(t testing.TB, service string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := r.client.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
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

// TestUnaryServerBlocksNthCall: the third call of a rule with count 2 on
// /grpc.health.v1.Health/Check fails with ResourceExhausted, and the
// handler never runs for it.
func TestUnaryServerBlocksNthCall(t *testing.T) {
	r := newRig(t, nil, nil)
	mustLoad(t, r.srvEngine.Flow().Load([]flow.Rule{qps(checkMethod, 2)}))
	for i := range 2 {
		if err := r.check(t, ""); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	err := r.check(t, "")
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "blocked by flow rule") {
		t.Fatalf("third call: %v", err)
	}
	if n := r.health.calls.Load(); n != 2 {
		t.Fatalf("the handler ran %d times, want 2", n)
	}
}

// TestBlockFallback: the fallback's error reaches the client.
func TestBlockFallback(t *testing.T) {
	var seen atomic.Value
	r := newRig(t, []grpcadapter.Option{grpcadapter.WithBlockFallback(func(_ context.Context, method string, be *engine.BlockError) error {
		seen.Store(method + " " + string(be.Family))
		return status.Error(codes.Unavailable, "busy, try the other region")
	})}, nil)
	mustLoad(t, r.srvEngine.Flow().Load([]flow.Rule{qps(checkMethod, 0)}))
	err := r.check(t, "")
	if status.Code(err) != codes.Unavailable || status.Convert(err).Message() != "busy, try the other region" {
		t.Fatalf("err = %v", err)
	}
	if seen.Load() != checkMethod+" flow" {
		t.Fatalf("fallback saw %v", seen.Load())
	}
}

// TestRetryInfo: a rate limiter whose queue is full says how long to wait.
func TestRetryInfo(t *testing.T) {
	r := newRig(t, nil, nil)
	paced := qps(checkMethod, 0.5)
	paced.ControlBehavior = base.BehaviorRateLimiter
	mustLoad(t, r.srvEngine.Flow().Load([]flow.Rule{paced}))
	if err := r.check(t, ""); err != nil {
		t.Fatal(err)
	}
	err := r.check(t, "")
	var delay time.Duration
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.GetRetryDelay().AsDuration()
		}
	}
	if status.Code(err) != codes.ResourceExhausted || delay < time.Second || delay > 2*time.Second {
		t.Fatalf("err %v, retry delay %v; want ResourceExhausted with about 2s", err, delay)
	}
}

// TestServerErrorsOpenBreaker: errors the handler returns open an
// error-count breaker on the server.
func TestServerErrorsOpenBreaker(t *testing.T) {
	r := newRig(t, nil, nil)
	mustLoad(t, r.srvEngine.Degrade().Load([]degrade.Rule{{Resource: checkMethod, Grade: degrade.GradeExceptionCount, Count: 1,
		TimeWindow: 10, MinRequestAmount: 1, StatIntervalMs: 10000}}))
	for range 2 {
		if err := r.check(t, "flaky"); status.Code(err) != codes.Internal {
			t.Fatalf("flaky call: %v", err)
		}
	}
	err := r.check(t, "")
	var be *engine.BlockError
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "blocked by degrade rule") {
		t.Fatalf("after two errors: %v (%v)", err, errors.As(err, &be))
	}
}

// TestClientErrorsOpenBreaker: errors the server answers open a breaker on
// the client, which then stops sending.
func TestClientErrorsOpenBreaker(t *testing.T) {
	r := newRig(t, nil, nil)
	mustLoad(t, r.cliEngine.Degrade().Load([]degrade.Rule{{Resource: checkMethod, Grade: degrade.GradeExceptionCount, Count: 1,
		TimeWindow: 10, MinRequestAmount: 1, StatIntervalMs: 10000}}))
	r.check(t, "flaky")
	r.check(t, "flaky")
	if err := r.check(t, ""); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("open breaker: %v", err)
	}
	if n := r.health.calls.Load(); n != 2 {
		t.Fatalf("the server saw %d calls, want 2 (the third stayed on the client)", n)
	}
}

// TestOriginReachesAuthority: the client names itself, the server's
// authority rule sees it, on the default key and on a key of one's own.
func TestOriginReachesAuthority(t *testing.T) {
	for _, key := range []string{"", "x-caller"} {
		var srvOpts, cliOpts []grpcadapter.Option
		if key != "" {
			srvOpts = append(srvOpts, grpcadapter.WithOriginKey(key))
			cliOpts = append(cliOpts, grpcadapter.WithOriginKey(key))
		}
		bad := newRig(t, srvOpts, append(cliOpts, grpcadapter.WithOriginName("intruder")))
		good := newRig(t, srvOpts, append(cliOpts, grpcadapter.WithOriginName("billing")))
		rule := []authority.Rule{{Resource: checkMethod, LimitApp: "intruder", Strategy: authority.StrategyBlack}}
		mustLoad(t, bad.srvEngine.Authority().Load(rule))
		mustLoad(t, good.srvEngine.Authority().Load(rule))
		if err := good.check(t, ""); err != nil {
			t.Fatalf("key %q: billing: %v", key, err)
		}
		err := bad.check(t, "")
		if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "authority") {
			t.Fatalf("key %q: intruder: %v", key, err)
		}
		if key == "" && good.health.origin.Load() != "billing" {
			t.Fatalf("the server saw origin %v", good.health.origin.Load())
		}
	}
}

// TestClientBlocks: a client-side rule keeps the call from being sent.
func TestClientBlocks(t *testing.T) {
	r := newRig(t, nil, []grpcadapter.Option{grpcadapter.WithResourceExtract(func(_ context.Context, m string) string {
		return "client:" + m
	})})
	mustLoad(t, r.cliEngine.Flow().Load([]flow.Rule{qps("client:"+checkMethod, 1)}))
	if err := r.check(t, ""); err != nil {
		t.Fatal(err)
	}
	if err := r.check(t, ""); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second call: %v", err)
	}
	if n := r.health.calls.Load(); n != 1 {
		t.Fatalf("the server saw %d calls, want 1", n)
	}
}

func watch(t *testing.T, c healthpb.HealthClient) (grpc.ServerStreamingClient[healthpb.HealthCheckResponse], error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c.Watch(ctx, &healthpb.HealthCheckRequest{})
}

func drain(s grpc.ServerStreamingClient[healthpb.HealthCheckResponse]) (int, error) {
	n := 0
	for {
		if _, err := s.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		n++
	}
}

// TestStreams: the server interceptor checks a stream when it opens; the
// client's entry lasts until the stream ends, so a concurrency rule of 1
// refuses a second stream while the first is open and admits one after.
func TestStreams(t *testing.T) {
	r := newRig(t, nil, nil)
	mustLoad(t, r.srvEngine.Flow().Load([]flow.Rule{qps(watchMethod, 2)}))
	conc := flow.DefaultRule()
	conc.Resource, conc.Grade, conc.Count = watchMethod, flow.GradeThread, 1
	mustLoad(t, r.cliEngine.Flow().Load([]flow.Rule{conc}))

	first, err := watch(t, r.client)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch(t, r.client); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a second stream while the first is open: %v", err)
	}
	if n, err := drain(first); n != 2 || err != nil {
		t.Fatalf("first stream: %d messages, %v", n, err)
	}
	second, err := watch(t, r.client)
	if err != nil {
		t.Fatalf("a stream after the first ended: %v", err)
	}
	if n, err := drain(second); n != 2 || err != nil {
		t.Fatalf("second stream: %d, %v", n, err)
	}
	// The server's QPS rule (2) refuses the third stream on its first Recv.
	third, err := watch(t, r.client)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drain(third); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third stream: %v", err)
	}

	// A stream abandoned by cancelling its context ends its entry too.
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := r.client.Watch(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := watch(t, r.client)
		if err == nil {
			drain(s)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cancelled stream kept its entry: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCanceled(t *testing.T) {
	if !grpcadapter.Canceled(context.Canceled) || !grpcadapter.Canceled(status.Error(codes.Canceled, "x")) ||
		grpcadapter.Canceled(status.Error(codes.DeadlineExceeded, "x")) || grpcadapter.Canceled(nil) {
		t.Fatal("Canceled")
	}
}
