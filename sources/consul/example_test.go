package consul_test

import (
	"context"
	"log"
	"time"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/sources/consul"
)

// Flow rules kept in one Consul key, as Java Sentinel's ConsulDataSource
// reads them, followed with blocking queries and written with check-and-set.
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	src, err := consul.Dial(ctx, consul.Config{
		Address:   "127.0.0.1:8500",
		TokenFile: "/run/secrets/consul-token", // or CONSUL_HTTP_TOKEN
	}, "sentinel/orders-service/flow-rules")
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
}
