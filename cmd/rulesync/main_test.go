package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/ruleapply"
)

func runCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "flow.json")
	if err := os.WriteFile(good, []byte(`[{"resource":"GET:/a","count":5}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		args     []string
		stdin    string
		code     int
		inStdout []string
		inStderr []string
	}{
		{"clean file", []string{"validate", "-type", "flow", good}, "", exitOK,
			[]string{"flow.json: json, 1 of 1 rules accepted"}, nil},
		{"a bad rule and an unknown key", []string{"validate", "-type", "flow"},
			`[{"resource":"a","count":5},{"resource":"","count":1},{"resource":"b","count":"7","speed":3}]`, exitRejected,
			[]string{"2 of 3 rules accepted", `rejected: rule 1 (""): invalid flow rule: resource is blank`, `unknown key: "speed" in rule 2`}, nil},
		{"unknown key only: fine", []string{"validate", "-type", "flow", "-"}, `[{"resource":"a","count":1,"speed":3}]`, exitOK,
			[]string{`unknown key: "speed" in rule 0`}, nil},
		{"unknown key with -strict", []string{"validate", "-type", "flow", "-strict"}, `[{"resource":"a","count":1,"speed":3}]`, exitRejected,
			[]string{`unknown key: "speed"`}, nil},
		{"dashboard wrapper", []string{"validate", "-type", "param-flow"}, `[{"id":3,"app":"x","rule":{"resource":"r","paramIdx":0,"count":5}}]`, exitOK,
			[]string{"1 of 1 rules accepted", "note:"}, nil},
		{"yaml", []string{"validate", "-type", "degrade"}, "- resource: r\n  grade: 2\n  count: 3\n  timeWindow: 10\n", exitOK,
			[]string{"yaml, 1 of 1 rules accepted"}, nil},
		{"unreadable", []string{"validate", "-type", "flow"}, `{"resource":`, exitFailed,
			nil, []string{"rulesync validate: -: "}},
		{"missing file", []string{"validate", "-type", "flow", filepath.Join(dir, "nope.json")}, "", exitFailed,
			nil, []string{"nope.json: no such file"}},
		{"unknown type", []string{"validate", "-type", "flows"}, "[]", exitFailed,
			nil, []string{`unknown rule type "flows"`}},
		{"no type", []string{"validate"}, "[]", exitFailed, nil, []string{"-type is required"}},
		{"two files", []string{"validate", "-type", "flow", "a", "b"}, "", exitFailed, nil, []string{"one file at most"}},
		{"unknown command", []string{"frobnicate"}, "", exitFailed, nil, []string{`unknown command "frobnicate"`}},
		{"no command", nil, "", exitFailed, nil, []string{"usage:"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			for _, s := range tt.inStdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			for _, s := range tt.inStderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
		})
	}
}

func TestConvert(t *testing.T) {
	// A dashboard gateway rule of 2 minutes becomes Sentinel's intervalSec 120.
	in := `[{"resource":"r","resourceMode":0,"count":10,"interval":2,"intervalUnit":1}]`
	code, stdout, stderr := runCmd(t, in, "convert", "-type", "gw-flow")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(compact(stdout), `"intervalSec":120`) || strings.Contains(stdout, "intervalUnit") {
		t.Fatalf("convert to Sentinel JSON = %s", stdout)
	}
	if !strings.Contains(stderr, "1 of 1 rules accepted") {
		t.Fatalf("report on stderr = %q", stderr)
	}
	// What convert writes reads back to the same rules.
	codec, err := codecFor("gw-flow")
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := codec.Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	b, rep, err := codec.Decode([]byte(stdout))
	if err != nil || !rep.Clean() || !codec.Equal(a, b) {
		t.Fatalf("round trip: %v, %v, equal %v", err, rep, codec.Equal(a, b))
	}

	// Back to the dashboard form: the largest exact unit.
	code, stdout, _ = runCmd(t, `[{"resource":"r","count":10,"intervalSec":7200}]`, "convert", "-type", "gw-flow", "-dashboard")
	if code != exitOK || !strings.Contains(compact(stdout), `"interval":2,"intervalUnit":2`) {
		t.Fatalf("exit %d, dashboard form = %s", code, stdout)
	}

	// YAML out; a rejected rule is left out and makes the exit code 1.
	code, stdout, stderr = runCmd(t, `[{"resource":"a","count":5},{"resource":"","count":1}]`, "convert", "-type", "flow", "-yaml")
	if code != exitRejected {
		t.Fatalf("exit %d, want %d", code, exitRejected)
	}
	if !strings.HasPrefix(stdout, "- ") || !strings.Contains(stdout, "resource: a") || strings.Count(stdout, "resource:") != 1 {
		t.Fatalf("YAML = %q", stdout)
	}
	if !strings.Contains(stderr, "rejected: rule 1") {
		t.Fatalf("stderr = %q", stderr)
	}
}

func TestTypes(t *testing.T) {
	code, stdout, _ := runCmd(t, "", "types")
	if code != exitOK || strings.Join(strings.Fields(stdout), ",") != strings.Join(ruleapply.RuleTypeNames(), ",") {
		t.Fatalf("exit %d, types = %q", code, stdout)
	}
}

// compact removes the layout of the JSON texts in s (one or more, one after
// another), for checks against one-line expectations.
func compact(s string) string {
	var b bytes.Buffer
	dec := json.NewDecoder(strings.NewReader(s))
	for {
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return b.String() + s[dec.InputOffset():]
		}
		_ = json.Compact(&b, v)
		b.WriteByte('\n')
	}
}
