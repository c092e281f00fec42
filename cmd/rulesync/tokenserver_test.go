//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/cluster/tokenclient"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/internal/syncbuf"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// buildCLI builds the command into a temporary directory, so that the tests
// below run it as a process of its own, as a service manager would.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rulesync")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serverProc is a token-server process.
type serverProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer
	addr   string
	done   chan struct{}
	err    error
}

var listening = regexp.MustCompile(`msg="rulesync token-server: listening" addr=(\S+)`)

// startServer runs `rulesync token-server args...` and waits for the line
// that logs its address.
func startServer(t *testing.T, bin string, args ...string) *serverProc {
	t.Helper()
	p := &serverProc{t: t, stderr: &syncbuf.Buffer{Limit: 1 << 20}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"token-server"}, args...)...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		if m := listening.FindStringSubmatch(p.stderr.String()); m != nil {
			p.addr = m[1]
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("token-server exited before listening (%v):\n%s", p.err, p.stderr)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("token-server did not log its address:\n%s", p.stderr)
		}
	}
}

// signal sends sig and waits for the exit code.
func (p *serverProc) signal(sig syscall.Signal) int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Fatalf("token-server still running 30 s after %v:\n%s", sig, p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

func newClient(t *testing.T, addr, ns string, timeout time.Duration) *tokenclient.Client {
	t.Helper()
	c, err := tokenclient.New(tokenclient.WithLogger(quiet), tokenclient.WithServers(addr), tokenclient.WithNamespace(ns),
		tokenclient.WithRequestTimeout(timeout), tokenclient.WithBackoff(20*time.Millisecond, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func connected(c *tokenclient.Client) func() bool {
	return func() bool { return c.State().ClientState == tokenclient.StateStarted }
}

// clusterRules are one GLOBAL cluster flow rule of count 2 and one param rule
// of count 1, each with a 10 s window: as in Sentinel, count c over 10 s lets
// 10c - 9 requests through (11 and 1) whatever the timing.
func clusterRules(flowCount float64) (flowJSON, paramJSON string) {
	flowJSON = fmt.Sprintf(`[{"resource":"r","count":%v,"grade":1,"clusterMode":true,`+
		`"clusterConfig":{"flowId":11,"thresholdType":1,"windowIntervalMs":10000,"sampleCount":10}}]`, flowCount)
	paramJSON = `[{"resource":"p","count":1,"grade":1,"paramIdx":0,"clusterMode":true,` +
		`"clusterConfig":{"flowId":12,"thresholdType":1,"windowIntervalMs":10000,"sampleCount":10}}]`
	return flowJSON, paramJSON
}

func countOK(t *testing.T, n int, req func() (base.TokenResult, error)) int {
	t.Helper()
	ok := 0
	for range n {
		r, err := req()
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == base.TokenOK {
			ok++
		}
	}
	return ok
}

// The token-server process serves the rules of its files, follows their
// edits, and stops cleanly on SIGTERM and on SIGINT.
func TestTokenServerProcess(t *testing.T) {
	bin := buildCLI(t)
	dir := t.TempDir()
	flowPath, paramPath := filepath.Join(dir, "flow.json"), filepath.Join(dir, "param.json")
	fj, pj := clusterRules(2)
	writeFile(t, flowPath, fj)
	writeFile(t, paramPath, pj)
	p := startServer(t, bin, "-addr", "127.0.0.1:0", "-namespace", "app", "-flow", flowPath, "-param", paramPath)
	c := newClient(t, p.addr, "app", time.Second)
	eventually(t, "the client to connect", connected(c))
	ctx := context.Background()
	if n := countOK(t, 15, func() (base.TokenResult, error) { return c.RequestToken(ctx, 11, 1, false) }); n != 11 {
		t.Fatalf("flow: %d of 15 passed, want 11", n)
	}
	param := func(v any) func() (base.TokenResult, error) {
		return func() (base.TokenResult, error) { return c.RequestParamToken(ctx, 12, 1, []any{v}) }
	}
	// Values count by Java type: Integer 5 and Long 5 are two values.
	for _, v := range []any{"u1", int32(5), int64(5)} {
		if n := countOK(t, 3, param(v)); n != 1 {
			t.Fatalf("param %T %v: %d of 3 passed, want 1", v, v, n)
		}
	}
	if r, err := c.RequestToken(ctx, 99, 1, false); err != nil || r.Status != base.TokenNoRuleExists {
		t.Fatalf("unknown flowId: %+v %v", r, err)
	}
	// An edit of the watched file reaches the running server.
	fj, _ = clusterRules(1000)
	writeFile(t, flowPath, fj)
	eventually(t, "the edited count", func() bool {
		r, err := c.RequestToken(ctx, 11, 1, false)
		return err == nil && r.Status == base.TokenOK
	})
	if code := p.signal(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "rulesync token-server: stopping") {
		t.Fatalf("no stop line:\n%s", p.stderr)
	}
	eventually(t, "the client to notice", func() bool { return !connected(c)() })

	p = startServer(t, bin, "-addr", "127.0.0.1:0", "-namespace", "app", "-flow", flowPath)
	if code := p.signal(syscall.SIGINT); code != 0 {
		t.Fatalf("exit %d after SIGINT:\n%s", code, p.stderr)
	}
}

// Rules from a config center: the token server reads {namespace}-flow-rules
// from a real Redis under a key prefix and follows what `rulesync put`
// stores there.
func TestTokenServerFromRedis(t *testing.T) {
	r := harness.Redis(t)
	bin := buildCLI(t)
	dir := t.TempDir()
	fj, _ := clusterRules(2)
	v1 := filepath.Join(dir, "v1.json")
	writeFile(t, v1, fj)
	key := "sentinel:orders-flow-rules"
	if code, _, stderr := runCmd(t, "", "put", "-type", "flow", "-redis", r.Addr, "-key", key, "-channel", key, v1); code != exitOK {
		t.Fatalf("put: %d %s", code, stderr)
	}
	p := startServer(t, bin, "-addr", "127.0.0.1:0", "-namespace", "orders,payments", "-redis", r.Addr,
		"-key-prefix", "sentinel:", "-channel-prefix", "sentinel:")
	c := newClient(t, p.addr, "orders", time.Second)
	eventually(t, "the client to connect", connected(c))
	ctx := context.Background()
	if n := countOK(t, 15, func() (base.TokenResult, error) { return c.RequestToken(ctx, 11, 1, false) }); n != 11 {
		t.Fatalf("%d of 15 passed, want 11", n)
	}
	fj, _ = clusterRules(1000)
	writeFile(t, v1, fj)
	if code, _, stderr := runCmd(t, "", "put", "-type", "flow", "-redis", r.Addr, "-key", key, "-channel", key, v1); code != exitOK {
		t.Fatalf("put: %d %s", code, stderr)
	}
	eventually(t, "the stored change", func() bool {
		r, err := c.RequestToken(ctx, 11, 1, false)
		return err == nil && r.Status == base.TokenOK
	})
	if !strings.Contains(p.stderr.String(), "sentinel:orders-flow-rules") && !strings.Contains(p.stderr.String(), "datasource=orders-flow-rules") {
		t.Fatalf("the log does not name the namespace's datasource:\n%s", p.stderr)
	}
	if code := p.signal(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.stderr)
	}
}

// The token-server process frozen (SIGSTOP) and then killed (SIGKILL) under
// the load of three application instances: no call waits longer than the
// request timeout plus a scheduling margin, every call falls back as its
// rule says while the server cannot answer, and the clients reconnect by
// themselves once a new process serves the same port.
func TestTokenServerKilledUnderLoad(t *testing.T) {
	bin := buildCLI(t)
	dir := t.TempDir()
	flowPath := filepath.Join(dir, "flow.json")
	rules := []string{
		`{"resource":"fallback-local","count":1e9,"grade":1,"clusterMode":true,"clusterConfig":{"flowId":1,"thresholdType":1,"fallbackToLocalWhenFail":true}}`,
		`{"resource":"fallback-pass","count":1e9,"grade":1,"clusterMode":true,"clusterConfig":{"flowId":2,"thresholdType":1,"fallbackToLocalWhenFail":false}}`,
	}
	writeFile(t, flowPath, "["+strings.Join(rules, ",")+"]")
	p := startServer(t, bin, "-addr", "127.0.0.1:0", "-namespace", "app", "-flow", flowPath)
	const timeout = 20 * time.Millisecond // Sentinel's default request timeout
	// The margin covers scheduling on a loaded 2-core machine under the race
	// detector. A call that waited for the dead or frozen server (a TCP
	// timeout, the connect timeout, the ping timeout) would take seconds.
	const margin = 150 * time.Millisecond

	rule := func(res string, id int64, count float64, fallback bool) flow.Rule {
		r := flow.DefaultRule()
		r.Resource, r.Count, r.ClusterMode = res, count, true
		r.ClusterConfig = flow.DefaultClusterConfig()
		r.ClusterConfig.FlowID, r.ClusterConfig.ThresholdType, r.ClusterConfig.FallbackToLocalWhenFail = id, flow.ThresholdGlobal, fallback
		return r
	}
	type app struct {
		c *tokenclient.Client
		e *engine.Engine
	}
	apps := make([]app, 3)
	for i := range apps {
		c := newClient(t, p.addr, "app", timeout)
		e := engine.New(engine.WithLogger(quiet))
		t.Cleanup(func() { e.Close() })
		e.Flow().SetTokenService(c)
		// The same rules, read locally: fallback-local checks a local count
		// of 0 when it falls back (so it blocks), fallback-pass passes.
		e.Flow().Load([]flow.Rule{rule("fallback-local", 1, 0, true), rule("fallback-pass", 2, 1e9, false)})
		apps[i] = app{c, e}
		eventually(t, "a client to connect", connected(c))
	}

	// Phases: 0 up, 1 freezing, 2 frozen, 3 thawing, 4 up, 5 killing, 6 down,
	// 7 restarting, 8 up again. A call is judged only when it began and ended
	// in one steady phase (0, 2, 4, 6, 8).
	var phase atomic.Int32
	var late, calls, wrongDown, fellBackUp, judgedUp atomic.Int64
	var worst atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, a := range apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, res := range []string{"fallback-local", "fallback-pass"} {
					before := phase.Load()
					t0 := time.Now()
					en, err := a.e.Entry(ctx, res)
					d := time.Since(t0)
					if d > timeout+margin {
						late.Add(1)
					}
					for w := worst.Load(); int64(d) > w && !worst.CompareAndSwap(w, int64(d)); w = worst.Load() {
					}
					calls.Add(1)
					if err == nil {
						en.Exit()
					}
					if phase.Load() != before {
						continue
					}
					switch before {
					case 2, 6: // the server cannot answer: fall back as configured
						if res == "fallback-local" && err == nil || res == "fallback-pass" && err != nil {
							wrongDown.Add(1)
						}
					case 0, 4, 8:
						if res == "fallback-local" {
							judgedUp.Add(1)
							if err != nil {
								fellBackUp.Add(1)
							}
						}
					}
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	step := func(next int32, d time.Duration) {
		phase.Store(next)
		time.Sleep(d)
	}
	step(0, 500*time.Millisecond)
	phase.Store(1)
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, p.cmd.Process.Pid)
	step(2, time.Second)
	phase.Store(3)
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for _, a := range apps {
		eventually(t, "a client to be connected after the freeze", connected(a.c))
	}
	time.Sleep(100 * time.Millisecond) // answers the frozen server owed arrive and are dropped
	step(4, 500*time.Millisecond)
	phase.Store(5)
	port := p.addr[strings.LastIndexByte(p.addr, ':')+1:]
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	step(6, time.Second)
	phase.Store(7)
	p2 := startServerOn(t, bin, port, "-namespace", "app", "-flow", flowPath)
	for _, a := range apps {
		eventually(t, "a client to reconnect by itself", connected(a.c))
	}
	step(8, 500*time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d calls, %d over %v + %v, slowest %v; while up, %d of %d fallback-local calls fell back",
		calls.Load(), late.Load(), timeout, margin, time.Duration(worst.Load()), fellBackUp.Load(), judgedUp.Load())
	if late.Load() != 0 {
		t.Errorf("%d of %d calls waited longer than the request timeout plus margin", late.Load(), calls.Load())
	}
	if wrongDown.Load() != 0 {
		t.Errorf("%d calls did not fall back as configured while the server was frozen or dead", wrongDown.Load())
	}
	// While the server answers, the server decides; a call may still time
	// out under the race detector on two shared cores and then fall back,
	// which is what it is configured to do: a few are allowed, a pattern is not.
	if judgedUp.Load() == 0 || fellBackUp.Load()*100 > judgedUp.Load() {
		t.Errorf("%d of %d calls fell back while the server answered", fellBackUp.Load(), judgedUp.Load())
	}
	for _, a := range apps {
		if en, err := a.e.Entry(context.Background(), "fallback-local"); err != nil {
			t.Fatalf("after the restart: %v", err)
		} else {
			en.Exit()
		}
	}
	if code := p2.signal(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p2.stderr)
	}
}

// startServerOn starts a token server on a port just freed, retrying while
// the port is still taken.
func startServerOn(t *testing.T, bin, port string, args ...string) *serverProc {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := net.Listen("tcp", addr)
		if err == nil {
			l.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %s not free again: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return startServer(t, bin, append([]string{"-addr", addr}, args...)...)
}

// waitStopped waits until every thread of the process is stopped: SIGSTOP
// is delivered asynchronously.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		stopped := len(tasks) > 0
		for _, f := range tasks {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			// The state follows the command name in parentheses.
			rest := string(data[strings.LastIndexByte(string(data), ')')+1:])
			if f := strings.Fields(rest); len(f) == 0 || !slices.Contains([]string{"T", "t"}, f[0]) {
				stopped = false
			}
		}
		if stopped {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d not stopped 10 s after SIGSTOP", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
