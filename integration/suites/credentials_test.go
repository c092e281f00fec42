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
