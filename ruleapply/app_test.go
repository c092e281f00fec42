package ruleapply_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/degrade"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/ruleapply"
	"github.com/rulesync/rulesync/sources/file"
)

func dirFactory(dir string) ruleapply.SourceFactory {
	return func(_ context.Context, id string) (datasource.Source, error) {
		return file.New(filepath.Join(dir, id+".json"))
	}
}

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func blockedBy(t *testing.T, err error) engine.Family {
	t.Helper()
	var be *engine.BlockError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want a block error", err)
	}
	return be.Family
}

// TestBindAppAllFamilies writes one payload per family under the dashboard's
// data ids and checks that each family is enforced by the engine.
func TestBindAppAllFamilies(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "shop-flow-rules.json", `[{"resource":"flow-res","count":1}]`)
	write(t, dir, "shop-degrade-rules.json", `[{"resource":"deg-res","grade":2,"count":0,"timeWindow":10,"minRequestAmount":1}]`)
	write(t, dir, "shop-authority-rules.json", `[{"id":7,"app":"shop","rule":{"resource":"auth-res","limitApp":"good","strategy":0}}]`)
	write(t, dir, "shop-system-rules.json", `[{"maxThread":1}]`)
	write(t, dir, "shop-param-rules.json", `[{"resource":"param-res","paramIdx":0,"count":1}]`)
	// shop-gateway-* are absent: WithGateway binds them anyway and they start empty.

	clock := engine.NewManualClock(1_000_000)
	e := engine.New(engine.WithClock(clock))
	defer e.Close()
	app, err := ruleapply.BindApp(context.Background(), e, "shop", dirFactory(dir), ruleapply.WithGateway())
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	ctx := context.Background()

	// flow: one per second.
	en, err := e.Entry(ctx, "flow-res")
	if err != nil {
		t.Fatalf("first flow entry: %v", err)
	}
	en.Exit()
	if _, err := e.Entry(ctx, "flow-res"); blockedBy(t, err) != engine.FamilyFlow {
		t.Fatal("second flow entry not blocked by flow")
	}

	// degrade: error count > 0 opens the breaker.
	en, err = e.Entry(ctx, "deg-res")
	if err != nil {
		t.Fatal(err)
	}
	en.Exit(engine.WithError(errors.New("boom")))
	if _, err := e.Entry(ctx, "deg-res"); blockedBy(t, err) != engine.FamilyDegrade {
		t.Fatal("breaker did not open after an error")
	}

	// authority: white list names "good" only.
	if _, err := e.Entry(engine.WithOrigin(ctx, "bad"), "auth-res"); blockedBy(t, err) != engine.FamilyAuthority {
		t.Fatal("origin not on the white list passed")
	}
	en, err = e.Entry(engine.WithOrigin(ctx, "good"), "auth-res")
	if err != nil {
		t.Fatalf("white-listed origin blocked: %v", err)
	}
	en.Exit()

	// param: one per second per value.
	en, err = e.Entry(ctx, "param-res", engine.WithArgs("u1"))
	if err != nil {
		t.Fatal(err)
	}
	en.Exit()
	if _, err := e.Entry(ctx, "param-res", engine.WithArgs("u1")); blockedBy(t, err) != engine.FamilyParam {
		t.Fatal("second call with the same value not blocked")
	}
	en, err = e.Entry(ctx, "param-res", engine.WithArgs("u2"))
	if err != nil {
		t.Fatalf("another value blocked: %v", err)
	}
	en.Exit()

	// system: Sentinel blocks when the inbound calls already in flight exceed
	// maxThread, so with maxThread 1 the third concurrent call is refused.
	en, err = e.Entry(ctx, "sys-res", engine.Inbound())
	if err != nil {
		t.Fatal(err)
	}
	en2, err := e.Entry(ctx, "sys-res", engine.Inbound())
	if err != nil {
		t.Fatalf("second inbound call: %v", err)
	}
	if _, err := e.Entry(ctx, "sys-res2", engine.Inbound()); blockedBy(t, err) != engine.FamilySystem {
		t.Fatal("third concurrent inbound call not blocked by the system rule")
	}
	en2.Exit()
	en.Exit()

	gw := ruleapply.DataSourceOf(app, ruleapply.GatewayFlow)
	if gw == nil || ruleapply.DataSourceOf(app, ruleapply.GatewayAPI) == nil {
		t.Fatal("WithGateway did not bind the gateway families")
	}
	if got := gw.Status(); got.Exists {
		t.Fatalf("missing gateway file reported as existing: %+v", got)
	}

	// A live edit reaches the engine: raise the flow limit.
	write(t, dir, "shop-flow-rules.json", `[{"resource":"flow-res","count":100}]`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		rules := e.Flow().Rules()
		if len(rules) == 1 && rules[0].Count == 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("edit not applied, rules = %+v", rules)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBindAppOverridesAndSkips(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "custom-flow.json", `[{"resource":"r","count":5}]`)
	e := engine.New()
	defer e.Close()
	var opened []string
	factory := func(ctx context.Context, id string) (datasource.Source, error) {
		opened = append(opened, id)
		return dirFactory(dir)(ctx, id)
	}
	app, err := ruleapply.BindApp(context.Background(), e, "svc", factory,
		ruleapply.WithDataID(engine.FamilyFlow, "custom-flow"),
		ruleapply.Without(engine.FamilySystem, engine.FamilyParam))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	want := []string{"custom-flow", "svc-degrade-rules", "svc-authority-rules"}
	if len(opened) != len(want) {
		t.Fatalf("opened %v, want %v", opened, want)
	}
	for i := range want {
		if opened[i] != want[i] {
			t.Fatalf("opened %v, want %v", opened, want)
		}
	}
	if ruleapply.DataSourceOf(app, ruleapply.System) != nil || ruleapply.DataSourceOf(app, ruleapply.Param) != nil {
		t.Fatal("skipped families were bound")
	}
	if len(app.Bindings()) != len(want) {
		t.Fatalf("%d bindings, want %d", len(app.Bindings()), len(want))
	}
	if r := e.Flow().Rules(); len(r) != 1 || r[0].Count != 5 {
		t.Fatalf("flow rules = %+v", r)
	}
}

