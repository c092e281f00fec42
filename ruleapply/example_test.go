package ruleapply_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/ruleapply"
	"github.com/rulesync/rulesync/sources/file"
)

// The README's "Using it" section, runnable: a file of flow rules bound to an
// engine, a protected call, and a compare-and-set write back.
func ExampleBind() {
	dir, _ := os.MkdirTemp("", "rulesync-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "flow-rules.json")
	os.WriteFile(path, []byte(`[{"resource":"GET:/orders","count":1}]`), 0o644)

	e := engine.New()
	defer e.Close()
	src, err := file.New(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	ds := datasource.New(src, converter.Flow(), datasource.WithSnapshotDir(filepath.Join(dir, "snapshots")))
	unbind := ruleapply.Bind(ds.Property(), e.Flow())
	defer unbind()
	ctx := context.Background()
	if err := ds.Start(ctx); err != nil {
		fmt.Println(err)
	}
	defer ds.Close()

	call := func() string {
		en, err := e.Entry(engine.WithOrigin(ctx, "web"), "GET:/orders", engine.Inbound())
		if err != nil {
			var be *engine.BlockError
			if errors.As(err, &be) {
				return "429 (" + string(be.Family) + ")"
			}
			return err.Error()
		}
		defer en.Exit()
		return "200"
	}
	fmt.Println(call(), call())

	err = datasource.Update(ctx, ds, func(cur []flow.Rule) ([]flow.Rule, error) {
		r := flow.DefaultRule()
		r.Resource, r.Count = "GET:/search", 100
		return append(cur, r), nil
	})
	fmt.Println("update:", err, "rules in force:", len(e.Flow().Rules()))
	// Output:
	// 200 429 (flow)
	// update: <nil> rules in force: 2
}
