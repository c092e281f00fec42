package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/internal/syncbuf"
	"github.com/rulesync/rulesync/sources/nacos/nacostest"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// revisionOf picks the revision from get's or put's stderr.
func revisionOf(t *testing.T, stderr string) string {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		if _, rev, ok := strings.Cut(line, "revision: "); ok {
			return rev
		}
	}
	t.Fatalf("no revision in %q", stderr)
	return ""
}

// TestRemoteCommandsOnFile runs get, put and diff against a file source: a
// put validates first, stores with compare-and-set, and a stale revision is
// a conflict that stores nothing.
func TestRemoteCommandsOnFile(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "flow-rules.json")
	v1 := filepath.Join(dir, "v1.json")
	writeFile(t, v1, `[{"resource":"a","count":5},{"resource":"b","count":1}]`)
	src := []string{"-type", "flow", "-file", store}

	if code, _, stderr := runCmd(t, "", append([]string{"get"}, src...)...); code != exitFailed || !strings.Contains(stderr, "nothing stored") {
		t.Fatalf("get of a missing file: exit %d, %q", code, stderr)
	}
	code, _, stderr := runCmd(t, "", append(append([]string{"put"}, src...), v1)...)
	if code != exitOK {
		t.Fatalf("put: exit %d, %s", code, stderr)
	}
	rev1 := revisionOf(t, stderr)

	code, stdout, stderr := runCmd(t, "", append([]string{"get"}, src...)...)
	if code != exitOK || !strings.Contains(compact(stdout), `"resource":"a"`) || revisionOf(t, stderr) != rev1 {
		t.Fatalf("get: exit %d, %s, %s", code, stdout, stderr)
	}
	if code, stdout, _ := runCmd(t, "", append(append([]string{"diff"}, src...), v1)...); code != exitOK || !strings.Contains(stdout, "no difference") {
		t.Fatalf("diff of equal rules: exit %d, %s", code, stdout)
	}
	same := filepath.Join(dir, "same.yaml")
	writeFile(t, same, "- resource: b\n  count: 1\n- resource: a\n  count: 5\n")
	// Reordered, they are the same rules but not the same list: the order
	// of a resource's rules is the order they are checked in.
	if code, stdout, _ := runCmd(t, "", append(append([]string{"diff"}, src...), same)...); code != exitDiffer || !strings.Contains(stdout, "same rules, in another order") {
		t.Fatalf("diff of reordered rules: exit %d, %s", code, stdout)
	}

	v2 := filepath.Join(dir, "v2.json")
	writeFile(t, v2, `[{"resource":"a","count":6},{"resource":"b","count":1}]`)
	code, stdout, _ = runCmd(t, "", append(append([]string{"diff"}, src...), v2)...)
	if code != exitDiffer || !strings.Contains(stdout, `- {"resource":"a"`) || !strings.Contains(stdout, `"count":6`) || strings.Contains(stdout, `"resource":"b"`) {
		t.Fatalf("diff: exit %d, %s", code, stdout)
	}
	// A put expecting the current revision succeeds; the same expectation
	// again is stale and stores nothing.
	code, _, stderr = runCmd(t, "", append(append([]string{"put", "-if-revision", rev1}, src...), v2)...)
	if code != exitOK {
		t.Fatalf("put -if-revision: exit %d, %s", code, stderr)
	}
	code, _, stderr = runCmd(t, "", append(append([]string{"put", "-if-revision", rev1}, src...), v1)...)
	if code != exitConflict || !strings.Contains(stderr, "nothing stored") {
		t.Fatalf("stale put: exit %d, %s", code, stderr)
	}
	if code, stdout, _ := runCmd(t, "", append(append([]string{"diff"}, src...), v2)...); code != exitOK {
		t.Fatalf("the stale put changed the store: %s", stdout)
	}
	// -force stores whatever is there; a file with a rejected rule is never stored.
	if code, _, stderr := runCmd(t, "", append(append([]string{"put", "-force"}, src...), v1)...); code != exitOK {
		t.Fatalf("put -force: exit %d, %s", code, stderr)
	}
	bad := filepath.Join(dir, "bad.json")
	writeFile(t, bad, `[{"resource":"","count":1}]`)
	if code, _, stderr := runCmd(t, "", append(append([]string{"put"}, src...), bad)...); code != exitRejected || !strings.Contains(stderr, "nothing stored") {
		t.Fatalf("put of a bad file: exit %d, %s", code, stderr)
	}
	// From standard input, in the dashboard's form.
	code, _, stderr = runCmd(t, `[{"resource":"c","count":2}]`, append([]string{"put"}, append(src, "-")...)...)
	if code != exitOK {
		t.Fatalf("put from stdin: exit %d, %s", code, stderr)
	}
	if code, stdout, _ := runCmd(t, "", append([]string{"get", "-raw"}, src...)...); code != exitOK || !strings.Contains(compact(stdout), `"resource":"c"`) {
		t.Fatalf("get -raw: exit %d, %s", code, stdout)
	}
}

func TestSourceFlagErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "-type", "flow"}, "name exactly one source"},
		{[]string{"get", "-type", "flow", "-file", "x", "-etcd", "y"}, "name exactly one source"},
		{[]string{"get", "-type", "flow", "-etcd", "127.0.0.1:1"}, `backend etcd: missing required parameter "key"`},
		{[]string{"get", "-type", "flow", "-redis", "127.0.0.1:1", "-key", "k"}, `backend redis: missing required parameter "channel"`},
		{[]string{"get", "-type", "flow", "-etcd", "127.0.0.1:1", "-key", "k", "-password-env", "RULESYNC_TEST_UNSET_VAR"}, "RULESYNC_TEST_UNSET_VAR is not set"},
		{[]string{"get", "-type", "flow", "-file", "x", "-channel", "c"}, `backend file: unknown parameter "channel"`},
		{[]string{"put", "-type", "flow", "-file", "x"}, "want 1 file argument(s), got 0"},
		{[]string{"get", "-file", "x"}, "-type is required"},
	} {
		code, _, stderr := runCmd(t, "", tt.args...)
		if code != exitFailed || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tt.args, code, stderr, tt.want)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "rules.json")
	writeFile(t, store, `[{"resource":"a","count":1}]`)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"watch", "-type", "flow", "-file", store}, strings.NewReader(""), &out, &errOut)
	}()
	waitFor(t, "the loaded event", func() bool { return strings.Contains(out.String(), "loaded") })
	writeFile(t, store, `[{"resource":"a","count":2},{"resource":"","count":2}]`)
	waitFor(t, "the update with its rejected rule", func() bool {
		s := out.String()
		return strings.Contains(s, "updated") && strings.Contains(s, "rejected") && strings.Contains(s, "resource is blank")
	})
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("watch exit %d: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not return after cancel")
	}
}

// TestRemoteCommandsOnServers runs put and get against a real etcd and a real
// Redis (with a password read from the environment), so that the source
// flags reach the sources as meant.
func TestRemoteCommandsOnServers(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.json")
	writeFile(t, rules, `[{"resource":"GET:/orders","count":100}]`)
	t.Run("etcd", func(t *testing.T) {
		srv := harness.Etcd(t)
		src := []string{"-type", "flow", "-etcd", strings.Join(srv.Endpoints, ","), "-key", "/rulesync/cli/flow"}
		checkPutGet(t, src, rules)
	})
	t.Run("redis", func(t *testing.T) {
		srv := harness.Redis(t, harness.WithPassword("cli-secret"))
		t.Setenv("RULESYNC_TEST_REDIS_PW", "cli-secret")
		src := []string{"-type", "flow", "-redis", srv.Addr, "-key", "cli:flow", "-channel", "cli:flow:channel", "-password-env", "RULESYNC_TEST_REDIS_PW"}
		checkPutGet(t, src, rules)
	})
	t.Run("consul", func(t *testing.T) {
		srv := harness.Consul(t, harness.WithACL())
		t.Setenv("RULESYNC_TEST_CONSUL_TOKEN", srv.PrefixToken(t, "rulesync/", harness.KeyWrite))
		src := []string{"-type", "flow", "-consul", srv.Addr, "-key", "/rulesync/cli/flow", "-token-env", "RULESYNC_TEST_CONSUL_TOKEN"}
		checkPutGet(t, src, rules)
	})
	t.Run("nacos", func(t *testing.T) {
		srv := nacostest.NewServer(t, harness.WithUser("cli"), harness.WithPassword("cli-secret"))
		t.Setenv("RULESYNC_TEST_NACOS_PW", "cli-secret")
		src := []string{"-type", "flow", "-nacos", srv.Addr, "-group-id", "SENTINEL_GROUP", "-data-id", "cli-flow-rules",
			"-username", "cli", "-password-env", "RULESYNC_TEST_NACOS_PW"}
		code, _, stderr := runCmd(t, "", append(append([]string{"put"}, src...), rules)...)
		if code != exitOK {
			t.Fatalf("put: exit %d, %s", code, stderr)
		}
		rev := revisionOf(t, stderr)
		// Nacos serves reads from a cache it refreshes after a write.
		var stdout string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			code, stdout, stderr = runCmd(t, "", append([]string{"get"}, src...)...)
			if code == exitOK && strings.Contains(stderr, rev) || time.Now().After(deadline) {
				break
			}
		}
		if code != exitOK || !strings.Contains(compact(stdout), `"resource":"GET:/orders"`) || revisionOf(t, stderr) != rev {
			t.Fatalf("get: exit %d, %s, %s", code, stdout, stderr)
		}
		if code, _, stderr := runCmd(t, "", append(append([]string{"put", "-if-revision", "not-" + rev}, src...), rules)...); code != exitConflict {
			t.Fatalf("put with a wrong revision: exit %d, %s", code, stderr)
		}
	})
}

func checkPutGet(t *testing.T, src []string, rules string) {
	t.Helper()
	code, _, stderr := runCmd(t, "", append(append([]string{"put"}, src...), rules)...)
	if code != exitOK {
		t.Fatalf("put: exit %d, %s", code, stderr)
	}
	rev := revisionOf(t, stderr)
	code, stdout, stderr := runCmd(t, "", append([]string{"get"}, src...)...)
	if code != exitOK || !strings.Contains(compact(stdout), `"resource":"GET:/orders"`) || revisionOf(t, stderr) != rev {
		t.Fatalf("get: exit %d, %s, %s", code, stdout, stderr)
	}
	if code, _, stderr := runCmd(t, "", append(append([]string{"put", "-if-revision", "not-" + rev}, src...), rules)...); code != exitConflict {
		t.Fatalf("put with a wrong revision: exit %d, %s", code, stderr)
	}
}
