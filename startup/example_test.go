package startup_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/sources/file"
	"github.com/rulesync/rulesync/startup"
)

// A startup file binds two rule types from files; one call opens and binds
// them, and the Handle tells each datasource's status. A program that links
// sources/etcd or sources/redis adds etcd.Backend() or redis.Backend() to the
// table, and the file may then name them.
func ExampleOpenFile() {
	dir, _ := os.MkdirTemp("", "startup-example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "shop-flow-rules.json"), []byte(`[{"resource":"GET:/orders","count":100}]`), 0o644)
	os.WriteFile(filepath.Join(dir, "rulesync.yaml"), []byte(`
app: shop
datasource:
  flow:
    file: {dir: `+dir+`, data-id: "${app}-flow-rules", rule-type: flow}
  degrade:
    file: {dir: `+dir+`, data-id: "${app}-degrade-rules", rule-type: degrade}
`), 0o644)

	e := engine.New()
	defer e.Close()
	h, err := startup.OpenFile(context.Background(), e, filepath.Join(dir, "rulesync.yaml"), datasource.Backends{file.Backend()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	for _, st := range h.Status() {
		fmt.Printf("%s: %s from %s, %d rules, exists=%v\n", st.Name, st.RuleType, st.Backend, st.RuleCount, st.Exists)
	}
	fmt.Println("flow rules in the engine:", len(e.Flow().Rules()))
	// Output:
	// degrade: degrade from file, 0 rules, exists=false
	// flow: flow from file, 1 rules, exists=true
	// flow rules in the engine: 1
}

// Every problem of a file, each with its YAML path and line.
func ExampleParse() {
	_, err := startup.Parse("rulesync.yaml", []byte(`
datasource:
  flow:
    file:
      file: flow.json
      rule-type: flw
  degrade:
    etdc: {endpoints: 127.0.0.1:2379, rule-type: degrade}
`), datasource.Backends{file.Backend()})
	fmt.Println(err)
	// Output:
	// startup file rulesync.yaml: 2 problems
	// rulesync.yaml:6: datasource.flow.file.rule-type: unknown rule type "flw" (did you mean "flow"?); known: flow, degrade, system, authority, param-flow, gw-api-group, gw-flow
	// rulesync.yaml:8: datasource.degrade.etdc: unknown backend "etdc"; known: file
}