func TestBindAppFactoryErrorClosesStarted(t *testing.T) {
	dir := t.TempDir()
	e := engine.New()
	defer e.Close()
	boom := errors.New("no such backend")
	factory := func(ctx context.Context, id string) (datasource.Source, error) {
		if id == "a-system-rules" {
			return nil, boom
		}
		return dirFactory(dir)(ctx, id)
	}
	if _, err := ruleapply.BindApp(context.Background(), e, "a", factory); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want it to wrap the factory error", err)
	}
}

func TestDataID(t *testing.T) {
	cases := map[engine.Family]string{
		engine.FamilyFlow: "x-flow-rules", engine.FamilyDegrade: "x-degrade-rules", engine.FamilySystem: "x-system-rules",
		engine.FamilyAuthority: "x-authority-rules", engine.FamilyParam: "x-param-rules",
		engine.FamilyGateway: "x-gateway-flow-rules", engine.FamilyGatewayAPI: "x-gateway-api-rules",
		engine.FamilyClusterMap: "x-cluster-map", engine.FamilyServerNamespaceSet: "x-cs-namespace-set",
		engine.FamilyServerTransport: "x-cs-transport-config", engine.FamilyServerFlow: "x-cs-flow-config",
	}
	if len(ruleapply.RuleTypes()) != len(cases) {
		t.Fatalf("%d rule types, want %d", len(ruleapply.RuleTypes()), len(cases))
	}
	for _, rt := range ruleapply.RuleTypes() {
		if got, want := rt.DataID("x"), cases[rt.Name()]; got != want {
			t.Errorf("%s: DataID = %q, want %q", rt.Name(), got, want)
		}
	}
}

