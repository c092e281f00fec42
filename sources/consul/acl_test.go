package consul_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/consul"
)

// Default deny: a token scoped to the rules prefix reads, watches and writes
// there; a read-only token and no token get errors that name the missing
// permission; no secret appears in any error or log line.
func TestACLTokens(t *testing.T) {
	// The anonymous source below must not pick a token up from the environment.
	t.Setenv("CONSUL_HTTP_TOKEN", "")
	t.Setenv("CONSUL_HTTP_TOKEN_FILE", "")
	srv := harness.Consul(t, harness.WithACL())
	rw := srv.PrefixToken(t, "sentinel/", harness.KeyWrite)
	ro := srv.PrefixToken(t, "sentinel/", harness.KeyRead)
	ctx := ctxT(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dial := func(cfg consul.Config, key string) *consul.Source {
		t.Helper()
		cfg.Address = srv.Addr
		logger.Info("dial", "config", cfg)
		s, err := consul.Dial(ctx, cfg, key, consul.WithLogger(logger))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	var errs []error

	writer := dial(consul.Config{Token: rw}, "/sentinel/app-flow-rules")
	w, err := writer.Write(ctx, []byte("[]"), "")
	if err != nil {
		t.Fatalf("write with the prefix token: %v", err)
	}
	if got, err := writer.Read(ctx); err != nil || string(got.Data) != "[]" || got.Revision != w.Revision {
		t.Fatalf("read back %+v %v", got, err)
	}
	outside := dial(consul.Config{Token: rw}, "other/app-flow-rules")
	_, err = outside.Write(ctx, []byte("[]"), datasource.AnyRevision)
	checkDenied(t, err, "Permission denied: token with AccessorID '"+srv.Accessor(rw)+"' lacks permission 'key:write' on \"other/app-flow-rules\"")
	errs = append(errs, err)

	// The read-only token from a file, as operators hand tokens to services.
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(ro+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reader := dial(consul.Config{TokenFile: file}, "sentinel/app-flow-rules")
	if got, err := reader.Read(ctx); err != nil || string(got.Data) != "[]" {
		t.Fatalf("read with the read-only token: %+v %v", got, err)
	}
	for _, op := range []func() error{
		func() error { _, err := reader.Write(ctx, []byte("[1]"), w.Revision); return err },
		func() error { _, err := reader.Write(ctx, []byte("[1]"), datasource.AnyRevision); return err },
		func() error { return reader.Delete(ctx, w.Revision) },
	} {
		err := op()
		checkDenied(t, err, "Permission denied: token with AccessorID '"+srv.Accessor(ro)+"' lacks permission 'key:write' on \"sentinel/app-flow-rules\"")
		errs = append(errs, err)
	}

	anon := dial(consul.Config{}, "sentinel/app-flow-rules")
	_, err = anon.Read(ctx)
	checkDenied(t, err, "lacks permission 'key:read' on \"sentinel/app-flow-rules\"")
	errs = append(errs, err)
	err = anon.Watch(ctx, datasource.Snapshot{}, func(datasource.Snapshot) { t.Error("anonymous watch emitted") })
	checkDenied(t, err, "lacks permission 'key:read'")
	errs = append(errs, err)

	unknown := dial(consul.Config{Token: "5d2f4c43-9c1e-4a8e-b0c6-2f6f0f0c4b1a"}, "sentinel/app-flow-rules")
	_, err = unknown.Read(ctx)
	checkDenied(t, err, "ACL not found: the token is not known to Consul")
	errs = append(errs, err)
	_, err = unknown.Write(ctx, []byte("x"), datasource.AnyRevision)
	checkDenied(t, err, "ACL not found: the token is not known to Consul")
	errs = append(errs, err)

	for _, err := range errs {
		t.Log(err)
		for _, secret := range []string{rw, ro, srv.Token, "5d2f4c43-9c1e-4a8e-b0c6-2f6f0f0c4b1a"} {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error quotes a token: %v", err)
			}
		}
	}
	for _, secret := range []string{rw, ro} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("logs quote a token:\n%s", logs.String())
		}
	}
}

func checkDenied(t *testing.T, err error, want string) {
	t.Helper()
	if !errors.Is(err, consul.ErrPermissionDenied) || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want ErrPermissionDenied saying %q", err, want)
	}
}

// CONSUL_HTTP_TOKEN is the default token, as for Consul's own tools.
func TestTokenFromEnvironment(t *testing.T) {
	srv := harness.Consul(t, harness.WithACL())
	rw := srv.PrefixToken(t, "sentinel/", harness.KeyWrite)
	t.Setenv("CONSUL_HTTP_TOKEN", rw)
	t.Setenv("CONSUL_HTTP_ADDR", srv.Addr)
	s, err := consul.Dial(ctxT(t), consul.Config{}, "sentinel/env")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Write(ctxT(t), []byte("[]"), ""); err != nil {
		t.Fatalf("write with the token from CONSUL_HTTP_TOKEN: %v", err)
	}
	if got := s.Redact("token " + rw); strings.Contains(got, rw) {
		t.Fatalf("Redact left the token in %q", got)
	}
}
