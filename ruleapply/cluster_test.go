package ruleapply_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/cluster"
	"github.com/rulesync/rulesync/engine/cluster/tokenclient"
	"github.com/rulesync/rulesync/engine/cluster/tokenserver"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/property"
	"github.com/rulesync/rulesync/ruleapply"
	"github.com/rulesync/rulesync/sources/file"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// clusterFlowJSON is one cluster flow rule of a GLOBAL threshold, with a
// 10 s window so that counts do not depend on timing: as in Sentinel, a
// request passes while count - passes in the window / 10 - 1 >= 0, so a count
// of c lets 10c - 9 requests through (count 2: 11).
func clusterFlowJSON(resource string, flowID int, count float64) string {
	return fmt.Sprintf(`{"resource":%q,"count":%v,"grade":1,"clusterMode":true,`+
		`"clusterConfig":{"flowId":%d,"thresholdType":1,"fallbackToLocalWhenFail":true,"windowIntervalMs":10000,"sampleCount":10}}`,
		resource, count, flowID)
}

// tracker is a SourceFactory over a directory (one file per data id) that
// counts the sources it opened and those closed again.
type tracker struct {
	dir    string
	mu     sync.Mutex
	opened map[string]int
	closed map[string]int
}

func newTracker(dir string) *tracker {
	return &tracker{dir: dir, opened: map[string]int{}, closed: map[string]int{}}
}

func (tr *tracker) factory(_ context.Context, id string) (datasource.Source, error) {
	src, err := file.New(filepath.Join(tr.dir, id+".json"))
	if err != nil {
		return nil, err
	}
	tr.mu.Lock()
	tr.opened[id]++
	tr.mu.Unlock()
	return &trackedSource{WritableSource: src, tr: tr, id: id}, nil
}

