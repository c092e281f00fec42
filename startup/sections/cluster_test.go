package sections_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine/cluster"
	"github.com/rulesync/rulesync/engine/cluster/tokenclient"
	"github.com/rulesync/rulesync/engine/cluster/tokenserver"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/property"
	"github.com/rulesync/rulesync/ruleapply"
	"github.com/rulesync/rulesync/startup/sections"
)

// clusterRules is one cluster flow rule (flowId 7) of a GLOBAL threshold of
// 2 over a 10 s window: the server lets 10*2 - 9 = 11 requests through in
// the window, whoever asks; checked locally (the fallback) it lets 2 per
// second through on each instance.
const clusterRules = `[{"resource":"pay","count":2,"grade":1,"clusterMode":true,` +
	`"clusterConfig":{"flowId":7,"thresholdType":1,"fallbackToLocalWhenFail":true,"windowIntervalMs":10000,"sampleCount":10}}]`

const clusterPasses = 11

// clusterFile is a startup file of app shop binding the flow rules file
// rules, with the cluster section given.
func clusterFile(rules, section string) string {
	return fmt.Sprintf("app: shop\ndatasource:\n  flow:\n    file: {file: %s, rule-type: flow}\ncluster:\n%s", rules, section)
}

// startTokenServer starts a token server on a free loopback port serving
// namespace shop with the rules of clusterRules, decoded as the file
// datasource decodes them.
func startTokenServer(t *testing.T, rules []flow.Rule) *tokenserver.Server {
	t.Helper()
	s, err := tokenserver.New(tokenserver.WithLogger(quiet), tokenserver.WithListenHost("127.0.0.1"),
		tokenserver.WithNamespaces(property.New(property.WithInitial([]string{"shop"}))),
		tokenserver.WithTransportConfig(property.New(property.WithInitial(cluster.TransportConfig{Port: 0, IdleSeconds: 600}))))
	if err != nil {
		t.Fatal(err)
	}
	nr, ok := s.Rules("shop")
	if !ok {
		t.Fatal("namespace shop not served")
	}
	nr.Flow.Update(rules)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Two instances opened from startup files in mode client share the token
// server's threshold: together they get the server's 11 passes, not 2 per
// second each. With the server gone they fall back to checking locally.
func TestClusterClient(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "flow-rules.json")
	write(t, rules, clusterRules)
	// The server reads the same rules the clients do (its own copy of them,
	// as a standalone server reading the config center would).
	a := open(t, dir, "probe.yaml", clusterFile(rules, "  mode: client\n  servers: 127.0.0.1:1\n"))
	srv := startTokenServer(t, a.Engine().Flow().Rules())
	a.Close()

	section := fmt.Sprintf("  mode: client\n  servers: [%s]\n  request-timeout: 2s\n", srv.Addr())
	opts := sections.Cluster(sections.WithTokenClientOptions(tokenclient.WithBackoff(10*time.Millisecond, 50*time.Millisecond)))
	h1 := open(t, dir, "one.yaml", clusterFile(rules, section), opts)
	h2 := open(t, dir, "two.yaml", clusterFile(rules, section), opts)
	eventually(t, "both clients connected", func() bool { return srv.ConnectedCount("shop") == 2 })

	got := 0
	for range 10 {
		got += passes(t, h1.Engine(), "pay", 1) + passes(t, h2.Engine(), "pay", 1)
	}
	if got != clusterPasses {
		t.Fatalf("%d of 20 requests passed on two instances; the token server lets %d through", got, clusterPasses)
	}

	srv.Close()
	eventually(t, "the local fallback", func() bool { return passes(t, h1.Engine(), "pay", 1) == 1 })
	if p := passes(t, h1.Engine(), "pay", 10); p > 4 {
		t.Fatalf("%d of 10 passed: the local fallback holds 2 per second", p)
	}

	// The Handle closes the client (and unsets it) without an error.
	if err := h1.Close(); err != nil {
		t.Fatal(err)
	}
	h2.Close()
}

// Mode server embeds a token server serving the app's namespace from the
// file's own flow datasource: the instance itself and a client instance
// share its threshold.
func TestClusterServer(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "flow-rules.json")
	write(t, rules, clusterRules)
	server := open(t, dir, "server.yaml", clusterFile(rules, "  mode: server\n  host: 127.0.0.1\n  port: 0\n"))
	f, ok := server.Section(sections.ClusterKey)
	if !ok {
		t.Fatal("no token server started")
	}
	addr := f.(*ruleapply.TokenServer).Server().Addr().String()
	client := open(t, dir, "client.yaml", clusterFile(rules, fmt.Sprintf("  mode: client\n  servers: %s\n  request-timeout: 2s\n", addr)),
		sections.Cluster(sections.WithTokenClientOptions(tokenclient.WithBackoff(10*time.Millisecond, 50*time.Millisecond))))
	eventually(t, "the client connected", func() bool {
		f, _ := client.Section(sections.ClusterKey)
		return f.(*sections.TokenClient).State().ClientState == tokenclient.StateStarted
	})
	if f, ok := server.Section(sections.ClusterKey); !ok || f.(*ruleapply.TokenServer).Server().ConnectedCount("shop") != 1 {
		t.Fatal("the embedded server does not count the client")
	}
	got := 0
	for range 10 {
		got += passes(t, server.Engine(), "pay", 1) + passes(t, client.Engine(), "pay", 1)
	}
	if got != clusterPasses {
		t.Fatalf("%d of 20 requests passed on two instances; the embedded server lets %d through", got, clusterPasses)
	}
}
