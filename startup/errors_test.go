package startup_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/sources/file"
	"github.com/rulesync/rulesync/startup"
)

var update = flag.Bool("update", false, "rewrite the golden files of the error tests")

// kvParams are the parameters of kvBackend, shaped like a remote config
// center's: endpoints with an environment default, a key, credentials.
type kvParams struct {
	Endpoints   []string      `param:"endpoints,required" env:"KV_ENDPOINTS" usage:"server addresses"`
	Key         string        `param:"key,required" usage:"the key holding the rules"`
	Username    string        `param:"username" usage:"user name"`
	Password    string        `param:"password,secret" usage:"password"`
	Token       string        `param:"token,secret" usage:"access token"`
	DialTimeout time.Duration `param:"dial-timeout" usage:"bound on the first connection"`
}

// errNoServer is what kvBackend's Open returns: the error tests only check
// files, they never open a source.
var errNoServer = errors.New("kv: no server in unit tests")

// kvBackend is a backend-table entry with remote-style parameters and no
// data ids, for checking files against the table.
func kvBackend() datasource.Backend {
	return datasource.Backend{
		Name: "kv", Summary: "a key of a key-value server", Params: datasource.ParamsOf(kvParams{}), Primary: "endpoints",
		Open: func(context.Context, datasource.Params) (datasource.WritableSource, error) { return nil, errNoServer },
	}
}

func testBackends() datasource.Backends { return datasource.Backends{file.Backend(), kvBackend()} }

// TestConfigErrors checks the message of every class of problem against
// testdata/errors/*.golden. A file's "# env: K=V ..." lines give its
// environment. Run with -update to rewrite the golden files.
func TestConfigErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			env := map[string]string{}
			for _, line := range strings.Split(string(data), "\n") {
				if rest, ok := strings.CutPrefix(line, "# env:"); ok {
					for _, kv := range strings.Fields(rest) {
						k, v, _ := strings.Cut(kv, "=")
						env[k] = v
					}
				}
			}
			_, err = startup.Parse(filepath.Base(f), data, testBackends(), startup.WithEnv(env))
			var ce *startup.ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, startup.ErrInvalid) {
				t.Fatalf("Parse = %v, want a *ConfigError", err)
			}
			got := err.Error() + "\n"
			for _, secret := range []string{"hunter2", "s3cret-in-the-file"} {
				if strings.Contains(got, secret) {
					t.Errorf("the error shows a secret:\n%s", got)
				}
			}
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

// TestLoadMissingFile: a file that cannot be read is a ConfigError too.
func TestLoadMissingFile(t *testing.T) {
	_, err := startup.Load(filepath.Join(t.TempDir(), "nope.yaml"), testBackends())
	if !errors.Is(err, startup.ErrInvalid) || !strings.Contains(err.Error(), "cannot read the file: no such file or directory") {
		t.Fatalf("err = %v", err)
	}
}

// FuzzParse: no input makes Parse panic, and what it refuses is a
// ConfigError.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"datasource:\n  a:\n    file: {file: a.json, rule-type: flow}\n",
		"app: x\ndatasource: {a: {kv: {endpoints: [a, b], key: k, rule-type: degrade, password-env: X}}}\n",
		"&a [*a]", "datasource: &d {x: *d}", "? [a]\n: b\n", "datasource:\n  a:\n    file:\n      data-id: ${app}-${",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := startup.Parse("fuzz.yaml", data, testBackends(), startup.WithEnv(map[string]string{"X": "pw"}))
		if err != nil {
			if !errors.Is(err, startup.ErrInvalid) {
				t.Fatalf("error is not a ConfigError: %v", err)
			}
			return
		}
		for _, d := range cfg.DataSources {
			_ = d.String()
		}
	})
}
