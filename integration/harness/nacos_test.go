package harness

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// eventually retries f until it succeeds or d passes, returning the last error.
func eventually(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// configAPI is what Nacos and Polaris both offer the tests.
type configAPI interface {
	PutConfig(ctx context.Context, c NacosConfig, content string) error
	GetConfig(ctx context.Context, c NacosConfig) (string, error)
	DeleteConfig(ctx context.Context, c NacosConfig) error
}

func expectConfig(ctx context.Context, s configAPI, c NacosConfig, want string) error {
	got, err := s.GetConfig(ctx, c)
	if err != nil {
		return err
	}
	if got != want {
		return errors.New("read " + got + ", want " + want)
	}
	return nil
}

// publishReadDelete checks the open API's publish, read-back and delete, the
// part both Nacos and Polaris serve the same way.
func publishReadDelete(t *testing.T, s configAPI, c NacosConfig) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.GetConfig(ctx, c); !errors.Is(err, ErrNacosConfigMissing) {
		t.Fatalf("missing config: %v, want %v", err, ErrNacosConfigMissing)
	}
	content := `[{"resource":"a","count":1}]`
	if err := s.PutConfig(ctx, c, content); err != nil {
		t.Fatal(err)
	}
	// Nacos serves reads from a cache that a publish refreshes
	// asynchronously: read-after-write is eventual.
	if err := eventually(10*time.Second, func() error { return expectConfig(ctx, s, c, content) }); err != nil {
		t.Fatalf("get after publish: %v", err)
	}
	if err := s.DeleteConfig(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := eventually(10*time.Second, func() error {
		if _, err := s.GetConfig(ctx, c); !errors.Is(err, ErrNacosConfigMissing) {
			return errors.New("still there after delete")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutConfig(ctx, c, content); err != nil {
		t.Fatal(err)
	}
}

func TestNacosOpenAPIAndRestart(t *testing.T) {
	s := Nacos(t)
	if s.GRPCPort != s.Port+1000 || s.BaseURL != "http://"+s.Addr+"/nacos" {
		t.Fatalf("addresses: port %d grpc %d base %s", s.Port, s.GRPCPort, s.BaseURL)
	}
	c := NacosConfig{Group: "SENTINEL_GROUP", DataID: "app-flow-rules"}
	publishReadDelete(t, s, c)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.CreateNamespace(ctx, "rules-ns", "rules"); err != nil {
		t.Fatal(err)
	}
	inNS := NacosConfig{Namespace: "rules-ns", Group: c.Group, DataID: c.DataID}
	if err := s.PutConfig(ctx, inNS, "[]"); err != nil {
		t.Fatal(err)
	}

	// Embedded storage persists: a SIGKILLed server restarted on the same
	// home keeps what was published.
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	defer pcancel()
	if err := s.probe(pctx); err == nil {
		t.Fatal("killed server still answers")
	}
	addr := s.Addr
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if s.Addr != addr {
		t.Fatalf("restart moved the server from %s to %s", addr, s.Addr)
	}
	if err := eventually(10*time.Second, func() error { return expectConfig(ctx, s, c, `[{"resource":"a","count":1}]`) }); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if err := eventually(10*time.Second, func() error { return expectConfig(ctx, s, inNS, "[]") }); err != nil {
		t.Fatalf("namespace config after restart: %v", err)
	}
}

func TestNacosAuth(t *testing.T) {
	s := Nacos(t, WithUser("rules-admin"), WithPassword("s3cret-pw"))
	if s.User != "rules-admin" || s.Password != "s3cret-pw" {
		t.Fatalf("credentials %q/%q", s.User, s.Password)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := s.Login(ctx, "nacos", "nacos"); !errors.Is(err, ErrNacosLogin) {
		t.Fatalf("default nacos/nacos login: %v, want %v", err, ErrNacosLogin)
	}
	_, err := s.Login(ctx, s.User, "wrong")
	if !errors.Is(err, ErrNacosLogin) || !strings.Contains(err.Error(), "user not found!") {
		t.Fatalf("wrong password login: %v, want %v saying \"user not found!\"", err, ErrNacosLogin)
	}
	// The open API as the configured user; without a token it is refused.
	c := NacosConfig{Group: "SENTINEL_GROUP", DataID: "auth-flow-rules"}
	if err := s.PutConfig(ctx, c, "[]"); err != nil {
		t.Fatal(err)
	}
	if err := eventually(10*time.Second, func() error { return expectConfig(ctx, s, c, "[]") }); err != nil {
		t.Fatal(err)
	}
	anon := nacosAPI{base: s.BaseURL}
	if code, body, err := anon.call(ctx, "GET", "/v1/cs/configs", c.form()); err != nil || code != 403 {
		t.Fatalf("anonymous read on an auth-enabled server: %d %q %v, want 403", code, body, err)
	}
	if err := s.CreateNamespace(ctx, "auth-ns", "auth"); err != nil {
		t.Fatalf("namespace as the global admin: %v", err)
	}

	// Users live in the embedded database: a restart keeps them.
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(ctx, s.User, s.Password); err != nil {
		t.Fatalf("login after restart: %v", err)
	}
}

// With java present but nothing prepared in the cache, Nacos and Polaris skip
// (or fail) and say which script prepares them.
func TestNacosAndPolarisMissingCacheSkipOrFail(t *testing.T) {
	t.Setenv(EnvCacheDir, t.TempDir()) // nothing resolved or built there
	for name, start := range map[string]func(testing.TB){
		"nacos":   func(tb testing.TB) { Nacos(tb) },
		"polaris": func(tb testing.TB) { Polaris(tb) },
	} {
		for _, tc := range []struct {
			require      string
			skip, failed bool
		}{{"", true, false}, {"1", false, true}} {
			t.Run(name+"/require="+tc.require, func(t *testing.T) {
				t.Setenv(EnvRequireServers, tc.require)
				r := run(t, start)
				if r.skipped != tc.skip || r.failed != tc.failed {
					t.Fatalf("skipped=%v failed=%v (%s), want skipped=%v failed=%v", r.skipped, r.failed, r.msg, tc.skip, tc.failed)
				}
				if !strings.Contains(r.msg, nacosSetup) {
					t.Fatalf("message %q does not name %s", r.msg, nacosSetup)
				}
			})
		}
	}
}
