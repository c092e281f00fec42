package harness

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeDocker puts a docker script with body on a PATH of its own. These
// tests check how the harness reads the CLI's answers (no daemon exists on
// the machines this runs on); they prove nothing about Docker itself.
func fakeDocker(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	return dir
}

func TestDockerAnswers(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		ok           bool
		says         string
	}{
		{"healthy", `echo 27.3.1`, true, ""},
		{"no daemon", `echo "Cannot connect to the Docker daemon" >&2; exit 1`, false, "Cannot connect"},
		{"no version", `exit 0`, false, "no server version"},
		// A CLI that never answers (a DOCKER_HOST that does not reply) is
		// given up on when the context ends.
		{"hangs", `exec /bin/sleep 60`, false, "killed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeDocker(t, tc.script)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			err := dockerAnswers(ctx)
			if (err == nil) != tc.ok || err != nil && !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("dockerAnswers: %v, want ok=%v saying %q", err, tc.ok, tc.says)
			}
		})
	}
	t.Run("no CLI", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		if err := dockerAnswers(context.Background()); err == nil || !strings.Contains(err.Error(), "not on PATH") {
			t.Fatalf("dockerAnswers without a CLI: %v", err)
		}
	})
}

// The calls a container's life makes, as the CLI receives them: run once
// with the port published on loopback, then start, kill, stop, pause and
// unpause of the same container, and rm at the end.
func TestContainerBackendCalls(t *testing.T) {
	log := filepath.Join(t.TempDir(), "calls")
	// port answers with the binding asked for in run's -p argument.
	fakeDocker(t, `echo "$@" >> `+log+`
case "$1" in
run) echo 0123abcd ;;
port) echo 127.0.0.1:`+"$FAKE_PORT"+` ;;
logs) echo "server says hi" ;;
esac`)
	t.Setenv("FAKE_PORT", "4711")
	c := newContainer("redis:7.0", "6379/tcp", 4711, "redis-server", "--save", "")
	ctx := context.Background()
	if err := c.start(ctx); err != nil {
		t.Fatal(err)
	}
	if !c.running() {
		t.Fatal("not running after start")
	}
	name := c.name
	steps := []func() error{
		func() error { return c.stop(false) },
		func() error { return c.start(ctx) },
		func() error { return c.pause(true) },
		func() error { return c.pause(false) },
		func() error { return c.stop(true) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if err := c.pause(true); err == nil {
		t.Fatal("pause of a stopped container succeeded")
	}
	if got := c.logs(); !strings.Contains(got, "server says hi") {
		t.Fatalf("logs: %q", got)
	}
	c.remove()
	if c.running() || c.name != "" {
		t.Fatal("container still known after remove")
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"run -d --name " + name + " --label " + dockerLabel + " -p 127.0.0.1:4711:6379/tcp redis:7.0 redis-server --save ",
		"port " + name + " 6379/tcp",
		"kill " + name,
		"start " + name,
		"pause " + name,
		"unpause " + name,
		"stop -t " + strconv.Itoa(int(stopGrace/time.Second)) + " " + name,
		"logs " + name,
		"rm -f -v " + name,
	}
	if got := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A container published elsewhere than asked is an error, not a server on
// the wrong port.
func TestContainerBackendChecksPort(t *testing.T) {
	fakeDocker(t, `case "$1" in run) echo id ;; port) echo 127.0.0.1:1 ;; esac`)
	c := newContainer("redis:7.0", "6379/tcp", 4711)
	err := c.start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "want 127.0.0.1:4711") {
		t.Fatalf("start: %v, want a port mismatch", err)
	}
}
