package ruleapply_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/ruleapply"
	"github.com/rulesync/rulesync/sources/file"
)

// A datasource opened by hand joins an App: its binding reads and writes it.
func TestAppOf(t *testing.T) {
	src, err := file.New(filepath.Join(t.TempDir(), "flow.json"))
	if err != nil {
		t.Fatal(err)
	}
	ds := datasource.New(src, converter.Flow())
	defer ds.Close()
	if err := ds.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := ruleapply.BindingOf(ruleapply.Flow, ds)
	app := ruleapply.AppOf(b, ruleapply.BindingOf(ruleapply.Flow, ds))
	if len(app.Bindings()) != 1 {
		t.Fatalf("%d bindings", len(app.Bindings()))
	}
	got, ok := app.Binding(engine.FamilyFlow)
	if !ok || got.RuleType() != ruleapply.RuleType(ruleapply.Flow) {
		t.Fatal("flow binding missing")
	}
	_, tok := got.Current()
	r := flow.DefaultRule()
	r.Resource, r.Count = "x", 1
	if _, err := got.WriteIf(context.Background(), []flow.Rule{r}, tok); err != nil {
		t.Fatal(err)
	}
	if v, _ := ds.Property().Get(); len(v) != 1 {
		t.Fatalf("datasource holds %v", v)
	}
}
