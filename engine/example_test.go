package engine_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/flow"
)

func Example() {
	// A manual clock keeps the example's output the same on every run; services
	// use the default system clock.
	e := engine.New(engine.WithClock(engine.NewManualClock(1_000)))
	defer e.Close()

	rule := flow.DefaultRule()
	rule.Resource = "GET:/orders"
	rule.Count = 2 // two calls per second
	e.Flow().Load([]flow.Rule{rule})

	ctx := engine.WithOrigin(context.Background(), "appA")
	for i := range 3 {
		en, err := e.Entry(ctx, "GET:/orders", engine.Inbound())
		var be *engine.BlockError
		if errors.As(err, &be) {
			fmt.Printf("call %d blocked by a %s rule: %s\n", i, be.Family, be.Reason)
			continue
		}
		fmt.Printf("call %d passed\n", i)
		en.Exit()
	}
	// Output:
	// call 0 passed
	// call 1 passed
	// call 2 blocked by a flow rule: qps 2 + 1 > count 2
}
