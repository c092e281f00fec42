package suites

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/nacos"
	"github.com/rulesync/rulesync/sources/nacos/nacostest"
)

// javaRules is the read mode's rules line.
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
			t.Fatalf("%s: %v", raw, err)
		}
		if l.Event == "rules" {
			return l
		}
	}
}

// Round trip with a Java Sentinel app on sentinel-datasource-nacos 1.8.9
// (its nacos-client 1.4.2 long-polls the HTTP API), both ways on one data id
// of a real Nacos with auth on: what we write is what the Java app's
// FlowRuleManager loads, and a rule it publishes with ConfigService is
// enforced by our engine.
func TestNacosJavaRoundTrip(t *testing.T) {
	const pw = "s3cret-java-pw"
	srv := nacostest.NewServer(t, harness.WithUser("rules"), harness.WithPassword(pw))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const dataID = "javaapp-flow-rules"
	args := []string{"--backend=nacos", "--server-addr=" + srv.Addr, "--group=" + nacosGroup, "--data-id=" + dataID,
		"--username=" + srv.User, "--password=" + pw}
	rd := harness.Java(t, "read", append([]string{"--family=flow"}, args...)...)
	if l := nextJavaRules(ctx, t, rd); l.Cause != "load" || string(l.Rules) != "[]" {
		t.Fatalf("Java's initial load %s %s, want []", l.Cause, l.Rules)
	}

	src, err := nacos.Dial(ctx, srv.Config(), nacosGroup, dataID)
	if err != nil {
		t.Fatal(err)
	}
	r := startRig(t, src)
	rule := flow.DefaultRule()
	rule.Resource, rule.Count, rule.ControlBehavior, rule.MaxQueueingTimeMs = "go-side", 7, base.BehaviorRateLimiter, 250
	if err := r.ds.Write(ctx, []flow.Rule{rule}); err != nil {
		t.Fatal(err)
	}
	l := nextJavaRules(ctx, t, rd)
	t.Logf("Java loaded what we wrote: %s", l.Rules)
	var got []map[string]any
	if err := json.Unmarshal(l.Rules, &got); err != nil || len(got) != 1 {
		t.Fatalf("Java holds %s (%v), want one rule", l.Rules, err)
	}
	if got[0]["resource"] != "go-side" || got[0]["count"] != float64(7) || got[0]["controlBehavior"] != float64(2) || got[0]["maxQueueingTimeMs"] != float64(250) {
		t.Fatalf("Java's rule %v is not the one we wrote", got[0])
	}

	pub := harness.Java(t, "publish", args...)
	java := `[{"resource":"java-side","limitApp":"default","grade":1,"count":0,"strategy":0,"controlBehavior":0,"clusterMode":false}]`
	if err := pub.Call(ctx, "put "+java, nil); err != nil {
		t.Fatalf("Java publish: %v\n%s", err, pub.Logs())
	}
	r.waitResources(t, "java-side")
	if !r.blocked(t, "java-side") {
		t.Fatal("the rule the Java app published is not enforced")
	}
	if st := r.ds.Status(); st.Revision != nacos.Revision([]byte(java)) {
		t.Fatalf("status revision %s, want the md5 of what Java published", st.Revision)
	}
	// And the Java reader saw its own publication too.
	if l := nextJavaRules(ctx, t, rd); !strings.Contains(string(l.Rules), `"resource":"java-side"`) {
		t.Fatalf("Java reader holds %s", l.Rules)
	}
}
