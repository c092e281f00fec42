package tokenclient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/cluster"
	"github.com/rulesync/rulesync/engine/cluster/tokenclient"
	"github.com/rulesync/rulesync/engine/cluster/tokenserver"
	"github.com/rulesync/rulesync/engine/cluster/wire"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/param"
	"github.com/rulesync/rulesync/property"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func clusterFlow(id int64, count float64, threshold int) flow.Rule {
	r := flow.DefaultRule()
	r.Resource = fmt.Sprintf("res-%d", id)
	r.Count = count
	r.ClusterMode = true
	r.ClusterConfig = flow.DefaultClusterConfig()
	r.ClusterConfig.FlowID = id
	r.ClusterConfig.ThresholdType = threshold
	return r
}

// server is a token server on a loopback port for one test, serving
// namespace "app".
type server struct {
	*tokenserver.Server
	addr string
}

func startServer(t *testing.T, addr string, rules ...flow.Rule) *server {
	t.Helper()
	port := 0
	if addr != "" {
		_, p, _ := net.SplitHostPort(addr)
		fmt.Sscan(p, &port)
	}
	s, err := tokenserver.New(tokenserver.WithLogger(discard), tokenserver.WithListenHost("127.0.0.1"),
		tokenserver.WithNamespaces(property.New(property.WithInitial([]string{"app"}))),
		tokenserver.WithTransportConfig(property.New(property.WithInitial(cluster.TransportConfig{Port: port, IdleSeconds: 600}))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	nr, _ := s.Rules("app")
	nr.Flow.Update(rules)
	// A port just freed by a closed server can take a moment to bind again.
	deadline := time.Now().Add(10 * time.Second)
	for err = s.Start(context.Background()); err != nil && time.Now().Before(deadline); err = s.Start(context.Background()) {
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &server{s, s.Addr().String()}
}

func newClient(t *testing.T, opts ...tokenclient.Option) *tokenclient.Client {
	t.Helper()
	c, err := tokenclient.New(append([]tokenclient.Option{tokenclient.WithLogger(discard), tokenclient.WithNamespace("app"),
		tokenclient.WithBackoff(20*time.Millisecond, 200*time.Millisecond), tokenclient.WithConnectTimeout(5 * time.Second),
		tokenclient.WithRequestTimeout(time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitConnected(t *testing.T, c *tokenclient.Client, addr string) {
	t.Helper()
	waitFor(t, "the client to connect to "+addr, func() bool {
		st := c.State()
		return st.ClientState == tokenclient.StateStarted && net.JoinHostPort(st.ServerHost, fmt.Sprint(st.ServerPort)) == addr
	})
}

func TestRoundTrip(t *testing.T) {
	s := startServer(t, "", clusterFlow(1, 3, flow.ThresholdGlobal))
	c := newClient(t, tokenclient.WithServers(s.addr))
	waitConnected(t, c, s.addr)
	ctx := context.Background()
	for i := range 3 {
		r, err := c.RequestToken(ctx, 1, 1, false)
		if err != nil || r.Status != base.TokenOK || r.Remaining != int64(2-i) {
			t.Fatalf("request %d: %+v, %v", i, r, err)
		}
	}
	if r, err := c.RequestToken(ctx, 1, 1, false); err != nil || r.Status != base.TokenBlocked {
		t.Fatalf("4th: %+v, %v", r, err)
	}
	if r, err := c.RequestToken(ctx, 2, 1, false); err != nil || r.Status != base.TokenNoRuleExists {
		t.Fatalf("unknown rule: %+v, %v", r, err)
	}
	if r, err := c.RequestToken(ctx, 0, 1, false); err != nil || r.Status != base.TokenBadRequest {
		t.Fatalf("bad flow id: %+v, %v", r, err)
	}
	st := c.State()
	if st.ConnectedCount != 1 || st.Namespace != "app" || st.RequestTimeout != 1000 || s.ConnectedCount("app") != 1 {
		t.Fatalf("state %+v, server count %d", st, s.ConnectedCount("app"))
	}
}

func TestParamRoundTrip(t *testing.T) {
	s := startServer(t, "")
	pr := param.DefaultRule()
	pr.Resource, pr.Count, pr.ClusterMode = "p", 1, true
	pr.ClusterConfig = param.DefaultClusterConfig()
	pr.ClusterConfig.FlowID, pr.ClusterConfig.ThresholdType = 5, flow.ThresholdGlobal
	nr, _ := s.Rules("app")
	nr.Param.Update([]param.Rule{pr})
	c := newClient(t, tokenclient.WithServers(s.addr))
	waitConnected(t, c, s.addr)
	ctx := context.Background()
	status := func(params ...any) base.TokenStatus {
		r, err := c.RequestParamToken(ctx, 5, 1, params)
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	// Go int travels as a Long, int32 as an Integer: two values.
	if status(7) != base.TokenOK || status(int32(7)) != base.TokenOK || status(int64(7)) != base.TokenBlocked {
		t.Fatal("typed values are not kept apart on the wire")
	}
	// Values the protocol cannot carry are left out; with none left, nothing is sent.
	if status(struct{}{}, "u") != base.TokenOK || status("u") != base.TokenBlocked {
		t.Fatal("an unsupported value was not left out")
	}
	if _, err := c.RequestParamToken(ctx, 5, 1, []any{struct{}{}}); !errors.Is(err, wire.ErrUnsupportedParam) {
		t.Fatalf("only unsupported values: %v", err)
	}
	// Values longer than one frame are refused before sending.
	if _, err := c.RequestParamToken(ctx, 5, 1, []any{strings.Repeat("x", 2000)}); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("oversized params: %v", err)
	}
}

func TestAvgLocalCountsConnectedClients(t *testing.T) {
	s := startServer(t, "", clusterFlow(1, 2, flow.ThresholdAvgLocal))
	a := newClient(t, tokenclient.WithServers(s.addr))
	b := newClient(t, tokenclient.WithServers(s.addr))
	waitConnected(t, a, s.addr)
	waitConnected(t, b, s.addr)
	passed := 0
	for range 10 {
		if r, err := a.RequestToken(context.Background(), 1, 1, false); err == nil && r.Status == base.TokenOK {
			passed++
		}
	}
	if passed != 4 {
		t.Fatalf("2 clients x count 2: %d passed, want 4", passed)
	}
}

func TestNotConnectedAndClosed(t *testing.T) {
	// Nothing listens on this port.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c := newClient(t, tokenclient.WithServers(addr))
	if _, err := c.RequestToken(context.Background(), 1, 1, false); !errors.Is(err, tokenclient.ErrNotConnected) {
		t.Fatalf("no server: %v", err)
	}
	if st := c.State(); st.ClientState == tokenclient.StateStarted || st.ServerHost != "127.0.0.1" {
		t.Fatalf("state %+v", st)
	}
	c.Close()
	if _, err := c.RequestToken(context.Background(), 1, 1, false); !errors.Is(err, tokenclient.ErrNotConnected) {
		t.Fatalf("closed: %v", err)
	}
	if _, err := tokenclient.New(tokenclient.WithServers("nohost")); !errors.Is(err, tokenclient.ErrInvalidConfig) {
		t.Fatalf("bad server address: %v", err)
	}
}

// silentServer accepts connections and never answers; it reads what comes.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); io.Copy(io.Discard, nc) }()
		}
	}()
	return ln.Addr().String()
}

// A server that stops answering (accepting bytes, replying nothing) costs
// each call its timeout and no more; the client gives the connection up once
// a PING goes unanswered.
func TestSilentServerCostsTheTimeout(t *testing.T) {
	addr := silentServer(t)
	// The first PING is answered by no one: the client never gets Started.
	c := newClient(t, tokenclient.WithServers(addr), tokenclient.WithConnectTimeout(200*time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	if st := c.State(); st.ClientState == tokenclient.StateStarted {
		t.Fatal("connected to a server that never answered a PING")
	}

	// A real server that then goes silent: a proxy that stops forwarding.
	s := startServer(t, "", clusterFlow(1, 1e9, flow.ThresholdGlobal))
	p := newProxy(t, s.addr)
	const timeout = 20 * time.Millisecond
	c2 := newClient(t, tokenclient.WithServers(p.addr), tokenclient.WithRequestTimeout(timeout),
		tokenclient.WithPing(100*time.Millisecond, 300*time.Millisecond))
	waitConnected(t, c2, p.addr)
	if r, err := c2.RequestToken(context.Background(), 1, 1, false); err != nil || r.Status != base.TokenOK {
		t.Fatalf("through the proxy: %+v, %v", r, err)
	}
	p.freeze()
	// The margin covers scheduling on a loaded machine (the race detector
	// slows everything); a client waiting for the server would take seconds.
	const margin = 200 * time.Millisecond
	late, timeouts := 0, 0
	for range 50 {
		t0 := time.Now()
		_, err := c2.RequestToken(context.Background(), 1, 1, false)
		if time.Since(t0) > timeout+margin {
			late++
		}
		if errors.Is(err, tokenclient.ErrTimeout) {
			timeouts++
		}
	}
	if late != 0 || timeouts == 0 {
		t.Fatalf("%d of 50 calls took longer than %v + %v; %d timed out", late, timeout, margin, timeouts)
	}
	// The unanswered PING gives the connection up.
	waitFor(t, "the client to give the frozen connection up", func() bool { return c2.State().ClientState != tokenclient.StateStarted })
	// A context that ends first ends the wait first.
	p.thaw()
	waitConnected(t, c2, p.addr)
	p.freeze()
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if _, err := c2.RequestToken(ctx, 1, 1, false); !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, tokenclient.ErrTimeout) {
		t.Fatalf("short context: %v", err)
	}
}

func TestFailoverAndBackToPrimary(t *testing.T) {
	a := startServer(t, "", clusterFlow(1, 1e9, flow.ThresholdGlobal))
	b := startServer(t, "", clusterFlow(1, 1e9, flow.ThresholdGlobal))
	c := newClient(t, tokenclient.WithServers(a.addr, b.addr), tokenclient.WithPrimaryRecheck(100*time.Millisecond))
	waitConnected(t, c, a.addr)
	addrA := a.addr
	a.Close()
	waitConnected(t, c, b.addr)
	if r, err := c.RequestToken(context.Background(), 1, 1, false); err != nil || r.Status != base.TokenOK {
		t.Fatalf("after failover: %+v, %v", r, err)
	}
	// The preferred server comes back on its port: the client returns to it.
	a2 := startServer(t, addrA, clusterFlow(1, 1e9, flow.ThresholdGlobal))
	waitConnected(t, c, addrA)
	waitFor(t, "the client to leave the second server", func() bool { return b.ConnectedCount("app") == 0 })
	if a2.ConnectedCount("app") != 1 {
		t.Fatalf("primary counts %d clients", a2.ConnectedCount("app"))
	}
}

func TestConfigPropertyReconnects(t *testing.T) {
	a := startServer(t, "", clusterFlow(1, 1e9, flow.ThresholdGlobal))
	b := startServer(t, "", clusterFlow(1, 1e9, flow.ThresholdGlobal))
	cfg := property.New(property.WithInitial(tokenclient.Config{Servers: []string{a.addr}}))
	c := newClient(t, tokenclient.WithConfig(cfg))
	waitConnected(t, c, a.addr)
	cfg.Update(tokenclient.Config{Servers: []string{b.addr}, RequestTimeout: 50 * time.Millisecond})
	waitConnected(t, c, b.addr)
	waitFor(t, "a to lose its client", func() bool { return a.ConnectedCount("app") == 0 })
	if st := c.State(); st.RequestTimeout != 50 {
		t.Fatalf("state %+v", st)
	}
	cfg.Update(tokenclient.Config{Servers: []string{"bad address"}}) // refused: stays on b
	time.Sleep(50 * time.Millisecond)
	if st := c.State(); st.ClientState != tokenclient.StateStarted || st.ServerPort == 0 {
		t.Fatalf("after an invalid config: %+v", st)
	}
}

// The client's PINGs keep a connection alive past the server's idleSeconds.
func TestPingKeepsConnectionAlive(t *testing.T) {
	tp := property.New(property.WithInitial(cluster.TransportConfig{Port: 0, IdleSeconds: 1}))
	s, _ := tokenserver.New(tokenserver.WithLogger(discard), tokenserver.WithListenHost("127.0.0.1"), tokenserver.WithTransportConfig(tp))
	defer s.Close()
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	c := newClient(t, tokenclient.WithServers(addr), tokenclient.WithNamespace("default"), tokenclient.WithPing(200*time.Millisecond, time.Second))
	waitConnected(t, c, addr)
	first := s.Info().Connection[0].ConnectionSet
	time.Sleep(2500 * time.Millisecond)
	now := s.Info().Connection[0].ConnectionSet
	if len(first) != 1 || len(now) != 1 || first[0] != now[0] {
		t.Fatalf("connections %v then %v: the connection was not kept", first, now)
	}
}

func TestCloseLeaksNoGoroutine(t *testing.T) {
	s := startServer(t, "", clusterFlow(1, 1e9, flow.ThresholdGlobal))
	before := runtime.NumGoroutine()
	for range 5 {
		c, err := tokenclient.New(tokenclient.WithLogger(discard), tokenclient.WithServers(s.addr), tokenclient.WithNamespace("app"))
		if err != nil {
			t.Fatal(err)
		}
		waitConnected(t, c, s.addr)
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// proxy forwards TCP to a target until frozen: then it keeps the
// connections open and forwards nothing, as a partition does.
type proxy struct {
	addr   string
	mu     sync.Mutex
	frozen bool
	cond   *sync.Cond
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: ln.Addr().String()}
	p.cond = sync.NewCond(&p.mu)
	var wg sync.WaitGroup
	var cmu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		p.thaw()
		cmu.Lock()
		for _, c := range conns {
			c.Close()
		}
		cmu.Unlock()
		wg.Wait()
	})
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		buf := make([]byte, 4096)
		for {
			n, err := src.Read(buf)
			if err != nil {
				dst.Close()
				return
			}
			p.mu.Lock()
			for p.frozen {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, err := dst.Write(buf[:n]); err != nil {
				src.Close()
				return
			}
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			cmu.Lock()
			conns = append(conns, in, out)
			cmu.Unlock()
			wg.Add(2)
			go pipe(out, in)
			go pipe(in, out)
		}
	}()
	return p
}

func (p *proxy) freeze() { p.mu.Lock(); p.frozen = true; p.mu.Unlock() }
func (p *proxy) thaw()   { p.mu.Lock(); p.frozen = false; p.cond.Broadcast(); p.mu.Unlock() }
