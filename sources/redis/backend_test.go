package redis_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/redis"
)

// TestBackendOpensFromParams opens a source on a password-protected Redis
// from text parameters, with the password in a file, and checks that the
// key and channel follow the data id and that the password stays out of
// errors and the Config's description.
func TestBackendOpensFromParams(t *testing.T) {
	const password = "s3cret-redis-pw"
	srv := harness.Redis(t, harness.WithPassword(password))
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := redis.Backend()
	p := b.DataID(datasource.Params{"addr": srv.Addr, "password-file": pwFile, "key-prefix": "rules:", "channel-prefix": "changes:"}, "app-flow-rules")
	if p["key"] != "rules:app-flow-rules" || p["channel"] != "changes:app-flow-rules" {
		t.Fatalf("DataID = %v", p)
	}
	ctx := ctxT(t)
	src, err := datasource.Backends{b}.Open(ctx, "redis", p)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Write(ctx, []byte("[]"), ""); err != nil {
		t.Fatal(err)
	}
	if s, err := src.Read(ctx); err != nil || string(s.Data) != "[]" {
		t.Fatalf("read back %q, %v", s.Data, err)
	}
	if err := os.WriteFile(pwFile, []byte("wrong-pw"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = datasource.Backends{b}.Open(ctx, "redis", p)
	if err == nil || strings.Contains(err.Error(), password) {
		t.Fatalf("wrong password: %v", err)
	}
	cfg := redis.Config{Addrs: []string{srv.Addr}, Password: password}
	if strings.Contains(cfg.String(), password) || !strings.Contains(cfg.String(), "REDACTED") {
		t.Fatalf("Config.String = %s", cfg)
	}
	if _, err := (datasource.Backends{b}).Open(ctx, "redis", datasource.Params{"addr": srv.Addr, "key": "k"}); !errors.Is(err, datasource.ErrBadParams) {
		t.Fatalf("missing channel: %v", err)
	}
}
