package suites

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/nacos"
	"github.com/rulesync/rulesync/sources/nacos/nacostest"
)

// ---- nacos: a real Nacos, and Polaris as a second implementation of its protocol

// nacosGroup is where Sentinel's dashboard samples keep rules.
const nacosGroup = "SENTINEL_GROUP"

// configAPI is the HTTP open API both servers serve: how operators' scripts
// (and a Java app's Nacos 1.x client) change configs.
type configAPI interface {
	PutConfig(ctx context.Context, c harness.NacosConfig, content string) error
	GetConfig(ctx context.Context, c harness.NacosConfig) (string, error)
	DeleteConfig(ctx context.Context, c harness.NacosConfig) error
}

type nacosFixture struct {
	srv    harness.Server
	api    configAPI
	cfg    nacos.Config
	config harness.NacosConfig
	// casBroken, when set, says why compare-and-set cannot be tested here.
	casBroken string
}

var (
	_ raceSensitive    = (*nacosFixture)(nil)
	_ slowWriters      = (*nacosFixture)(nil)
	_ compareAndSetter = (*nacosFixture)(nil)
)

func newNacosFixture(t testing.TB, key string) fixture {
	srv := nacostest.NewServer(t)
	return &nacosFixture{srv: srv, api: srv, cfg: srv.Config(), config: harness.NacosConfig{Group: nacosGroup, DataID: key}}
}

func newPolarisFixture(t testing.TB, key string) fixture {
	srv := nacostest.NewPolaris(t)
	return &nacosFixture{
		srv: srv, api: srv, cfg: srv.Config(), config: harness.NacosConfig{Group: nacosGroup, DataID: key},
		casBroken: "Polaris v1.18.1 refuses every conditional update of an existing config, even with the current md5",
	}
}

// Source checks the connection every 2 s when the watch is quiet, so that a
// kill between notifications is noticed quickly.
func (f *nacosFixture) Source(t testing.TB) datasource.WritableSource {
	t.Helper()
	s, err := nacos.Dial(context.Background(), f.cfg, f.config.Group, f.config.DataID, nacos.WithHealthCheck(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Put publishes and waits until the server serves what it stored: both
// servers refresh the cache reads come from asynchronously (Polaris about a
// second later), and a test that starts a datasource right after a Put checks
// the initial load, not that delay.
func (f *nacosFixture) Put(t testing.TB, data []byte) {
	t.Helper()
	ctx := opCtx(t)
	if err := f.api.PutConfig(ctx, f.config, string(data)); err != nil {
		t.Fatal(err)
	}
	f.settle(t, func() bool {
		got, err := f.api.GetConfig(ctx, f.config)
		// Polaris trims surrounding white space from what it stores.
		return err == nil && strings.TrimSpace(got) == strings.TrimSpace(string(data))
	})
}

func (f *nacosFixture) Delete(t testing.TB) {
	t.Helper()
	ctx := opCtx(t)
	if err := f.api.DeleteConfig(ctx, f.config); err != nil {
		t.Fatal(err)
	}
	f.settle(t, func() bool {
		_, err := f.api.GetConfig(ctx, f.config)
		return errors.Is(err, harness.ErrNacosConfigMissing)
	})
}

func (f *nacosFixture) settle(t testing.TB, served func() bool) {
	t.Helper()
	for deadline := time.Now().Add(converge); !served(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the server does not serve its own write after %v", f.srv, converge)
		}
	}
}

func (f *nacosFixture) Server() harness.Server { return f.srv }

// AfterRestart: both servers keep their data.
func (f *nacosFixture) AfterRestart(testing.TB) {}

// raceReason: nacos-sdk-go v2.3.5 races with itself when it reconnects.
func (f *nacosFixture) raceReason() string {
	return "nacos-sdk-go v2.3.5 races with itself when it reconnects (RpcClient.reconnect writes currentConnection while Request reads it, common/remote/rpc/rpc_client.go); `make test-norace` runs this without -race"
}

// writersDeadline: the SDK lets a process read a config 5 times a second,
// listener refreshes of every datasource included, and each Update reads.
func (f *nacosFixture) writersDeadline() time.Duration { return 5 * time.Minute }

func (f *nacosFixture) compareAndSetBroken() string { return f.casBroken }

// nacosPushes records when nacos-sdk-go logs a server push ("[server-push]
// config changed"), for the propagation benchmark; the SDK's logger is
// process-wide, so the adapter goes back to slog.Default() when b ends.
func nacosPushes(b *testing.B) <-chan time.Time {
	ch := make(chan time.Time, 4096)
	nacos.SetSDKLogger(slog.New(pushRecorder{ch}))
	b.Cleanup(func() { nacos.SetSDKLogger(nil) })
	return ch
}

// pushRecorder is a slog.Handler that passes on the time of every push line.
type pushRecorder struct{ ch chan<- time.Time }

func (pushRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h pushRecorder) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "[server-push] config changed") {
		select {
		case h.ch <- r.Time:
		default:
		}
	}
	return nil
}
func (h pushRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h pushRecorder) WithGroup(string) slog.Handler      { return h }
