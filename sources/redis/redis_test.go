package redis_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/datasource/sourcetest"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/redis"
	"github.com/rulesync/rulesync/sources/redis/redistest"
)

const (
	key     = "sentinel.rules.flow"
	channel = "sentinel.rules.flow.channel"
	waitFor = 10 * time.Second
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newSource(t *testing.T, srv *harness.RedisServer, opts ...redis.Option) (*redis.Source, *goredis.Client) {
	t.Helper()
	c := redistest.Client(t, srv)
	s, err := redis.New(c, key, channel, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, c
}

// subscribed waits until the server counts n subscribers on the channel, so
// that a test publishes only once Watch listens.
func subscribed(t *testing.T, c *goredis.Client, n int64) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		m, err := c.PubSubNumSub(context.Background(), channel).Result()
		if err == nil && m[channel] >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("fewer than %d subscribers on %s", n, channel)
}

func TestNewRejectsBadArguments(t *testing.T) {
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	for _, tc := range []struct {
		name         string
		client       goredis.UniversalClient
		key, channel string
		want         string
	}{
		{"nil client", nil, "k", "c", "nil client"},
		{"empty key", c, "", "c", "empty key"},
		{"empty channel", c, "k", "", "empty channel"},
	} {
		if _, err := redis.New(tc.client, tc.key, tc.channel); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err=%v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := redis.Dial(context.Background(), &goredis.UniversalOptions{}, "k", "c"); err == nil {
		t.Error("Dial without addresses succeeded")
	}
}

func TestRevisionIsPayloadHash(t *testing.T) {
	a, b := datasource.ContentRevision([]byte(`[{"resource":"a"}]`)), datasource.ContentRevision([]byte(`[{"resource":"b"}]`))
	if a == b || len(a) != 64 {
		t.Fatalf("revisions %q %q: want distinct 64-hex-digit hashes", a, b)
	}
	if datasource.ContentRevision([]byte(`[{"resource":"a"}]`)) != a {
		t.Fatal("revision of equal payloads differs")
	}
}

func TestWriteCompareAndSet(t *testing.T) {
	srv := harness.Redis(t)
	s, c := newSource(t, srv)
	ctx := ctxT(t)

	if snap, err := s.Read(ctx); err != nil || snap.Exists || snap.Revision != "" {
		t.Fatalf("missing key: %+v %v", snap, err)
	}
	w1, err := s.Write(ctx, []byte("[1]"), "")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if w1.Revision != datasource.ContentRevision([]byte("[1]")) {
		t.Fatalf("revision %s is not the payload hash", w1.Revision)
	}
	if _, err := s.Write(ctx, []byte("[x]"), ""); !errors.Is(err, datasource.ErrConflict) {
		t.Fatalf("create over existing: %v, want ErrConflict", err)
	}
	w2, err := s.Write(ctx, []byte("[2]"), w1.Revision)
	if err != nil {
		t.Fatalf("write at current revision: %v", err)
	}
	if _, err := s.Write(ctx, []byte("[x]"), w1.Revision); !errors.Is(err, datasource.ErrConflict) {
		t.Fatalf("stale write: %v, want ErrConflict", err)
	}
	if got, _ := c.Get(ctx, key).Result(); got != "[2]" {
		t.Fatalf("stored %q, want [2]", got)
	}
	if _, err := s.Write(ctx, []byte("[3]"), datasource.AnyRevision); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, w2.Revision); !errors.Is(err, datasource.ErrConflict) {
		t.Fatalf("stale delete: %v, want ErrConflict", err)
	}
	if err := s.Delete(ctx, datasource.ContentRevision([]byte("[3]"))); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if n, _ := c.Exists(ctx, key).Result(); n != 0 {
		t.Fatal("key exists after Delete")
	}
}

func TestConcurrentCASLosesNothing(t *testing.T) {
	srv := harness.Redis(t)
	s, _ := newSource(t, srv)
	ctx := ctxT(t)
	sourcetest.ConcurrentCAS(t, ctx, s, 20)
}

// What Write stores is what a Java RedisDataSource expects: the payload at the
// key and the same bytes as the message.
func TestWritePublishesPayload(t *testing.T) {
	srv := harness.Redis(t)
	s, c := newSource(t, srv)
	ctx := ctxT(t)
	sub := c.Subscribe(ctx, channel)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	payload := []byte(`[{"resource":"GET:/orders","count":5}]`)
	if _, err := s.Write(ctx, payload, ""); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Payload != string(payload) {
		t.Fatalf("published %q, want %q", msg.Payload, payload)
	}
	if err := s.Delete(ctx, datasource.AnyRevision); err != nil {
		t.Fatal(err)
	}
	if msg, err := sub.ReceiveMessage(ctx); err != nil || msg.Payload != "" {
		t.Fatalf("delete published %q (%v), want an empty message", msg.Payload, err)
	}
}

func TestWatchFollowsJavaStyleWrites(t *testing.T) {
	srv := harness.Redis(t)
	s, c := newSource(t, srv)
	ctx := ctxT(t)
	from, _ := s.Read(ctx)
	// Set after the caller's Read but before Watch subscribed, without a
	// message: only the re-read on subscribe can see it.
	if err := c.Set(ctx, key, "[gap]", 0).Err(); err != nil {
		t.Fatal(err)
	}
	w := sourcetest.Watch(t, s, from)
	if got := w.Next(t); string(got.Data) != "[gap]" || !got.Exists {
		t.Fatalf("first emit %+v, want [gap]", got)
	}
	subscribed(t, c, 1)

	// A Java writer: plain MULTI / SET / PUBLISH / EXEC.
	if _, err := c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Set(ctx, key, "[java]", 0)
		p.Publish(ctx, channel, "[java]")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got := w.Next(t)
	if string(got.Data) != "[java]" || got.Revision != datasource.ContentRevision([]byte("[java]")) {
		t.Fatalf("emit %+v, want [java]", got)
	}
	// Republishing the same payload is not a change.
	c.Publish(ctx, channel, "[java]")
	w.None(t, 150*time.Millisecond)

	// A key set to "" with an empty message is an existing, empty value...
	c.Set(ctx, key, "", 0)
	c.Publish(ctx, channel, "")
	if got := w.Next(t); !got.Exists || len(got.Data) != 0 {
		t.Fatalf("empty value emitted %+v, want Exists with no data", got)
	}
	// ...while Delete is a missing key.
	if err := s.Delete(ctx, datasource.AnyRevision); err != nil {
		t.Fatal(err)
	}
	if got := w.Next(t); got.Exists {
		t.Fatalf("delete emitted %+v, want Exists=false", got)
	}
}

func TestWatchFailsWhenServerDies(t *testing.T) {
	srv := harness.Redis(t)
	s, c := newSource(t, srv)
	w := sourcetest.Watch(t, s, datasource.Snapshot{})
	subscribed(t, c, 1)
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := w.End(t); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("Watch returned %v, want a connection error", err)
	}
}

