package nacos_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/nacos"
	"github.com/rulesync/rulesync/sources/nacos/nacostest"
)

// TestBackendOpensFromParams opens a source on an auth-enabled Nacos, in a
// namespace of its own, from Spring Cloud Alibaba's keys, with the password
// in a file, and checks the data id, reads and writes, and redaction.
func TestBackendOpensFromParams(t *testing.T) {
	const password = "s3cret-nacos-pw"
	srv := nacostest.NewServer(t, harness.WithUser("rules"), harness.WithPassword(password))
	ctx := ctxT(t)
	if err := srv.CreateNamespace(ctx, "rules-ns", "rules"); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cacheDir := t.TempDir()
	b := nacos.Backend()
	p := b.DataID(datasource.Params{
		"server-addr": srv.Addr, "namespace": "rules-ns", "group-id": "SENTINEL_GROUP",
		"username": "rules", "password-file": pwFile, "cache-dir": cacheDir, "timeout": "5s",
	}, "app-flow-rules")
	if p["data-id"] != "app-flow-rules" {
		t.Fatalf("DataID = %v", p)
	}
	src, err := datasource.Backends{b}.Open(ctx, "nacos", p)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Write(ctx, []byte("[]"), ""); err != nil {
		t.Fatal(err)
	}
	readUntil(t, src, "[]")
	// It is in the namespace, not in public.
	if got, err := srv.GetConfig(ctx, harness.NacosConfig{Namespace: "rules-ns", Group: "SENTINEL_GROUP", DataID: "app-flow-rules"}); err != nil || got != "[]" {
		t.Fatalf("namespace holds %q, %v", got, err)
	}
	if _, err := srv.GetConfig(ctx, harness.NacosConfig{Group: "SENTINEL_GROUP", DataID: "app-flow-rules"}); !errors.Is(err, harness.ErrNacosConfigMissing) {
		t.Fatalf("public namespace: %v, want missing", err)
	}
	// The SDK's cache is where it was told, and nothing else is written there.
	if _, err := os.Stat(filepath.Join(cacheDir, "config")); err != nil {
		t.Fatalf("cache dir: %v", err)
	}

	if _, err := (datasource.Backends{b}).Open(ctx, "nacos", datasource.Params{"server-addr": srv.Addr}); !errors.Is(err, datasource.ErrBadParams) {
		t.Fatalf("missing data-id: %v", err)
	}
	if _, err := (datasource.Backends{b}).Open(ctx, "nacos", datasource.Params{"server-addr": srv.Addr, "data-id": "x", "groupid": "g"}); err == nil || !strings.Contains(err.Error(), `"group-id"`) {
		t.Fatalf("misspelled group-id: %v", err)
	}
	cfg := nacos.Config{ServerAddr: []string{srv.Addr}, Username: "rules", Password: password, SecretKey: "sk"}
	if s := cfg.String(); strings.Contains(s, password) || !strings.Contains(s, "REDACTED") {
		t.Fatalf("Config.String = %s", s)
	}
}

// A source Dial made keeps the SDK's cache in a temporary directory of its
// own and removes it on Close; the SDK writes no log files.
func TestDialCleansUp(t *testing.T) {
	srv := nacostest.NewServer(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	wd, _ := os.Getwd()
	before, _ := os.ReadDir(wd)
	s := dial(t, srv.Config(), "tmp-flow-rules")
	if _, err := s.Read(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	dirs, _ := os.ReadDir(tmp)
	if len(dirs) != 1 || !strings.HasPrefix(dirs[0].Name(), "rulesync-nacos-") {
		t.Fatalf("temp dir holds %v", dirs)
	}
	var logs []string
	filepath.WalkDir(tmp, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".log") {
			logs = append(logs, p)
		}
		return nil
	})
	if len(logs) > 0 {
		t.Fatalf("SDK log files: %v", logs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if dirs, _ := os.ReadDir(tmp); len(dirs) != 0 {
		t.Fatalf("after Close the temp dir holds %v", dirs)
	}
	if after, _ := os.ReadDir(wd); len(after) != len(before) {
		t.Fatalf("the working directory changed: %v -> %v", before, after)
	}
}

func TestDialRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]nacos.Config{
		"no servers":       {},
		"password alone":   {ServerAddr: []string{"h:8848"}, Password: "x"},
		"secret key alone": {ServerAddr: []string{"h:8848"}, SecretKey: "x"},
		"bad address":      {ServerAddr: []string{"ftp://h"}},
		"bad port":         {ServerAddr: []string{"h:99999"}},
	} {
		if _, err := nacos.Dial(ctxT(t), cfg, "", "d"); err == nil || strings.Contains(err.Error(), "x\"") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := nacos.Dial(ctxT(t), nacos.Config{ServerAddr: []string{"127.0.0.1:1"}}, "", "cipher-x"); err == nil {
		t.Error("cipher- data id accepted")
	}
	// A caller's client that would read its local snapshot is refused. (The
	// adapter first: else this client's LogDir would get the SDK's logger.)
	nacos.SetSDKLogger(nil)
	cc := constant.NewClientConfig(constant.WithLogDir(t.TempDir()), constant.WithCacheDir(t.TempDir()))
	c, err := clients.NewConfigClient(vo.NacosClientParam{ClientConfig: cc, ServerConfigs: []constant.ServerConfig{{IpAddr: "127.0.0.1", Port: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseClient()
	if _, err := nacos.New(c, "", "d"); err == nil || !strings.Contains(err.Error(), "WithDisableUseSnapShot") {
		t.Errorf("New on a client with snapshots on: %v", err)
	}
}
