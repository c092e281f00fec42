package file_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/sources/file"
)

// Flow rules kept in sync with a local file, and written back with
// compare-and-set.
func Example() {
	dir, _ := os.MkdirTemp("", "rules")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "flow-rules.json")
	os.WriteFile(path, []byte(`[{"resource":"GET:/orders","grade":1,"count":100}]`), 0o644)

	src, err := file.New(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	ds := datasource.New(src, converter.Flow(), datasource.WithName("flow"))
	defer ds.Close()
	if err := ds.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	rules, _ := ds.Property().Get()
	fmt.Println(rules[0].Resource, rules[0].Count)

	err = datasource.Update(context.Background(), ds, func(cur []flow.Rule) ([]flow.Rule, error) {
		r := flow.DefaultRule()
		r.Resource, r.Count = "GET:/users", 20
		return append(cur, r), nil
	})
	fmt.Println(err, ds.Status().RuleCount)
	// Output:
	// GET:/orders 100
	// <nil> 2
}
