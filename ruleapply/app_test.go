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
	"github.com/rulesync/rulesync/engine/base"
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

func blockedBy(t *testing.T, err error) base.Family {
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
	if _, err := e.Entry(ctx, "flow-res"); blockedBy(t, err) != base.FamilyFlow {
		t.Fatal("second flow entry not blocked by flow")
	}

	// degrade: error count > 0 opens the breaker.
	en, err = e.Entry(ctx, "deg-res")
	if err != nil {
		t.Fatal(err)
	}
	en.Exit(engine.WithError(errors.New("boom")))
	if _, err := e.Entry(ctx, "deg-res"); blockedBy(t, err) != base.FamilyDegrade {
		t.Fatal("breaker did not open after an error")
	}

	// authority: white list names "good" only.
	if _, err := e.Entry(engine.WithOrigin(ctx, "bad"), "auth-res"); blockedBy(t, err) != base.FamilyAuthority {
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
	if _, err := e.Entry(ctx, "param-res", engine.WithArgs("u1")); blockedBy(t, err) != base.FamilyParam {
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
	if _, err := e.Entry(ctx, "sys-res2", engine.Inbound()); blockedBy(t, err) != base.FamilySystem {
		t.Fatal("third concurrent inbound call not blocked by the system rule")
	}
	en2.Exit()
	en.Exit()

	if app.Gateway == nil || app.GatewayAPI == nil {
		t.Fatal("WithGateway did not bind the gateway families")
	}
	if got := app.Gateway.Status(); got.Exists {
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
		ruleapply.WithDataID(base.FamilyFlow, "custom-flow"),
		ruleapply.Without(base.FamilySystem, base.FamilyParam))
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
	if app.System != nil || app.Param != nil {
		t.Fatal("skipped families were bound")
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
	cases := map[base.Family]string{
		base.FamilyFlow: "x-flow-rules", base.FamilyDegrade: "x-degrade-rules", base.FamilySystem: "x-system-rules",
		base.FamilyAuthority: "x-authority-rules", base.FamilyParam: "x-param-rules",
		base.FamilyGateway: "x-gateway-flow-rules", ruleapply.FamilyGatewayAPI: "x-gateway-api-rules",
	}
	for f, want := range cases {
		if got := ruleapply.DataID("x", f); got != want {
			t.Errorf("DataID(%s) = %q, want %q", f, got, want)
		}
	}
}
