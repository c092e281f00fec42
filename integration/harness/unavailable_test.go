package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Skip and Fatal instead of acting on
// the real test, so that the harness's skip-or-fail decision can be tested.
type recorder struct {
	testing.TB
	dir      string
	skipped  bool
	failed   bool
	msg      string
	cleanups []func()
}

func (r *recorder) Helper()             {}
func (r *recorder) Logf(string, ...any) {}
func (r *recorder) TempDir() string     { return r.dir }
func (r *recorder) Cleanup(f func())    { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Skipf(f string, a ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(f, a...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(f string, a ...any) {
	r.failed, r.msg = true, fmt.Sprintf(f, a...)
	runtime.Goexit()
}
func (r *recorder) Fatal(a ...any) { r.failed, r.msg = true, fmt.Sprint(a...); runtime.Goexit() }

// run calls fn on a recorder in its own goroutine (Skip and Fatal end it) and
// then runs the registered cleanups.
func run(t *testing.T, fn func(tb testing.TB)) *recorder {
	r := &recorder{TB: t, dir: t.TempDir()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	return r
}

func TestMissingBinarySkipsOrFails(t *testing.T) {
	t.Setenv(EnvServers, "local")
	t.Setenv("PATH", t.TempDir()) // no server binaries here
	t.Setenv("JAVA_HOME", "")
	t.Setenv("HOME", t.TempDir()) // nor a consul built into ~/.cache/rulesync/bin
	starts := map[string]func(testing.TB){
		"redis": func(tb testing.TB) { Redis(tb) },
		"etcd":  func(tb testing.TB) { Etcd(tb) },
		// Consul always runs locally too.
		"consul": func(tb testing.TB) { Consul(tb) },
		"nacos":  func(tb testing.TB) { Nacos(tb) }, // no java
		// Cluster and sentinel always run locally, whatever the mode.
		"redis-cluster":  func(tb testing.TB) { RedisCluster(tb) },
		"redis-sentinel": func(tb testing.TB) { RedisSentinel(tb) },
	}
	for name, start := range starts {
		for _, tc := range []struct {
			require      string
			skip, failed bool
		}{
			{"", true, false},
			{"0", true, false},
			{"1", false, true},
		} {
			t.Run(fmt.Sprintf("%s/require=%q", name, tc.require), func(t *testing.T) {
				t.Setenv(EnvRequireServers, tc.require)
				r := run(t, start)
				if r.skipped != tc.skip || r.failed != tc.failed {
					t.Fatalf("skipped=%v failed=%v (%s), want skipped=%v failed=%v", r.skipped, r.failed, r.msg, tc.skip, tc.failed)
				}
				if !strings.Contains(r.msg, "not on PATH") {
					t.Fatalf("message %q does not say the binary is missing", r.msg)
				}
			})
		}
	}
}

func TestBadServersSettingFails(t *testing.T) {
	t.Setenv(EnvServers, "kubernetes")
	r := run(t, func(tb testing.TB) { Redis(tb) })
	if !r.failed || !strings.Contains(r.msg, EnvServers) {
		t.Fatalf("failed=%v msg=%q, want a failure naming %s", r.failed, r.msg, EnvServers)
	}
}

// A server that dies during start-up (its port taken) is reported as such
// instead of being probed until the ready timeout.
func TestStartReportsEarlyExit(t *testing.T) {
	bin, err := lookBinary("redis-server")
	if err != nil {
		t.Skip(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	lc := &lifecycle{
		name:  "redis on a taken port",
		b:     newProcess(bin, t.TempDir(), "--port", port, "--bind", "127.0.0.1", "--save", ""),
		ready: func(context.Context) error { return errors.New("not answering") },
	}
	err = lc.startLocked()
	if !errors.Is(err, errExited) {
		t.Fatalf("start on a taken port: %v, want errExited", err)
	}
	if !strings.Contains(err.Error(), "Address already in use") && !strings.Contains(err.Error(), "bind") {
		t.Fatalf("error %q does not carry the server's own explanation", err)
	}
}
