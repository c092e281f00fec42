package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/etcd/etcdtest"
)

// TestCheckConfigErrors: every problem of a startup file, with its YAML
// path and line, against the command line's real backend table (file, etcd,
// Redis), compared with testdata/check-config-bad.golden (-update rewrites
// it).
func TestCheckConfigErrors(t *testing.T) {
	code, stdout, stderr := runCmd(t, "", "check-config", "testdata/check-config-bad.yaml")
	if code != exitFailed || stdout != "" {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	golden := "testdata/check-config-bad.golden"
	if os.Getenv("RULESYNC_UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(golden, []byte(stderr), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if stderr != string(want) {
		t.Fatalf("stderr:\n%s\nwant:\n%s", stderr, want)
	}
	if code, _, stderr := runCmd(t, "", "check-config"); code != exitFailed || !strings.Contains(stderr, "usage: rulesync check-config") {
		t.Fatalf("no file: exit %d, %s", code, stderr)
	}
}

// TestCheckConfigConnect checks a good file, then tries its sources: a
// file, a real etcd, and a Redis address where nothing listens.
func TestCheckConfigConnect(t *testing.T) {
	srv := harness.Etcd(t)
	cli := etcdtest.Client(t, srv)
	ctx := context.Background()
	if _, err := cli.Put(ctx, "/sentinel/shop-degrade-rules", `[{"resource":"r","grade":2,"count":1,"timeWindow":10},{"resource":"","count":1}]`); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "shop-flow-rules.json"), `[{"resource":"a","count":5}]`)
	cfg := filepath.Join(dir, "rulesync.yaml")
	body := fmt.Sprintf(`app: shop
initial-timeout: 2s
datasource:
  flow:
    file: {dir: %s, data-id: "${app}-flow-rules", rule-type: flow}
  system:
    file: {dir: %[1]s, data-id: "${app}-system-rules", rule-type: system}
  degrade:
    etcd:
      endpoints: %s
      key-prefix: /sentinel/
      data-id: ${app}-degrade-rules
      rule-type: degrade
`, dir, strings.Join(srv.Endpoints, ","))
	writeFile(t, cfg, body)

	code, stdout, stderr := runCmd(t, "", "check-config", cfg)
	if code != exitOK || stderr != "" || !strings.Contains(stdout, "3 datasources, app \"shop\" (initial-timeout 2s)") ||
		!strings.Contains(stdout, `degrade: etcd rule-type=degrade`) || !strings.Contains(stdout, `key="/sentinel/shop-degrade-rules"`) {
		t.Fatalf("check-config: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = runCmd(t, "", "check-config", "-connect", cfg)
	for _, want := range []string{
		"flow: ok, revision ",
		"json: 1/1 rules accepted",
		"system: ok, nothing stored yet",
		"degrade: ok, revision ",
		`json: 1/2 rules accepted; rejected rule 1 ("")`,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("-connect output lacks %q:\n%s", want, stdout)
		}
	}
	if code != exitRejected {
		t.Errorf("a rejected rule: exit %d, want %d", code, exitRejected)
	}

	writeFile(t, cfg, body+`  param:
    redis: {addr: 127.0.0.1:1, key: p, channel: p, rule-type: param-flow, dial-timeout: 200ms}
`)
	code, stdout, _ = runCmd(t, "", "check-config", "-connect", cfg)
	if code != exitRejected || !strings.Contains(stdout, "param: FAILED after ") {
		t.Fatalf("unreachable Redis: exit %d\n%s", code, stdout)
	}
}
