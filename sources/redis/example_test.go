package redis_test

import (
	"context"
	"log"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/sources/redis"
)

// Flow rules kept the way Java Sentinel's RedisDataSource keeps them: a key
// with the JSON rules and a channel carrying every new payload.
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	src, err := redis.Dial(ctx, &goredis.UniversalOptions{
		Addrs:    []string{"127.0.0.1:6379"},
		Username: "rules", Password: "from-a-secret-store",
	}, "sentinel:orders-service:flow-rules", "sentinel:orders-service:flow-rules:channel")
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
