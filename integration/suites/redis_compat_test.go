package suites

import (
	"encoding/json"
	"testing"

	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/redis"
	"github.com/rulesync/rulesync/sources/redis/redistest"
)

// Round trip with Java Sentinel's RedisDataSource conventions, in raw commands:
// a Java app's MULTI/SET/PUBLISH/EXEC reaches our engine, and what we write is
// a plain JSON array at the key and the very same bytes on the channel.
func TestRedisJavaRoundTrip(t *testing.T) {
	srv := harness.Redis(t)
	ctx := opCtx(t)
	const key, channel = "sentinel-flow-rules", "sentinel-flow-rules-channel"
	raw := redistest.Client(t, srv)

	src, err := redis.New(redistest.Client(t, srv), key, channel)
	if err != nil {
		t.Fatal(err)
	}
	r := startRig(t, src)

	// Inbound: the exact command sequence Java's RedisDataSource documentation
	// prescribes, on one connection.
	conn := raw.Conn()
	defer conn.Close()
	java := `[{"resource":"java-side","limitApp":"default","grade":1,"count":0,"strategy":0,"controlBehavior":0,"clusterMode":false}]`
	for _, cmd := range [][]any{
		{"MULTI"},
		{"SET", key, java},
		{"PUBLISH", channel, java},
		{"EXEC"},
	} {
		if err := conn.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v: %v", cmd[0], err)
		}
	}
	r.waitResources(t, "java-side")
	if !r.blocked(t, "java-side") {
		t.Fatal("rule published the Java way is not enforced")
	}

	// Outbound: what we write, as a raw subscriber and GET see it.
	sub := raw.Subscribe(ctx, channel)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // subscription confirmation
		t.Fatal(err)
	}
	rule := flow.DefaultRule()
	rule.Resource, rule.Count = "go-side", 7
	if err := r.ds.Write(ctx, []flow.Rule{rule}); err != nil {
		t.Fatalf("write: %v", err)
	}
	msg, err := sub.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := raw.Get(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if msg.Payload != stored {
		t.Fatalf("channel carried %q but the key holds %q", msg.Payload, stored)
	}
	var arr []map[string]any
	if err := json.Unmarshal([]byte(stored), &arr); err != nil || len(arr) != 1 {
		t.Fatalf("stored value is not a plain JSON array of one rule: %q (%v)", stored, err)
	}
	if arr[0]["resource"] != "go-side" || arr[0]["count"] != float64(7) || arr[0]["grade"] != float64(1) {
		t.Fatalf("stored rule %v lacks Sentinel's field names/values", arr[0])
	}
	r.waitResources(t, "go-side")
}