// TestBindingUntypedFace writes, updates and reads rules through the untyped
// Binding of a rule type, as a dashboard command or a startup file does, and
// checks that a value of another rule type is refused without a write.
func TestBindingUntypedFace(t *testing.T) {
	dir := t.TempDir()
	e := engine.New()
	defer e.Close()
	ctx := context.Background()
	app, err := ruleapply.BindApp(ctx, e, "u", dirFactory(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	b, ok := app.Binding(engine.FamilyFlow)
	if !ok || b.RuleType() != ruleapply.RuleType(ruleapply.Flow) || b.Name() != "u-flow-rules" {
		t.Fatalf("flow binding = %v, %v", b, ok)
	}
	if err := b.Write(ctx, []flow.Rule{{Resource: "r", Grade: flow.GradeQPS, Count: 3}}); err != nil {
		t.Fatal(err)
	}
	if r := e.Flow().Rules(); len(r) != 1 || r[0].Count != 3 {
		t.Fatalf("engine rules after Write = %+v", r)
	}
	err = b.Update(ctx, func(cur any) (any, error) {
		rules := cur.([]flow.Rule)
		rules[0].Count = 4
		return rules, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := b.Value().([]flow.Rule); len(v) != 1 || v[0].Count != 4 {
		t.Fatalf("Value after Update = %+v", v)
	}
	if err := b.Write(ctx, []degrade.Rule{}); err == nil {
		t.Fatal("writing degrade rules through the flow binding succeeded")
	}
	if r := e.Flow().Rules(); len(r) != 1 || r[0].Count != 4 {
		t.Fatalf("a refused write changed the engine: %+v", r)
	}
	if _, err := ruleapply.Flow.LoadAny(e, []degrade.Rule{}); err == nil {
		t.Fatal("LoadAny took another rule type's value")
	}
	if got := ruleapply.Flow.CurrentAny(e).([]flow.Rule); len(got) != 1 {
		t.Fatalf("CurrentAny = %+v", got)
	}
}

// TestBindAppOnABackend binds an app through the backend table's file entry,
// each rule type in the file its data id names.
func TestBindAppOnABackend(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "b-flow-rules.json", `[{"resource":"r","count":2}]`)
	e := engine.New()
	defer e.Close()
	app, err := ruleapply.BindApp(context.Background(), e, "b", ruleapply.FactoryFor(file.Backend(), datasource.Params{"dir": dir}))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if r := e.Flow().Rules(); len(r) != 1 || r[0].Count != 2 {
		t.Fatalf("flow rules = %+v", r)
	}
	if n := len(app.Bindings()); n != 5 {
		t.Fatalf("%d bindings, want the 5 rule types of a plain app", n)
	}
}

// TestBindSource binds one datasource of a rule type known by name, and
// returns the binding with the error when the first read fails.
func TestBindSource(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "deg.json", `[{"resource":"deg-res","grade":2,"count":0,"timeWindow":10,"minRequestAmount":1}]`)
	e := engine.New()
	defer e.Close()
	rt, err := ruleapply.LookupRuleType("degrade")
	if err != nil {
		t.Fatal(err)
	}
	src, err := file.New(filepath.Join(dir, "deg.json"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ruleapply.BindSource(context.Background(), e, rt, "deg", src)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Name() != "deg" || b.RuleType().Name() != engine.FamilyDegrade || len(e.Degrade().Rules()) != 1 {
		t.Fatalf("binding %s of %s, engine holds %v", b.Name(), b.RuleType().Name(), e.Degrade().Rules())
	}
	if st := b.Status(); st.RuleCount != 1 {
		t.Fatalf("status %+v", st)
	}

	if _, err := ruleapply.BindSource(context.Background(), e, rt, "x", nil); err == nil {
		t.Fatal("a nil source was accepted")
	}
	failing := downSource{}
	b2, err := ruleapply.BindSource(context.Background(), e, rt, "down", failing,
		ruleapply.WithDataSourceOptions(datasource.WithInitialTimeout(50*time.Millisecond)))
	if err == nil || b2 == nil {
		t.Fatalf("a source that cannot be read: binding %v, err %v", b2, err)
	}
	b2.Close()
}

// downSource is a source whose server never answers.
type downSource struct{}

func (downSource) Read(context.Context) (datasource.Snapshot, error) {
	return datasource.Snapshot{}, errors.New("connection refused")
}

func (downSource) Watch(ctx context.Context, _ datasource.Snapshot, _ func(datasource.Snapshot)) error {
	return errors.New("connection refused")
}

func (downSource) Close() error { return nil }
