package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/sources/file"
)

// bigRules returns a valid flow rule list of more than file.DefaultMaxSize bytes.
func bigRules() []byte {
	var b bytes.Buffer
	b.WriteString("[")
	for i := 0; b.Len() <= file.DefaultMaxSize; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString(`{"resource":"GET:/some/fairly/long/resource/name/` + strings.Repeat("x", 40) + `","count":1}`)
	}
	b.WriteString("]")
	return b.Bytes()
}

// A file the service refuses as too large, validate and convert refuse as
// well, whether named or piped, and say what the limit is.
func TestValidateAndConvertRefuseWhatTheServiceRefuses(t *testing.T) {
	big := bigRules()
	path := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := file.New(path); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"validate a file", "", []string{"validate", "-type", "flow", path}},
		{"convert a file", "", []string{"convert", "-type", "flow", path}},
		{"validate stdin", string(big), []string{"validate", "-type", "flow"}},
		{"convert stdin", string(big), []string{"convert", "-type", "flow", "-"}},
		{"diff against a big local file", "", []string{"diff", "-type", "flow", "-file", path, path}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, tt.stdin, tt.args...)
			if code != exitFailed || !strings.Contains(stderr, "limit of 4194304 bytes (4 MiB)") {
				t.Fatalf("exit %d, stderr %q; want exit %d naming the 4 MiB limit", code, stderr, exitFailed)
			}
		})
	}
}

// diff reports the rules it leaves out on stderr, fails on a -file that
// does not exist unless asked to read it as empty, and labels its sides.
func TestDiffSaysWhatItCompares(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "stored.json")
	local := filepath.Join(dir, "local.json")
	writeFile(t, local, `[{"resource":"a","count":5},{"resource":"","count":1}]`)

	code, stdout, stderr := runCmd(t, "", "diff", "-type", "flow", "-file", store, local)
	if code != exitFailed || !strings.Contains(stderr, "nothing stored") || !strings.Contains(stderr, "-missing-as-empty") {
		t.Fatalf("diff against a missing -file: exit %d, stdout %q, stderr %q; want exit %d saying so", code, stdout, stderr, exitFailed)
	}

	code, stdout, stderr = runCmd(t, "", "diff", "-type", "flow", "-missing-as-empty", "-file", store, local)
	if code != exitDiffer {
		t.Fatalf("diff -missing-as-empty: exit %d, %s %s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, `rejected: rule 1 (""): invalid flow rule: resource is blank`) {
		t.Errorf("the rejected local rule is not reported on stderr: %q", stderr)
	}
	if !strings.HasPrefix(stdout, "--- stored: file "+store) || !strings.Contains(stdout, "+++ "+local) {
		t.Errorf("the sides are not labelled: %q", stdout)
	}
	if !strings.Contains(stdout, `+ {"resource":"a"`) {
		t.Errorf("diff output %q", stdout)
	}

	// Equal accepted rules, but a rule of the local file was left out: not
	// "no difference" with exit 0.
	writeFile(t, store, `[{"resource":"a","count":5}]`)
	code, stdout, stderr = runCmd(t, "", "diff", "-type", "flow", "-file", store, local)
	if code == exitOK || strings.Contains(stdout, "no difference\n") && !strings.Contains(stdout, "rejected") {
		t.Errorf("equal accepted rules with a rejected one: exit %d, %q, %q", code, stdout, stderr)
	}
}

// Payloads that clear a rule type say so; invalid UTF-8 and UTF-16 are
// refused with what is wrong.
func TestValidateNamesEncodingAndEmptyPayloads(t *testing.T) {
	for _, in := range []string{"", "  \n", "null", "[]"} {
		code, stdout, stderr := runCmd(t, in, "validate", "-type", "flow")
		if code != exitOK || !strings.Contains(stdout, "empty payload: clears this rule type") || strings.Contains(stdout, "0 of 0") {
			t.Errorf("validate %q: exit %d, stdout %q, stderr %q", in, code, stdout, stderr)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"[{\"resource\":\"caf\xff\",\"count\":1}]", "invalid UTF-8 at byte offset 17"},
		{"\xff\xfe[\x00{\x00}\x00]\x00", "UTF-16 is not supported"},
	} {
		code, stdout, stderr := runCmd(t, tt.in, "validate", "-type", "flow")
		if code != exitFailed || !strings.Contains(stderr, tt.want) {
			t.Errorf("validate %q: exit %d, stdout %q, stderr %q; want exit %d with %q", tt.in, code, stdout, stderr, exitFailed, tt.want)
		}
	}
}
