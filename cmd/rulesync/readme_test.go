package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// readmeCommands returns the rulesync command lines of the README's
// "Command line" section, each as its arguments after the command name,
// with comments and anything after a ';' cut off.
func readmeCommands(t *testing.T) (cmds [][]string, section string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i := strings.Index(text, "\n## Command line")
	if i < 0 {
		t.Fatal("README has no Command line section")
	}
	text = text[i+1:]
	if j := strings.Index(text[3:], "\n## "); j >= 0 {
		text = text[:3+j]
	}
	for _, line := range strings.Split(text, "\n") {
		line, _, _ = strings.Cut(line, "#")
		line, _, _ = strings.Cut(line, ";")
		f := strings.Fields(line)
		switch {
		case len(f) > 3 && f[0] == "go" && f[1] == "run" && f[2] == "./cmd/rulesync":
			cmds = append(cmds, f[3:])
		case len(f) > 1 && f[0] == "bin/rulesync":
			cmds = append(cmds, f[1:])
		}
	}
	return cmds, text
}

// The README's commands name files that are in the repository, give their
// flags before the file, and those that need no server run as shown.
func TestReadmeCommandLine(t *testing.T) {
	cmds, section := readmeCommands(t)
	if len(cmds) < 5 {
		t.Fatalf("found %d commands in the README", len(cmds))
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	t.Chdir(root)
	// Every backend's primary flag but the file's names a server.
	servers := map[string]bool{}
	for _, name := range cliBackends().Names() {
		servers[name] = name != "file"
	}
	for _, args := range cmds {
		line := strings.Join(args, " ")
		seenFile := false
		for k, a := range args {
			if strings.HasPrefix(a, "-") && len(a) > 1 {
				if seenFile {
					t.Errorf("README: %q gives flag %s after the file; flags come before it", line, a)
				}
				continue
			}
			if k > 0 && strings.HasPrefix(args[k-1], "-") && !isBoolFlag(args[k-1]) {
				// A flag's value; one that names a file of the repository must be there.
				if strings.HasPrefix(a, "examples/") {
					if _, err := os.Stat(a); err != nil {
						t.Errorf("README: %q names %s, which is not in the repository", line, a)
					}
				}
				continue
			}
			if k == 0 {
				continue // the subcommand
			}
			seenFile = true
			if !strings.HasPrefix(a, "/") && a != "-" {
				if _, err := os.Stat(a); err != nil {
					t.Errorf("README: %q names %s, which is not in the repository", line, a)
				}
			}
		}
		server := false
		for i, a := range args {
			if servers[strings.TrimLeft(a, "-")] {
				server = true
			}
			if strings.HasPrefix(a, "/tmp/") {
				args[i] = filepath.Join(tmp, strings.TrimPrefix(a, "/tmp/"))
			}
		}
		switch {
		case server || args[0] == "watch":
			// Needs a config center, or runs until interrupted.
		case args[0] == "token-server":
			runUntilListening(t, line, args)
		default:
			if code, stdout, stderr := runCmd(t, "", args...); code != exitOK {
				t.Errorf("README: %q exits %d\nstdout: %s\nstderr: %s", line, code, stdout, stderr)
			}
		}
	}
	if !strings.Contains(section, "go build -o bin/rulesync ./cmd/rulesync") || !strings.Contains(section, "exit status 2") {
		t.Error("README does not say that go run flattens exit codes, or how to build the command for scripts")
	}
}

// runUntilListening runs a README command that serves until interrupted
// (on a free port rather than the one shown), and interrupts it once it
// says it listens: it must start, and stop cleanly.
func runUntilListening(t *testing.T, line string, args []string) {
	t.Helper()
	args = slices.Clone(args)
	for i := range args[:len(args)-1] {
		if args[i] == "-addr" {
			args[i+1] = "127.0.0.1:0"
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stderr := &signalWriter{marker: []byte("listening"), seen: make(chan struct{})}
	done := make(chan int, 1)
	var stdout bytes.Buffer
	go func() { done <- run(ctx, args, strings.NewReader(""), &stdout, stderr) }()
	select {
	case <-stderr.seen:
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("README: %q exits %d when interrupted\nstderr: %s", line, code, stderr.text())
		}
	case code := <-done:
		t.Errorf("README: %q exits %d before it listens\nstdout: %s\nstderr: %s", line, code, stdout.String(), stderr.text())
	}
}

// signalWriter collects what is written and closes seen once marker was.
type signalWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker []byte
	seen   chan struct{}
	closed bool
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.closed && bytes.Contains(w.buf.Bytes(), w.marker) {
		w.closed = true
		close(w.seen)
	}
	return len(p), nil
}

func (w *signalWriter) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// isBoolFlag reports whether a rulesync flag takes no value.
func isBoolFlag(flag string) bool {
	switch strings.TrimLeft(flag, "-") {
	case "strict", "dashboard", "yaml", "raw", "force", "missing-as-empty":
		return true
	}
	return false
}

// Every relative link of the repository's front pages names a file or
// folder that is there.
func TestReadmeLinksExist(t *testing.T) {
	root := filepath.Join("..", "..")
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, page := range []string{"README.md", "BENCHMARKS.md", "integration/README.md", "examples/cluster/README.md"} {
		data, err := os.ReadFile(filepath.Join(root, page))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range link.FindAllStringSubmatch(string(data), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			n++
			if _, err := os.Stat(filepath.Join(root, filepath.Dir(page), target)); err != nil {
				t.Errorf("%s links to %s, which is not in the repository", page, m[1])
			}
		}
		if page == "README.md" && n < 5 {
			t.Errorf("found %d relative links in README.md", n)
		}
	}
}
