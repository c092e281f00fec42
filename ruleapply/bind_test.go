package ruleapply

import (
	"testing"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/property"
)

type fakeManager struct{ loads [][]string }

func (f *fakeManager) Load(r []string) engine.LoadReport {
	f.loads = append(f.loads, r)
	rep := engine.LoadReport{Loaded: len(r)}
	for i, s := range r {
		if s == "" {
			rep.Rejected = append(rep.Rejected, engine.Rejection{Index: i, Reason: "blank"})
			rep.Loaded--
		}
	}
	return rep
}

func TestBindLoadsCurrentAndChangesUntilUnbound(t *testing.T) {
	p := property.New(property.WithInitial([]string{"a"}))
	m := &fakeManager{}
	var reports []engine.LoadReport
	unbind := Bind(p, m, WithName("test"), WithReportHandler(func(r engine.LoadReport) { reports = append(reports, r) }))
	p.Update([]string{"a"}) // equal: no load
	p.Update([]string{"a", ""})
	unbind()
	p.Update([]string{"c"})
	if len(m.loads) != 2 {
		t.Fatalf("loads = %v, want the initial value and one change", m.loads)
	}
	if len(reports) != 2 || len(reports[1].Rejected) != 1 || reports[1].Loaded != 1 {
		t.Fatalf("reports = %+v", reports)
	}
}
