package file

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine/flow"
)

// Sentinel flow rules from a file, through the real flow codec.
func TestFlowRulesFromFile(t *testing.T) {
	path := tempPath(t)
	mustWrite(t, path, `[{"resource":"GET:/orders","grade":1,"count":10}]`)
	events := make(chan datasource.Event, 64)
	d := datasource.New(newSource(t, path), converter.Flow(), datasource.WithName("flow"),
		datasource.WithObserver(datasource.ObserverFunc(func(e datasource.Event) { events <- e })),
		datasource.WithBackoff(time.Millisecond, 5*time.Millisecond))
	defer d.Close()
	must(t, d.Start(bg))
	rules, _ := d.Property().Get()
	if len(rules) != 1 || rules[0].Resource != "GET:/orders" || rules[0].Count != 10 {
		t.Fatalf("loaded %+v", rules)
	}

	// One good rule and one with a negative count: the good one applies.
	mustWrite(t, path, `[{"resource":"a","grade":1,"count":5},{"resource":"b","grade":1,"count":-1}]`)
	e := waitEvent(t, events, datasource.Rejected)
	if len(e.Report.Rejected) != 1 || e.Report.Rejected[0].Resource != "b" {
		t.Fatalf("report %+v", e.Report)
	}
	if rules, _ = d.Property().Get(); len(rules) != 1 || rules[0].Resource != "a" {
		t.Fatalf("after partly bad payload: %+v", rules)
	}
	if s := d.Status(); s.RuleCount != 1 || s.Rejected != 1 {
		t.Fatalf("status %+v", s)
	}

	// Writing an invalid rule is refused before it reaches the file.
	before, _ := os.ReadFile(path)
	bad := flow.DefaultRule()
	bad.Resource, bad.Count = "c", -3
	err := d.Write(bg, []flow.Rule{bad})
	if !errors.Is(err, datasource.ErrInvalid) || !strings.Contains(err.Error(), `"c"`) {
		t.Fatalf("invalid Write = %v, want ErrInvalid naming the rule", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("invalid rules reached the file")
	}

	// A valid write is canonical JSON that reads back equal.
	good := flow.DefaultRule()
	good.Resource, good.Count = "GET:/users", 20
	must(t, d.Write(bg, []flow.Rule{good}))
	data, _ := os.ReadFile(path)
	back, rep, err := converter.Flow().Decode(data)
	if err != nil || !rep.Clean() || len(back) != 1 || !back[0].Equal(good) {
		t.Fatalf("file after Write: %s (%v, %s)", data, err, rep)
	}
}