func TestWatchProbesSilentSubscription(t *testing.T) {
	srv := harness.Redis(t)
	// Long enough for a loaded machine to bring a probe back within one period.
	const period = 250 * time.Millisecond
	s, c := newSource(t, srv, redis.WithHealthCheck(period))
	w := sourcetest.Watch(t, s, datasource.Snapshot{})
	subscribed(t, c, 1)
	// Several silent periods pass, each ending in a probe that comes back:
	// Watch stays up, and the re-read after each finds nothing new.
	w.None(t, 5*period)
	c.Publish(context.Background(), channel, "[after-pings]")
	if got := w.Next(t); string(got.Data) != "[after-pings]" {
		t.Fatalf("emit %+v", got)
	}
}

func TestPasswordNeverLeaks(t *testing.T) {
	const password = "r3dis-Secret-never-logged"
	srv := harness.Redis(t, harness.WithPassword(password))
	ctx := ctxT(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	s, err := redis.Dial(ctx, &goredis.UniversalOptions{Addrs: []string{srv.Addr}, Password: password}, key, channel, redis.WithLogger(logger))
	if err != nil {
		t.Fatalf("dial with the password: %v", err)
	}
	defer s.Close()
	if _, err := s.Write(ctx, []byte("[]"), ""); err != nil {
		t.Fatal(err)
	}
	w := sourcetest.Watch(t, s, datasource.Snapshot{})
	if got := w.Next(t); string(got.Data) != "[]" {
		t.Fatalf("emit %+v", got)
	}

	var errs []error
	_, err = redis.Dial(ctx, &goredis.UniversalOptions{Addrs: []string{srv.Addr}, Password: password + "x"}, key, channel, redis.WithLogger(logger))
	errs = append(errs, err)
	_, err = s.Write(ctx, []byte("[x]"), "stale")
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		if strings.Contains(err.Error(), password) {
			t.Fatalf("error contains the password: %v", err)
		}
	}
	if strings.Contains(logs.String(), password) {
		t.Fatalf("logs contain the password: %s", logs.String())
	}
}

// A server that stops answering without closing the connection (a partition,
// a frozen host) must end Watch through the unanswered health-check ping.
func TestWatchDetectsSilentServer(t *testing.T) {
	srv := harness.Redis(t)
	s, c := newSource(t, srv, redis.WithHealthCheck(100*time.Millisecond))
	if err := c.Set(context.Background(), key, "[before]", 0).Err(); err != nil {
		t.Fatal(err)
	}
	w := sourcetest.Watch(t, s, datasource.Snapshot{})
	// The first emit comes from the read after subscribing: from here on Watch
	// only waits for messages.
	if got := w.Next(t); string(got.Data) != "[before]" {
		t.Fatalf("first emit %+v", got)
	}
	if err := srv.Pause(); err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			t.Skip("server cannot be paused:", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Resume() })
	err := w.End(t)
	// The probe's publish times out on the frozen server, or, if it got
	// through first, the probe never comes back.
	if err == nil || !strings.Contains(err.Error(), "probe") && !strings.Contains(err.Error(), "did not come back") {
		t.Fatalf("Watch returned %v, want the failed-probe error", err)
	}
}

// TestWatchRereadsKeyWhenSilent checks that a change made at the key without
// a message (a lost publish, or in a cluster the key's node restarting empty
// while the subscription lives on another node) is seen after one silent
// health-check period.
func TestWatchRereadsKeyWhenSilent(t *testing.T) {
	srv := harness.Redis(t)
	const period = 250 * time.Millisecond
	s, c := newSource(t, srv, redis.WithHealthCheck(period))
	w := sourcetest.Watch(t, s, datasource.Snapshot{})
	subscribed(t, c, 1)
	if err := c.Set(ctxT(t), key, "[unannounced]", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got := w.Next(t); string(got.Data) != "[unannounced]" || !got.Exists {
		t.Fatalf("emit %+v, want the key's new value", got)
	}
	if err := c.Del(ctxT(t), key).Err(); err != nil {
		t.Fatal(err)
	}
	if got := w.Next(t); got.Exists {
		t.Fatalf("emit %+v, want the key gone", got)
	}
	// An unchanged key is not emitted again.
	w.None(t, 3*period)
}
