package etcd_test

import (
	"context"
	"log"
	"time"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/sources/etcd"
)

// Flow rules from an etcd key, followed as they change and written back with
// compare-and-set.
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	src, err := etcd.Dial(ctx, etcd.Config{
		Endpoints: []string{"http://127.0.0.1:2379"},
		Username:  "app", Password: "from-a-secret-store",
	}, "/sentinel/orders-service/flow-rules")
	if err != nil {
		log.Fatal(err)
	}
	ds := datasource.New(src, converter.Flow(), datasource.WithName("orders-flow"))
	defer ds.Close()

	// ruleapply (or an engine's e.Flow().Load) takes the rules from here.
	ds.Property().Subscribe(func(rules []flow.Rule) { log.Printf("%d flow rules in force", len(rules)) })
	if err := ds.Start(ctx); err != nil {
		log.Print(err) // keeps retrying in the background
	}

	// Add a rule without overwriting someone else's concurrent edit.
	err = datasource.Update(ctx, ds, func(cur []flow.Rule) ([]flow.Rule, error) {
		r := flow.DefaultRule()
		r.Resource, r.Count = "GET:/orders", 100
		return append(cur, r), nil
	})
	if err != nil {
		log.Print(err)
	}
}
