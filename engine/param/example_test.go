package param_test

import (
	"context"
	"fmt"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/param"
)

// Limit each user to 2 calls per second, except user 42, who may make 5.
func ExampleManager() {
	e := engine.New(engine.WithClock(engine.NewManualClock(1_000)))
	defer e.Close()
	r := param.DefaultRule()
	r.Resource = "GET:/orders"
	r.ParamIdx = 0 // the user id is the first argument
	r.Count = 2
	r.ParamFlowItemList = []param.Item{{Object: "42", ClassType: "long", Count: 5}}
	fmt.Printf("%+v\n", e.Param().Load([]param.Rule{r}))

	ctx := context.Background()
	for _, user := range []int64{7, 42} {
		passed := 0
		for range 10 {
			if en, err := e.Entry(ctx, "GET:/orders", engine.WithArgs(user)); err == nil {
				passed++
				en.Exit()
			}
		}
		fmt.Printf("user %d: %d of 10 passed\n", user, passed)
	}
	// Output:
	// {Loaded:1 Duplicates:0 Rejected:[] Kept:0 Notes:[]}
	// user 7: 2 of 10 passed
	// user 42: 5 of 10 passed
}
