package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/internal/syncbuf"
)

// process is the quickstart command running as a child of the test.
type process struct {
	cmd  *exec.Cmd
	logs *syncbuf.Buffer
	url  string // http://host:port, from the "listening" line
	pid  int    // the pid the "listening" line names
}

// buildQuickstart compiles this command into a temporary directory.
func buildQuickstart(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	bin := filepath.Join(t.TempDir(), "quickstart")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var listening = regexp.MustCompile(`msg="quickstart listening" addr=(\S+) pid=(\d+)`)

// startQuickstart runs bin with args on a free loopback port and waits for
// its "listening" line; the process is killed when the test ends.
func startQuickstart(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, logs: &syncbuf.Buffer{Limit: 1 << 20}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.logs.Write([]byte(sc.Text() + "\n"))
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.After(30 * time.Second)
	for p.url == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				_ = cmd.Wait()
				t.Fatalf("quickstart exited before listening (%v):\n%s", cmd.ProcessState, p.logs)
			}
			if m := listening.FindStringSubmatch(l); m != nil {
				p.url = m[1]
				p.pid, _ = strconv.Atoi(m[2])
			}
		case <-deadline:
			t.Fatalf("no listening line with addr and pid within 30s:\n%s", p.logs)
		}
	}
	return p
}

// status reads /admin/status.
func (p *process) status(t *testing.T) map[string]any {
	t.Helper()
	resp, err := http.Get(p.url + "/admin/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin/status: %d %s", resp.StatusCode, body)
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("GET /admin/status: %v: %s", err, body)
	}
	return out
}

// The command starts with a rules file that does not exist yet, serves with
// no rules, and applies the file once it appears. Its "listening" line names
// the port it got and its own pid (not that of a go run in front of it).
func TestBinaryStartsWithoutRulesFileAndLogsItsPid(t *testing.T) {
	bin := buildQuickstart(t)
	rules := filepath.Join(t.TempDir(), "none.json")
	p := startQuickstart(t, bin, "-rules", rules)
	if p.pid != p.cmd.Process.Pid {
		t.Errorf("listening line names pid %d; the server's pid is %d", p.pid, p.cmd.Process.Pid)
	}
	if st := p.status(t); st["rules"] != 0.0 || st["exists"] != false {
		t.Fatalf("status without a rules file: %v", st)
	}
	if n := strings.Count(p.logs.String(), "no value at the source yet"); n != 1 {
		t.Errorf("want one line saying the file is not there yet, got %d:\n%s", n, p.logs)
	}

	data, err := os.ReadFile("rules.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rules, data, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.status(t)["rules"] != 2.0 {
		if time.Now().After(deadline) {
			t.Fatalf("the new rules file was not applied: %v\n%s", p.status(t), p.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
