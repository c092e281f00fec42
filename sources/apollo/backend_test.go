package apollo_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/apollo"
)

// TestBackendOpensFromParams opens a source from text parameters, as a
// startup file gives them, with the secret and the token in environment
// variables, and checks that it reads and writes.
func TestBackendOpensFromParams(t *testing.T) {
	const secret = "s3cret-backend-key"
	srv := harness.ApolloProtocol(t, harness.WithApolloSecret("bk-app", secret))
	srv.AddNamespace("bk-app", "default", "application")
	t.Setenv("RULESYNC_TEST_APOLLO_SECRET", secret)
	t.Setenv("RULESYNC_TEST_APOLLO_TOKEN", srv.Token)
	b := apollo.Backend()
	p := b.DataID(datasource.Params{
		"config-server": srv.URL, "app-id": "bk-app", "portal": srv.URL,
		"secret-env": "RULESYNC_TEST_APOLLO_SECRET", "token-env": "RULESYNC_TEST_APOLLO_TOKEN",
		"health-check": "5s",
	}, "bk-app-flow-rules")
	if p["key"] != "bk-app-flow-rules" {
		t.Fatalf("DataID key = %q", p["key"])
	}
	ctx := ctxT(t)
	src, err := datasource.Backends{b}.Open(ctx, "apollo", p)
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
	if desc := src.(interface{ String() string }).String(); strings.Contains(desc, secret) || strings.Contains(desc, srv.Token) {
		t.Fatalf("description holds a credential: %s", desc)
	}
	p["token-env"] = "RULESYNC_TEST_UNSET_TOKEN"
	if _, err := (datasource.Backends{b}).Open(context.Background(), "apollo", p); !errors.Is(err, datasource.ErrBadParams) {
		t.Fatalf("unset token variable: %v", err)
	}
	if err := (datasource.Backends{b}).Check("apollo", datasource.Params{"config-server": srv.URL, "app-id": "x", "keyy": "k"}); !errors.Is(err, datasource.ErrBadParams) ||
		!strings.Contains(err.Error(), `did you mean "key"`) {
		t.Fatalf("misspelt key: %v", err)
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  apollo.Config
		want string
	}{
		{"no server", apollo.Config{AppID: "a", Key: "k"}, "required"},
		{"no key", apollo.Config{ConfigServer: "http://127.0.0.1:1", AppID: "a"}, "required"},
		{"yaml namespace", apollo.Config{ConfigServer: "http://127.0.0.1:1", AppID: "a", Key: "k", Namespace: "rules.yaml"}, "yaml"},
		{"portal without token", apollo.Config{ConfigServer: "http://127.0.0.1:1", AppID: "a", Key: "k", Portal: "http://127.0.0.1:2"}, "token"},
	} {
		if _, err := apollo.Open(context.Background(), tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
