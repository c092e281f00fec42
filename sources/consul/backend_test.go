package consul_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/consul"
)

// TestBackendOpensFromParams opens a source on an ACL-protected Consul from
// text parameters, as a startup file gives them, with the token in an
// environment variable, and checks that it reads and writes.
func TestBackendOpensFromParams(t *testing.T) {
	srv := harness.Consul(t, harness.WithACL())
	t.Setenv("RULESYNC_TEST_CONSUL_TOKEN", srv.PrefixToken(t, "sentinel/", harness.KeyWrite))
	b := consul.Backend()
	var names []string
	for _, p := range b.Params {
		names = append(names, p.Name)
		if p.Name == "token" && !p.Secret {
			t.Fatal("token is not a secret parameter")
		}
	}
	for _, want := range []string{"address", "scheme", "datacenter", "token", "token-file", "tls", "key", "key-prefix", "wait-time"} {
		if !slices.Contains(names, want) {
			t.Fatalf("parameter %q missing from %v", want, names)
		}
	}
	p := b.DataID(datasource.Params{
		"address": srv.Addr, "token-env": "RULESYNC_TEST_CONSUL_TOKEN", "key-prefix": "/sentinel/", "wait-time": "2s",
	}, "app-flow-rules")
	if p["key"] != "/sentinel/app-flow-rules" {
		t.Fatalf("DataID key = %q", p["key"])
	}
	ctx := ctxT(t)
	src, err := datasource.Backends{b}.Open(ctx, "consul", p)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if s, ok := src.(*consul.Source); !ok || s.Key() != "sentinel/app-flow-rules" {
		t.Fatalf("opened %T %v", src, src)
	}
	if _, err := src.Write(ctx, []byte("[]"), ""); err != nil {
		t.Fatal(err)
	}
	if s, err := src.Read(ctx); err != nil || string(s.Data) != "[]" {
		t.Fatalf("read back %q, %v", s.Data, err)
	}
	p["token-env"] = "RULESYNC_TEST_UNSET_TOKEN"
	if _, err := (datasource.Backends{b}).Open(context.Background(), "consul", p); !errors.Is(err, datasource.ErrBadParams) {
		t.Fatalf("unset token variable: %v", err)
	}
	delete(p, "token-env")
	p["wait-time"] = "soon"
	if _, err := (datasource.Backends{b}).Open(context.Background(), "consul", p); !errors.Is(err, datasource.ErrBadParams) {
		t.Fatalf("bad wait-time: %v", err)
	}
}
