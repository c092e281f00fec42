package suites

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/integration/harness"
)

// BenchmarkPropagationApollo is BenchmarkPropagation's measurement for
// sources/apollo against the Apollo-protocol test server (same metrics:
// write-, peer and notify- p50/p99), once with Apollo's release-message scan
// every second ("scan-1s", what an Apollo server does) and once every 10 ms
// ("scan-10ms"): the difference is the share of Apollo's own scan interval.
// The rest is agollo (it waits 2 s after each answered poll before it polls
// again, so a change that comes in that pause waits for it) and the read
// that follows agollo's notification. Run with -benchtime 20x: each change
// takes seconds.
func BenchmarkPropagationApollo(b *testing.B) {
	for _, scan := range []time.Duration{time.Second, 10 * time.Millisecond} {
		b.Run(fmt.Sprintf("scan-%v", scan), func(b *testing.B) {
			f := &apolloFixture{srv: harness.ApolloProtocol(b, harness.WithApolloScanInterval(scan)), app: "bench", key: "bench-flow-rules"}
			f.srv.AddNamespace(f.app, apolloCluster, apolloNamespace)
			cfg := f.config()
			cfg.HealthCheck = time.Minute // notifications only
			open := func() datasource.Source {
				s, err := openApollo(b, cfg)
				if err != nil {
					b.Fatal(err)
				}
				return s
			}
			writer, _, seen := propagationPair(b, open(), open())
			ctx := context.Background()
			var write, peer, notify []time.Duration
			for i := 0; b.Loop(); i++ {
				rule := flow.DefaultRule()
				rule.Resource, rule.Count = fmt.Sprintf("bench-%d", i), 0
				w, p, _ := changeAndWait(b, ctx, writer, seen, rule)
				write, peer, notify = append(write, w), append(peer, p), append(notify, p-w)
			}
			reportPercentiles(b, "write-", write)
			reportPercentiles(b, "", peer)
			reportPercentiles(b, "notify-", notify)
		})
	}
}
