package sections_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/startup"
	"github.com/rulesync/rulesync/startup/sections"
)

var update = flag.Bool("update", false, "rewrite the golden files of the error tests")

// TestConfigErrors loads each testdata/errors/*.yaml with both sections and
// compares the error with its .golden file: every problem of a section's
// settings with its YAML path and line, found by Load, without starting
// anything. A file's "# env: K=V ..." line gives its environment. Run with
// -update to rewrite the golden files.
func TestConfigErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			env := map[string]string{}
			for _, line := range strings.Split(string(data), "\n") {
				if rest, ok := strings.CutPrefix(line, "# env: "); ok {
					for _, kv := range strings.Fields(rest) {
						k, v, _ := strings.Cut(kv, "=")
						env[k] = v
					}
				}
			}
			_, err = startup.Parse(filepath.Base(f), data, backends, startup.WithEnv(env),
				startup.WithSection(sections.Dashboard()), startup.WithSection(sections.Cluster()))
			if !errors.Is(err, startup.ErrInvalid) {
				t.Fatalf("err = %v, want a ConfigError", err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("error of %s:\n%s\nwant:\n%s", f, got, want)
			}
		})
	}
}
