package param_test

import (
	"fmt"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/param"
	"github.com/rulesync/rulesync/engine/stat"
)

// Limit each user to 2 calls per second, except user 42, who may make 5.
func ExampleManager() {
	m := param.NewManager(stat.NewManualClock(0))
	r := param.DefaultRule()
	r.Resource = "GET:/orders"
	r.ParamIdx = 0 // the user id is the first argument
	r.Count = 2
	r.ParamFlowItemList = []param.Item{{Object: "42", ClassType: "long", Count: 5}}
	fmt.Printf("%+v\n", m.Load([]param.Rule{r}))

	for _, user := range []int64{7, 42} {
		passed := 0
		for range 10 {
			c := &base.Context{Resource: "GET:/orders", Args: []any{user}, Count: 1}
			if m.Check(c) == nil {
				passed++
				m.Exit(c)
			}
		}
		fmt.Printf("user %d: %d of 10 passed\n", user, passed)
	}
	// Output:
	// {Loaded:1 Duplicates:0 Rejected:[] Kept:0 Notes:[]}
	// user 7: 2 of 10 passed
	// user 42: 5 of 10 passed
}
