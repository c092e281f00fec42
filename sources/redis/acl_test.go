package redis_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/datasource/sourcetest"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/redis"
	"github.com/rulesync/rulesync/sources/redis/redistest"
)

// TestWatchWithChannelRestrictedUser: an ACL user allowed the rules key and
// the rules channel only (as an operator would grant a reader) cannot use
// the probe channel. Watch must still deliver changes and keep the
// subscription checked (with a ping instead of a probe) and the key re-read.
func TestWatchWithChannelRestrictedUser(t *testing.T) {
	srv := harness.Redis(t)
	admin := redistest.Client(t, srv)
	ctx := ctxT(t)
	if err := admin.Do(ctx, "ACL", "SETUSER", "reader", "on", ">reader-pw", "~"+key, "&"+channel, "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	o := redistest.Options(srv)
	o.Username, o.Password = "reader", "reader-pw"
	c := goredis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	const period = 250 * time.Millisecond
	s, err := redis.New(c, key, channel, redis.WithHealthCheck(period))
	if err != nil {
		t.Fatal(err)
	}
	w := sourcetest.Watch(t, s, datasource.Snapshot{})
	subscribed(t, admin, 1)
	w.None(t, 4*period) // silent periods pass without ending Watch
	w.Running(t)
	// Stored and published, as writers do: a re-read after a ping then finds
	// the same value.
	if err := admin.Set(ctx, key, "[restricted]", 0).Err(); err != nil {
		t.Fatal(err)
	}
	admin.Publish(context.Background(), channel, "[restricted]")
	if got := w.Next(t); string(got.Data) != "[restricted]" {
		t.Fatalf("emit %+v", got)
	}
	// A change at the key alone is still found, by the re-read after a ping.
	if err := admin.Set(ctx, key, "[unannounced]", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got := w.Next(t); string(got.Data) != "[unannounced]" {
		t.Fatalf("emit %+v, want the key's new value", got)
	}
}
