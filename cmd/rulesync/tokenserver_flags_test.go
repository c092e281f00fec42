package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/cluster/tokenclient"
	"github.com/rulesync/rulesync/internal/syncbuf"
)

// Command lines the token server refuses, before it listens.
func TestTokenServerBadCommandLines(t *testing.T) {
	flowPath := filepath.Join(t.TempDir(), "flow.json")
	writeFile(t, flowPath, "[]")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-namespace", "a,b", "-flow", flowPath}, "rules of one namespace"},
		{[]string{"-namespace", "a"}, "no rules"},
		{[]string{"-addr", "127.0.0.1", "-flow", flowPath}, "missing port"},
		{[]string{"-addr", "127.0.0.1:99999", "-flow", flowPath}, "port 99999 is not 0..65535"},
		{[]string{"-flow", flowPath, "-dir", "/tmp"}, "not both"},
		{[]string{"-dir", "/tmp", "-key-prefix", "x"}, `unknown parameter "key-prefix"`},
		{[]string{"-flow", flowPath, "-max-allowed-qps", "-1"}, "maxAllowedQps -1"},
		{[]string{"-flow", flowPath, "extra"}, "no file arguments"},
	} {
		code, _, stderr := runCmd(t, "", append([]string{"token-server"}, tt.args...)...)
		if code != exitFailed || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, %q; want exit %d naming %q", tt.args, code, stderr, exitFailed, tt.want)
		}
	}
}

// In process, with the rules of two namespaces from a directory of files
// named by data id: each namespace is served from its own file, and the
// command returns 0 once its context ends.
func TestTokenServerFromDir(t *testing.T) {
	dir := t.TempDir()
	rule := func(id int, count float64) string {
		return fmt.Sprintf(`[{"resource":"r","count":%v,"grade":1,"clusterMode":true,"clusterConfig":{"flowId":%d,"thresholdType":1,"windowIntervalMs":10000,"sampleCount":10}}]`, count, id)
	}
	writeFile(t, filepath.Join(dir, "a-flow-rules.json"), rule(1, 1))
	writeFile(t, filepath.Join(dir, "b-flow-rules.json"), rule(2, 2))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncbuf.Buffer{}
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"token-server", "-addr", "127.0.0.1:0", "-namespace", "a", "-namespace", "b", "-dir", dir}, strings.NewReader(""), io.Discard, stderr)
	}()
	var addr string
	deadline := time.Now().Add(30 * time.Second)
	for addr == "" {
		if _, rest, ok := strings.Cut(stderr.String(), `msg="rulesync token-server: listening" addr=`); ok {
			addr, _, _ = strings.Cut(rest, " ")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line:\n%s", stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, tt := range []struct {
		ns     string
		flowID int64
		want   int // 10 x count - 9 passes over the 10 s window
	}{{"a", 1, 1}, {"b", 2, 11}} {
		c, err := tokenclient.New(tokenclient.WithServers(addr), tokenclient.WithNamespace(tt.ns), tokenclient.WithRequestTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for c.State().ClientState != tokenclient.StateStarted {
			if time.Now().After(deadline) {
				t.Fatal("client not connected")
			}
			time.Sleep(5 * time.Millisecond)
		}
		ok := 0
		for range 15 {
			r, err := c.RequestToken(context.Background(), tt.flowID, 1, false)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status == base.TokenOK {
				ok++
			}
		}
		if ok != tt.want {
			t.Errorf("namespace %s: %d of 15 passed, want %d", tt.ns, ok, tt.want)
		}
	}
	cancel()
	select {
	case c := <-code:
		if c != exitOK {
			t.Fatalf("exit %d:\n%s", c, stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("token-server did not return after its context ended")
	}
}
