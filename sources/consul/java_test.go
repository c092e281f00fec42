package consul_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/datasource/sourcetest"
	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/consul"
	"github.com/rulesync/rulesync/sources/consul/consultest"
)

// javaRules is the read mode's rules line (integration/java/README.md).
type javaRules struct {
	Event string          `json:"event"`
	Cause string          `json:"cause"`
	Rules json.RawMessage `json:"rules"`
}

func nextJavaRules(ctx context.Context, t *testing.T, p *harness.JavaProc) javaRules {
	t.Helper()
	for {
		raw, err := p.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for Java's rules: %v\n%s", err, p.Logs())
		}
		var l javaRules
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatalf("line %s: %v", raw, err)
		}
		if l.Event == "rules" {
			return l
		}
	}
}

// A Java Sentinel app reading the key with sentinel-datasource-consul sees
// what a rulesync datasource writes there, with the same meaning; and what
// Java's Consul client writes reaches the rulesync source's watch.
func TestJavaSentinelReadsWhatWeWrite(t *testing.T) {
	srv := harness.Consul(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, port, _ := net.SplitHostPort(srv.Addr)
	const key = "sentinel/interop-flow-rules"
	src, err := consul.New(consultest.Client(t, srv), "/"+key)
	if err != nil {
		t.Fatal(err)
	}
	ds := datasource.New(src, converter.Flow(), datasource.WithLogger(slog.New(slog.DiscardHandler)))
	t.Cleanup(func() { ds.Close() })
	if err := ds.Start(ctx); err != nil {
		t.Fatal(err)
	}
	rule := flow.DefaultRule()
	rule.Resource, rule.Count = "GET:/orders", 7
	if err := ds.Write(ctx, []flow.Rule{rule}); err != nil {
		t.Fatal(err)
	}

	args := []string{"--backend=consul", "--port=" + port, "--key=" + key, "--watch-timeout-sec=1"}
	rd := harness.Java(t, "read", append([]string{"--family=flow"}, args...)...)
	if l := nextJavaRules(ctx, t, rd); l.Cause != "load" || !strings.Contains(string(l.Rules), `"resource":"GET:/orders"`) || !strings.Contains(string(l.Rules), `"count":7.0`) {
		t.Fatalf("Java loaded %s %s, want the rule we wrote", l.Cause, l.Rules)
	}

	// An update through Update (read, change, check-and-set), rate limiter
	// with a queueing time: Java must read the same behaviour.
	err = datasource.Update(ctx, ds, func(cur []flow.Rule) ([]flow.Rule, error) {
		r := flow.DefaultRule()
		r.Resource, r.Count = "GET:/users", 3
		r.ControlBehavior, r.MaxQueueingTimeMs = base.BehaviorRateLimiter, 250
		return append(cur, r), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	l := nextJavaRules(ctx, t, rd)
	for _, want := range []string{`"resource":"GET:/orders"`, `"resource":"GET:/users"`, `"controlBehavior":2`, `"maxQueueingTimeMs":250`} {
		if l.Cause != "update" || !strings.Contains(string(l.Rules), want) {
			t.Fatalf("Java holds %s %s, want %s", l.Cause, l.Rules, want)
		}
	}
	t.Logf("Java holds %s", l.Rules)

	// The other way: Java's Consul client writes, our watch sees it.
	w := sourcetest.Watch(t, src, datasource.Snapshot{})
	if got := w.Next(t); !strings.Contains(string(got.Data), "GET:/users") {
		t.Fatalf("first emit %q", got.Data)
	}
	pub := harness.Java(t, "publish", args...)
	var res struct{ OK bool }
	if err := pub.Call(ctx, `put [{"resource":"from-java","count":1}]`, &res); err != nil || !res.OK {
		t.Fatalf("Java put: %+v %v", res, err)
	}
	if got := w.Next(t); string(got.Data) != `[{"resource":"from-java","count":1}]` {
		t.Fatalf("watch emitted %q, want Java's payload", got.Data)
	}
}
