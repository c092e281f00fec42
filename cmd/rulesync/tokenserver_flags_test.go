package main

import (
	"path/filepath"
	"strings"
	"testing"
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
