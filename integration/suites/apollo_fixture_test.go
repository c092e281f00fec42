package suites

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/apollo"
)

// TestApolloSuites runs the cross-backend suites for sources/apollo against
// the project's own Apollo-protocol test server (harness.ApolloProtocol:
// config service and OpenAPI in the test's process; no real Apollo server is
// available here), its release messages scanned every second as Apollo
// does. Put and Delete edit the item as another portal user and release the
// namespace.
//
// Two writers, each a datasource with its own agollo client, append five
// unique rules each through datasource.Update, racing each other: none is
// lost.
func TestApolloConcurrentWriters(t *testing.T) {
	f := newApolloFixture(t, "apollo-writers-flow-rules")
	var rigs []*rig
	for range 2 {
		rigs = append(rigs, startRig(t, f.Source(t), datasource.WithMaxRetries(10_000)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*converge)
	defer cancel()
	var wg sync.WaitGroup
	var want []string
	for i, r := range rigs {
		var mine []string
		for j := range 5 {
			mine = append(mine, fmt.Sprintf("writer-%d-%d", i, j))
		}
		want = append(want, mine...)
		wg.Go(func() {
			for _, res := range mine {
				err := datasource.Update(ctx, r.ds, func(cur []flow.Rule) ([]flow.Rule, error) {
					rule := flow.DefaultRule()
					rule.Resource, rule.Count = res, 0
					return append(slices.Clone(cur), rule), nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for _, r := range rigs {
		r.waitResources(t, want...)
	}
}

type apolloFixture struct {
	srv      *harness.ApolloProtocolServer
	app, key string
}

const apolloCluster, apolloNamespace = "default", "application"

func newApolloFixture(t testing.TB, key string) fixture {
	f := &apolloFixture{srv: harness.ApolloProtocol(t), app: "rulesync-suite", key: key}
	// The app's namespace has a release, as an app's namespaces have once
	// anything was published; the key itself is missing.
	if err := f.srv.Set(f.app, apolloCluster, apolloNamespace, "unrelated", "x"); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Release(f.app, apolloCluster, apolloNamespace); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *apolloFixture) config() apollo.Config {
	return apollo.Config{
		ConfigServer: f.srv.URL, AppID: f.app, Cluster: apolloCluster, Namespace: apolloNamespace, Key: f.key,
		Portal: f.srv.URL, Token: f.srv.Token, Operator: f.srv.Operator,
		// agollo pauses its long poll for 30 s after a failed poll; the
		// health read brings a restarted server's changes in sooner.
		HealthCheck: 2 * time.Second,
	}
}

func (f *apolloFixture) Source(t testing.TB) datasource.WritableSource {
	s, err := openApollo(t, f.config())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openApollo opens a source on cfg, closed when t ends.
func openApollo(t testing.TB, cfg apollo.Config) (*apollo.Source, error) {
	s, err := apollo.Open(opCtx(t), cfg)
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func (f *apolloFixture) Put(t testing.TB, data []byte) {
	t.Helper()
	if err := f.srv.SetAs("alice", f.app, apolloCluster, apolloNamespace, f.key, string(data)); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Release(f.app, apolloCluster, apolloNamespace); err != nil {
		t.Fatal(err)
	}
}

func (f *apolloFixture) Delete(t testing.TB) {
	t.Helper()
	if err := f.srv.Delete(f.app, apolloCluster, apolloNamespace, f.key); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Release(f.app, apolloCluster, apolloNamespace); err != nil {
		t.Fatal(err)
	}
}

func (f *apolloFixture) Server() harness.Server { return f.srv }

// AfterRestart leaves the server down no longer than Restart took; nothing
// to add (the test server keeps its data, as Apollo's database does).
func (f *apolloFixture) AfterRestart(testing.TB) {}

// compareAndSetBroken: Apollo has no compare-and-set of its own; with many
// concurrent writers on one item, one writer's release can publish another's
// unchecked update (see sources/apollo). TestApolloConcurrentWriters races
// the two writers its checks cover.
func (*apolloFixture) compareAndSetBroken() string {
	return "Apollo has no compare-and-set: many concurrent writers can lose an update (documented in sources/apollo)"
}
