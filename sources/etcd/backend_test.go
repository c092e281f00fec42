package etcd_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/etcd"
)

// TestBackendOpensFromParams opens a source on a password-protected etcd
// from text parameters, as a startup file gives them, with the password in
// an environment variable, and checks that it reads and writes.
func TestBackendOpensFromParams(t *testing.T) {
	const password = "s3cret-etcd-pw"
	srv := harness.Etcd(t, harness.WithPassword(password))
	t.Setenv("RULESYNC_TEST_ETCD_PW", password)
	b := etcd.Backend()
	p := b.DataID(datasource.Params{
		"endpoints": strings.Join(srv.Endpoints, ","), "username": "root", "password-env": "RULESYNC_TEST_ETCD_PW",
		"key-prefix": "/sentinel/",
	}, "app-flow-rules")
	if p["key"] != "/sentinel/app-flow-rules" {
		t.Fatalf("DataID key = %q", p["key"])
	}
	ctx := ctxT(t)
	src, err := datasource.Backends{b}.Open(ctx, "etcd", p)
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
	p["password-env"] = "RULESYNC_TEST_UNSET_PW"
	if _, err := (datasource.Backends{b}).Open(context.Background(), "etcd", p); !errors.Is(err, datasource.ErrBadParams) {
		t.Fatalf("unset password variable: %v", err)
	}
}
