package main

import (
	"os"
	"path/filepath"
	"strings"
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
				continue // a flag's value
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
			if a == "-etcd" || a == "-redis" {
				server = true
			}
			if strings.HasPrefix(a, "/tmp/") {
				args[i] = filepath.Join(tmp, strings.TrimPrefix(a, "/tmp/"))
			}
		}
		if server || args[0] == "watch" {
			continue
		}
		if code, stdout, stderr := runCmd(t, "", args...); code != exitOK {
			t.Errorf("README: %q exits %d\nstdout: %s\nstderr: %s", line, code, stdout, stderr)
		}
	}
	if !strings.Contains(section, "go build -o bin/rulesync ./cmd/rulesync") || !strings.Contains(section, "exit status 2") {
		t.Error("README does not say that go run flattens exit codes, or how to build the command for scripts")
	}
}

// isBoolFlag reports whether a rulesync flag takes no value.
func isBoolFlag(flag string) bool {
	switch strings.TrimLeft(flag, "-") {
	case "strict", "dashboard", "yaml", "raw", "force", "missing-as-empty":
		return true
	}
	return false
}