// open returns the data ids whose sources are open, sorted.
func (tr *tracker) open() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var ids []string
	for id, n := range tr.opened {
		for range n - tr.closed[id] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (tr *tracker) openedCount(id string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.opened[id]
}

type trackedSource struct {
	datasource.WritableSource
	tr   *tracker
	id   string
	once sync.Once
}

func (s *trackedSource) Close() error {
	s.once.Do(func() {
		s.tr.mu.Lock()
		s.tr.closed[s.id]++
		s.tr.mu.Unlock()
	})
	return s.WritableSource.Close()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func tokenStatus(t *testing.T, ts flow.TokenService, flowID int64) base.TokenStatus {
	t.Helper()
	r, err := ts.RequestToken(context.Background(), flowID, 1, false)
	if err != nil {
		t.Fatalf("flowId %d: %v", flowID, err)
	}
	return r.Status
}

// ClusterRules opens a namespace's rule datasources when the namespace enters
// the server's set, follows their changes, and closes them when it leaves:
// no source stays open and no goroutine is left once the server closes.
func TestClusterRulesFollowTheNamespaceSet(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a-flow-rules.json", "["+clusterFlowJSON("ra", 1, 2)+"]")
	write(t, dir, "b-param-rules.json", `[{"resource":"rb","count":1,"grade":1,"paramIdx":0,"clusterMode":true,`+
		`"clusterConfig":{"flowId":2,"thresholdType":1,"windowIntervalMs":10000,"sampleCount":10}}]`)
	tr := newTracker(dir)
	before := runtime.NumGoroutine()
	nsSet := property.New[[]string]()
	s, err := tokenserver.New(tokenserver.WithLogger(quiet), tokenserver.WithNamespaces(nsSet),
		tokenserver.WithClock(engine.NewManualClock(1_000_000)),
		tokenserver.WithRuleSupplier(ruleapply.ClusterRules(context.Background(), tr.factory,
			ruleapply.WithClusterLogger(quiet), ruleapply.WithClusterDataSourceOptions(datasource.WithLogger(quiet)))))
	if err != nil {
		t.Fatal(err)
	}
	nsSet.Update([]string{"a"})
	want := []string{"a-flow-rules", "a-param-rules", "default-flow-rules", "default-param-rules"}
	if got := tr.open(); !slices.Equal(got, want) {
		t.Fatalf("open sources %v, want %v", got, want)
	}
	if n := passes(func() bool { return tokenStatus(t, s, 1) == base.TokenOK }, 20); n != 11 {
		t.Fatalf("count 2 over 10 s: %d of 20 passed, want 11", n)
	}
	// A change of the namespace's rules reaches the server.
	write(t, dir, "a-flow-rules.json", "["+clusterFlowJSON("ra", 1, 5)+"]")
	eventually(t, "the new count", func() bool { return tokenStatus(t, s, 1) == base.TokenOK })

	nsSet.Update([]string{"b"})
	want = []string{"b-flow-rules", "b-param-rules", "default-flow-rules", "default-param-rules"}
	if got := tr.open(); !slices.Equal(got, want) {
		t.Fatalf("after dropping a: open sources %v, want %v", got, want)
	}
	if st := tokenStatus(t, s, 1); st != base.TokenNoRuleExists {
		t.Fatalf("namespace a dropped: flowId 1 is %v, want NO_RULE_EXISTS", st)
	}
	r, err := s.RequestParamToken(context.Background(), 2, 1, []any{"x"})
	if err != nil || r.Status != base.TokenOK {
		t.Fatalf("namespace b's param rule: %+v %v", r, err)
	}
	for i := range 20 { // namespaces coming and going
		nsSet.Update([]string{fmt.Sprintf("n%d", i)})
	}
	if n := len(tr.open()); n != 4 {
		t.Fatalf("%d sources open with 2 namespaces served: %v", n, tr.open())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := tr.open(); len(got) != 0 {
		t.Fatalf("sources still open after Close: %v", got)
	}
	waitGoroutines(t, before)
}

// A factory with no source for a data id (ErrNoSource) leaves that rule type
// out; any other factory error fails the namespace, which the server reports.
func TestClusterRulesFactoryErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a-flow-rules.json", "["+clusterFlowJSON("ra", 1, 2)+"]")
	boom := errors.New("config center refused the parameters")
	factory := func(ctx context.Context, id string) (datasource.Source, error) {
		switch id {
		case "a-param-rules", "default-flow-rules", "default-param-rules":
			return nil, fmt.Errorf("nothing there: %w", ruleapply.ErrNoSource)
		case "b-flow-rules":
			return nil, boom
		}
		return dirFactory(dir)(ctx, id)
	}
	s, err := tokenserver.New(tokenserver.WithLogger(quiet),
		tokenserver.WithNamespaces(property.New(property.WithInitial([]string{"a", "b"}))),
		tokenserver.WithRuleSupplier(ruleapply.ClusterRules(context.Background(), factory, ruleapply.WithClusterLogger(quiet),
			ruleapply.WithClusterDataSourceOptions(datasource.WithLogger(quiet)))))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if nr, _ := s.Rules("a"); nr.Flow == nil || nr.Param != nil {
		t.Fatalf("namespace a: flow %v, param %v; want flow rules only", nr.Flow, nr.Param)
	}
	st := s.Status()
	i := slices.IndexFunc(st.Namespaces, func(n tokenserver.NamespaceStatus) bool { return n.Namespace == "b" })
	if i < 0 || !strings.Contains(st.Namespaces[i].Error, boom.Error()) {
		t.Fatalf("status %+v: want namespace b with the factory's error", st)
	}
}

// serverFiles writes what a token server named name reads: its namespace set
// and a transport config on a free port.
func serverFiles(t *testing.T, dir, name string, namespaces string) {
	t.Helper()
	write(t, dir, name+"-cs-namespace-set.json", namespaces)
	write(t, dir, name+"-cs-transport-config.json", `{"port":0,"idleSeconds":600}`)
}

// An embedded token server serves its application's namespace from the
// application's own datasources: one datasource feeds the engine and the
// server, so both always hold the same cluster rules, and the engine's calls
// are decided (and counted) by the server.
func TestEmbeddedServerSharesTheAppDatasource(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "orders-flow-rules.json", "["+clusterFlowJSON("create-order", 7, 2)+"]")
	serverFiles(t, dir, "orders", `["orders"]`)
	tr := newTracker(dir)
	e := engine.New(engine.WithLogger(quiet))
	defer e.Close()
	ctx := context.Background()
	app, err := ruleapply.BindApp(ctx, e, "orders", tr.factory, ruleapply.WithAppLogger(quiet),
		ruleapply.WithDataSourceOptions(datasource.WithLogger(quiet)))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	ts, err := ruleapply.BindTokenServer(ctx, "orders", tr.factory, ruleapply.Embedded(app), ruleapply.WithClusterLogger(quiet),
		ruleapply.WithClusterDataSourceOptions(datasource.WithLogger(quiet)),
		ruleapply.WithServerOptions(tokenserver.WithListenHost("127.0.0.1")))
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	srv := ts.Server()
	if nr, ok := srv.Rules("orders"); !ok || nr.Flow != ruleapply.DataSourceOf(app, ruleapply.Flow).Property() {
		t.Fatal("the server's rules of namespace orders are not the app's own datasource")
	}
	if n := tr.openedCount("orders-flow-rules"); n != 1 {
		t.Fatalf("orders-flow-rules opened %d times, want once", n)
	}
	if info := srv.Info(); !info.Embedded || info.AppName != "orders" || srv.Addr() == nil {
		t.Fatalf("info %+v addr %v: want an embedded server listening", info, srv.Addr())
	}
	// The engine asks the server: its 11 passes use up the rule's count of
	// 2, so a client of another instance is blocked at once.
	pass := func() bool {
		en, err := e.Entry(ctx, "create-order")
		if err == nil {
			en.Exit()
		}
		return err == nil
	}
	if n := passes(pass, 15); n != 11 {
		t.Fatalf("%d of 15 of the engine's calls passed, want the server's 11", n)
	}
	c, err := tokenclient.New(tokenclient.WithLogger(quiet), tokenclient.WithServers(srv.Addr().String()),
		tokenclient.WithNamespace("orders"), tokenclient.WithRequestTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	eventually(t, "the client to connect", func() bool { return c.State().ClientState == tokenclient.StateStarted })
	if st := tokenStatus(t, c, 7); st != base.TokenBlocked {
		t.Fatalf("another instance after the app's two passes: %v, want BLOCKED", st)
	}
	// One edit reaches both sides; a rule removed is gone from both.
	write(t, dir, "orders-flow-rules.json", "["+clusterFlowJSON("create-order", 7, 100)+"]")
	eventually(t, "the engine and the server to see count 100", func() bool {
		r := e.Flow().Rules()
		return len(r) == 1 && r[0].Count == 100 && tokenStatus(t, srv, 7) == base.TokenOK
	})
	write(t, dir, "orders-flow-rules.json", "[]")
	eventually(t, "both sides to drop the rule", func() bool {
		return len(e.Flow().Rules()) == 0 && tokenStatus(t, srv, 7) == base.TokenNoRuleExists
	})
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	// The app's datasources are the app's: still open, still loading.
	if got := tr.open(); !slices.Contains(got, "orders-flow-rules") || slices.Contains(got, "orders-cs-namespace-set") {
		t.Fatalf("open after the server closed: %v; want the app's only", got)
	}
	write(t, dir, "orders-flow-rules.json", "["+clusterFlowJSON("create-order", 7, 3)+"]")
	eventually(t, "the app to load on", func() bool { r := e.Flow().Rules(); return len(r) == 1 && r[0].Count == 3 })
}

// A standalone token server reading the same keys as the application (its
// namespace set names the app; the app's rules are {app}-flow-rules) holds
// exactly the app's cluster rules; the app asks it through a token client.
// Dropping the namespace closes its datasources and the app falls back.
func TestStandaloneServerReadsTheAppsKeys(t *testing.T) {
	dir := t.TempDir()
	rules := func(count float64) string {
		return "[" + clusterFlowJSON("pay", 9, count) + `,{"resource":"local-only","count":1}]`
	}
	write(t, dir, "shop-flow-rules.json", rules(2))
	serverFiles(t, dir, "token-server", `["shop"]`)
	tr := newTracker(dir)
	ctx := context.Background()
	ts, err := ruleapply.BindTokenServer(ctx, "token-server", tr.factory, ruleapply.WithClusterLogger(quiet),
		ruleapply.WithClusterDataSourceOptions(datasource.WithLogger(quiet)),
		ruleapply.WithServerOptions(tokenserver.WithListenHost("127.0.0.1")))
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	srv := ts.Server()
	e := engine.New(engine.WithLogger(quiet))
	defer e.Close()
	app, err := ruleapply.BindApp(ctx, e, "shop", tr.factory, ruleapply.WithAppLogger(quiet),
		ruleapply.WithDataSourceOptions(datasource.WithLogger(quiet)))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	c, err := tokenclient.New(tokenclient.WithLogger(quiet), tokenclient.WithServers(srv.Addr().String()),
		tokenclient.WithNamespace("shop"), tokenclient.WithRequestTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e.Flow().SetTokenService(c)
	eventually(t, "the client to connect", func() bool { return c.State().ClientState == tokenclient.StateStarted })

	// Both sides hold the same cluster rules: the server's rule set is the
	// app's rules with clusterMode set.
	nr, _ := srv.Rules("shop")
	serverRules, _ := nr.Flow.Get()
	appRules := e.Flow().Rules()
	if len(serverRules) != 2 || !serverRules[0].Equal(appRules[0]) || srv.Status().Namespaces[1].FlowRules != 1 {
		t.Fatalf("server rules %+v, app rules %+v: want the same payload, one cluster rule served", serverRules, appRules)
	}
	pass := func() bool {
		en, err := e.Entry(ctx, "pay")
		if err == nil {
			en.Exit()
		}
		return err == nil
	}
	if n := passes(pass, 15); n != 11 {
		t.Fatalf("%d of 15 of the app's calls passed, want the server's 11", n)
	}
	write(t, dir, "shop-flow-rules.json", rules(50))
	eventually(t, "both sides to see count 50", func() bool {
		r := e.Flow().Rules()
		return len(r) == 2 && r[0].Count == 50 && tokenStatus(t, srv, 9) == base.TokenOK
	})

	// The server's flow config written back through its binding, as a
	// dashboard does: stored in the file and applied.
	b, ok := ts.Binding(engine.FamilyServerFlow)
	if !ok {
		t.Fatal("no flow config binding")
	}
	fc := cluster.DefaultFlowConfig()
	fc.MaxAllowedQps = 1234
	if err := b.Write(ctx, fc); err != nil {
		t.Fatal(err)
	}
	if srv.Info().Flow.MaxAllowedQps != 1234 {
		t.Fatalf("flow config in force %+v", srv.Info().Flow)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "token-server-cs-flow-config.json")); err != nil || !strings.Contains(string(data), `"maxAllowedQps": 1234`) {
		t.Fatalf("stored flow config %s, %v", data, err)
	}
	bad := fc
	bad.SampleCount = 0
	if err := b.Write(ctx, bad); !errors.Is(err, datasource.ErrInvalid) {
		t.Fatalf("an invalid flow config was written: %v", err)
	}

	// The namespace leaves the set: its datasources close, the server no
	// longer knows the rule, and the app falls back to its local check
	// (count 50, fallbackToLocalWhenFail).
	write(t, dir, "token-server-cs-namespace-set.json", `[]`)
	eventually(t, "the server's datasources of shop to close", func() bool {
		n := 0
		for _, id := range tr.open() {
			if id == "shop-flow-rules" || id == "shop-param-rules" {
				n++
			}
		}
		return n == 2 // the app's own
	})
	eventually(t, "NO_RULE_EXISTS for the dropped namespace", func() bool { return tokenStatus(t, srv, 9) == base.TokenNoRuleExists })
	if !pass() {
		t.Fatal("with the server lacking the rule, the app did not fall back to its local check")
	}
}

// passes counts the true answers of n calls.
func passes(call func() bool, n int) int {
	k := 0
	for range n {
		if call() {
			k++
		}
	}
	return k
}

// waitGoroutines waits until no more than n goroutines run.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want <= %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
