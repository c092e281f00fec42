package suites

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/internal/syncbuf"
	"github.com/rulesync/rulesync/sources/consul"
	"github.com/rulesync/rulesync/sources/etcd"
	"github.com/rulesync/rulesync/sources/redis"
)

// leakCheck collects every text a password could hide in.
type leakCheck struct {
	password string
	logs     syncbuf.Buffer
	logger   *slog.Logger
	mu       sync.Mutex
	texts    []string
}

func newLeakCheck(password string) *leakCheck {
	l := &leakCheck{password: password}
	l.logger = slog.New(slog.NewTextHandler(&l.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return l
}

func (l *leakCheck) err(err error) {
	if err != nil {
		l.mu.Lock()
		l.texts = append(l.texts, err.Error())
		l.mu.Unlock()
	}
}

func (l *leakCheck) observer() datasource.Option {
	return datasource.WithObserver(datasource.ObserverFunc(func(ev datasource.Event) { l.err(ev.Err) }))
}

func (l *leakCheck) verify(t *testing.T, ds *datasource.DataSource[[]flow.Rule]) {
	t.Helper()
	if ds != nil {
		l.err(ds.Status().LastError)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.texts) == 0 {
		t.Fatal("no error was produced: the check proves nothing")
	}
	for _, s := range append(l.texts, l.logs.String()) {
		if strings.Contains(s, l.password) {
			t.Fatalf("password leaked in: %s", s)
		}
	}
}

func TestRedisPasswordNeverLeaks(t *testing.T) {
	const password = "Redis-pw-4f1e9c-must-not-leak"
	srv := harness.Redis(t, harness.WithPassword(password))
	ctx := opCtx(t)
	lc := newLeakCheck(password)
	opts := &goredis.UniversalOptions{Addrs: []string{srv.Addr}, Password: password, MaxRetries: -1}

	// A wrong password fails clearly, without the password.
	bad := *opts
	bad.Password = password + "-wrong"
	_, err := redis.Dial(ctx, &bad, "k", "c", redis.WithLogger(lc.logger))
	if err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("dial with a wrong password: %v, want a WRONGPASS error", err)
	}
	lc.err(err)

	src, err := redis.Dial(ctx, opts, "secured-flow-rules", "secured-flow-rules-channel", redis.WithLogger(lc.logger))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	r := startRig(t, src, datasource.WithLogger(lc.logger), lc.observer())
	rule := flow.DefaultRule()
	rule.Resource = "secured"
	if err := r.ds.Write(ctx, []flow.Rule{rule}); err != nil {
		t.Fatal(err)
	}
	// Errors while the server is down go to events, status and logs.
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	r.waitEvent(t, datasource.SourceError)
	lc.err(r.ds.Write(ctx, []flow.Rule{rule, rule}))
	lc.verify(t, r.ds)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	lc.verify(t, r.ds)
}

func TestEtcdPasswordNeverLeaks(t *testing.T) {
	const password = "Etcd-pw-7b2d11-must-not-leak"
	srv := harness.Etcd(t, harness.WithPassword(password))
	ctx := opCtx(t)
	lc := newLeakCheck(password)
	cfg := etcd.Config{Endpoints: srv.Endpoints, Username: srv.User, Password: password, DialTimeout: 5 * time.Second}

	bad := cfg
	bad.Password = password + "-wrong"
	_, err := etcd.Dial(ctx, bad, "/k", etcd.WithLogger(lc.logger))
	if err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("dial with a wrong password: %v, want an authentication error", err)
	}
	lc.err(err)
	lc.logger.Info("dialing", "config", cfg)

	src, err := etcd.Dial(ctx, cfg, "/secured/flow-rules", etcd.WithLogger(lc.logger))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	r := startRig(t, src, datasource.WithLogger(lc.logger), lc.observer())
	rule := flow.DefaultRule()
	rule.Resource = "secured"
	if err := r.ds.Write(ctx, []flow.Rule{rule}); err != nil {
		t.Fatal(err)
	}
	// A datasource on a client without credentials is refused by the server.
	anon, err := etcd.Dial(ctx, etcd.Config{Endpoints: srv.Endpoints}, "/secured/flow-rules")
	if err == nil {
		ds := datasource.New(anon, converter.Flow(), datasource.WithLogger(lc.logger), lc.observer())
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		lc.err(ds.Start(sctx))
		cancel()
		ds.Close()
	} else {
		lc.err(err)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	err = r.ds.Write(wctx, []flow.Rule{rule, rule})
	cancel()
	if err == nil {
		t.Fatal("write to a dead server succeeded")
	}
	lc.err(err)
	lc.verify(t, r.ds)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Read(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		lc.err(err)
	}
	lc.verify(t, r.ds)
}

// Consul with default-deny ACLs: a token scoped to the rules prefix reads,
// watches and writes through a datasource; a read-only token's write fails
// with an error naming the missing permission; no token, management token
// included, appears in errors, events, status or logs, also while the
// server is down.
func TestConsulTokenNeverLeaks(t *testing.T) {
	t.Setenv("CONSUL_HTTP_TOKEN", "")
	t.Setenv("CONSUL_HTTP_TOKEN_FILE", "")
	srv := harness.Consul(t, harness.WithACL())
	rw := srv.PrefixToken(t, "sentinel/", harness.KeyWrite)
	ro := srv.PrefixToken(t, "sentinel/", harness.KeyRead)
	ctx := opCtx(t)
	const key = "sentinel/secured-flow-rules"
	lc := newLeakCheck(rw)
	dial := func(token string) *consul.Source {
		t.Helper()
		cfg := consul.Config{Address: srv.Addr, Token: token}
		lc.logger.Info("dialing", "config", cfg)
		s, err := consul.Dial(ctx, cfg, key, consul.WithLogger(lc.logger), consul.WithRequestTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	r := startRig(t, dial(rw), datasource.WithLogger(lc.logger), lc.observer())
	rule := flow.DefaultRule()
	rule.Resource = "secured"
	if err := r.ds.Write(ctx, []flow.Rule{rule}); err != nil {
		t.Fatal(err)
	}
	reader := startRig(t, dial(ro), datasource.WithLogger(lc.logger), lc.observer())
	reader.waitResources(t, "secured")
	err := reader.ds.Write(ctx, []flow.Rule{rule, rule})
	if !errors.Is(err, consul.ErrPermissionDenied) || !strings.Contains(err.Error(), "lacks permission 'key:write' on \""+key+"\"") {
		t.Fatalf("write with the read-only token: %v, want the missing key:write named", err)
	}
	lc.err(err)
	for _, token := range []string{"", "3f1c7a52-0d6e-4b59-9a43-8e2b7c6d5f10"} {
		anon := datasource.New(dial(token), converter.Flow(), datasource.WithLogger(lc.logger), lc.observer())
		serr := anon.Start(ctx)
		if !errors.Is(serr, consul.ErrPermissionDenied) {
			t.Fatalf("start with token %q: %v, want ErrPermissionDenied", token, serr)
		}
		lc.err(serr)
		anon.Close()
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	r.waitEvent(t, datasource.SourceError)
	lc.err(r.ds.Write(ctx, []flow.Rule{rule, rule}))
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	r.waitEvent(t, datasource.Reconnected)
	for _, secret := range []string{rw, ro, srv.Token} {
		lc.password = secret
		lc.verify(t, r.ds)
		lc.verify(t, reader.ds)
	}
}
