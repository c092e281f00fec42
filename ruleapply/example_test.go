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
	"github.com/rulesync/rulesync/engine/cluster/tokenserver"
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

// An application that embeds its cluster token server: the datasource of
// shop-flow-rules feeds both the engine and the server, which decides the
// cluster rule for this instance and for the token clients of the others.
func ExampleBindTokenServer() {
	dir, _ := os.MkdirTemp("", "rulesync-cluster-example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "shop-flow-rules.json"), []byte(`[{"resource":"checkout","count":1,
	  "clusterMode":true,"clusterConfig":{"flowId":1,"thresholdType":1}}]`), 0o644)
	os.WriteFile(filepath.Join(dir, "shop-cs-transport-config.json"), []byte(`{"port":0}`), 0o644) // a free port
	factory := ruleapply.FactoryFor(file.Backend(), datasource.Params{"dir": dir})

	ctx := context.Background()
	e := engine.New()
	defer e.Close()
	app, err := ruleapply.BindApp(ctx, e, "shop", factory)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer app.Close()
	ts, err := ruleapply.BindTokenServer(ctx, "shop", factory, ruleapply.Embedded(app),
		ruleapply.WithServerOptions(tokenserver.WithListenHost("127.0.0.1")))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ts.Close()

	call := func() string {
		en, err := e.Entry(ctx, "checkout")
		if err != nil {
			var be *engine.BlockError
			errors.As(err, &be)
			return "429 (" + string(be.Family) + ")"
		}
		en.Exit()
		return "200"
	}
	fmt.Println(call(), call())
	st := ts.Server().Status()
	fmt.Println("embedded:", ts.Server().Info().Embedded, "namespaces:", len(st.Namespaces), "cluster flow rules of shop:", st.Namespaces[1].FlowRules)
	// Output:
	// 200 429 (flow)
	// embedded: true namespaces: 2 cluster flow rules of shop: 1
}
