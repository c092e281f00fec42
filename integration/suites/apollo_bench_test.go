package suites

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
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
			writer := datasource.New(open(), converter.Flow())
			b.Cleanup(func() { writer.Close() })
			ctx := context.Background()
			if err := writer.Start(ctx); err != nil {
				b.Fatal(err)
			}
			reader := datasource.New(open(), converter.Flow())
			b.Cleanup(func() { reader.Close() })
			e := engine.New()
			b.Cleanup(func() { e.Close() })
			seen := make(chan string, 1024)
			reader.Property().Subscribe(func(rules []flow.Rule) {
				e.Flow().Load(rules)
				if len(rules) == 1 {
					seen <- rules[0].Resource
				}
			})
			if err := reader.Start(ctx); err != nil {
				b.Fatal(err)
			}
			var write, peer, notify []time.Duration
			for i := 0; b.Loop(); i++ {
				rule := flow.DefaultRule()
				rule.Resource, rule.Count = fmt.Sprintf("bench-%d", i), 0
				t0 := time.Now()
				err := writer.Write(ctx, []flow.Rule{rule})
				if errors.Is(err, datasource.ErrConflict) {
					err = datasource.Update(ctx, writer, func([]flow.Rule) ([]flow.Rule, error) { return []flow.Rule{rule}, nil })
				}
				if err != nil {
					b.Fatalf("write %d: %v", i, err)
				}
				write = append(write, time.Since(t0))
				timeout := time.After(converge)
			wait:
				for {
					select {
					case res := <-seen:
						if res == rule.Resource {
							break wait
						}
					case <-timeout:
						b.Fatalf("change %d not enforced by the peer within %v", i, converge)
					}
				}
				peer = append(peer, time.Since(t0))
				notify = append(notify, peer[len(peer)-1]-write[len(write)-1])
			}
			reportPercentiles(b, "write-", write)
			reportPercentiles(b, "", peer)
			reportPercentiles(b, "notify-", notify)
		})
	}
}
