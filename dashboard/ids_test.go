package dashboard

import (
	"testing"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/gateway"
)

const floor = 1_700_000_000_000

func fr(id int64, res string, count float64) flow.Rule {
	r := flow.DefaultRule()
	r.ID, r.Resource, r.Count = id, res, count
	return r
}

func mergeFlow(t *testing.T, cur, in []flow.Rule) ([]flow.Rule, changes) {
	t.Helper()
	out, ch, err := families[engine.FamilyFlow](cur, in, floor)
	if err != nil {
		t.Fatal(err)
	}
	return out.([]flow.Rule), ch
}

func ids(rs []flow.Rule) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func TestMergeKeepsIDs(t *testing.T) {
	cur := []flow.Rule{fr(7, "a", 1), fr(8, "b", 2), fr(9, "c", 3)}
	// The dashboard sends flow rules without ids: an unchanged list keeps them.
	out, ch := mergeFlow(t, cur, []flow.Rule{fr(0, "c", 3), fr(0, "a", 1), fr(0, "b", 2)})
	if got := ids(out); got[0] != 9 || got[1] != 7 || got[2] != 8 || ch != (changes{Unchanged: 3}) {
		t.Fatalf("ids %v, changes %v", got, ch)
	}
	// An edit keeps the id of the rule it edits (same resource).
	out, ch = mergeFlow(t, cur, []flow.Rule{fr(0, "a", 1), fr(0, "b", 20), fr(0, "c", 3)})
	if got := ids(out); got[1] != 8 || ch != (changes{Edited: 1, Unchanged: 2}) {
		t.Fatalf("edit: ids %v, changes %v", got, ch)
	}
	// A new rule gets a fresh id, above every id in use and the floor.
	out, ch = mergeFlow(t, cur, []flow.Rule{fr(0, "a", 1), fr(0, "b", 2), fr(0, "c", 3), fr(0, "d", 4)})
	if got := ids(out); got[3] != floor || ch != (changes{Added: 1, Unchanged: 3}) {
		t.Fatalf("add: ids %v, changes %v", got, ch)
	}
	// A deletion.
	_, ch = mergeFlow(t, cur, []flow.Rule{fr(0, "a", 1), fr(0, "c", 3)})
	if ch != (changes{Removed: 1, Unchanged: 2}) {
		t.Fatalf("delete: changes %v", ch)
	}
}

// A restarted dashboard numbers its rules from 1 again: a small id held by
// another rule never takes that rule over.
func TestMergeSmallIDsNeverTakeOver(t *testing.T) {
	cur := []flow.Rule{fr(1, "a", 1), fr(2, "b", 2)}
	out, ch := mergeFlow(t, cur, []flow.Rule{fr(1, "a", 1), fr(2, "b", 2), fr(1, "new", 5)})
	got := ids(out)
	if got[0] != 1 || got[1] != 2 || got[2] == 1 || got[2] == 2 || got[2] > MaxID || ch != (changes{Added: 1, Unchanged: 2}) {
		t.Fatalf("ids %v, changes %v", got, ch)
	}
	// An id held by a rule of another resource: the arrival is a new rule.
	out, ch = mergeFlow(t, cur, []flow.Rule{fr(1, "a", 1), fr(2, "other", 2)})
	if got := ids(out); got[0] != 1 || got[1] == 2 || ch != (changes{Added: 1, Removed: 1, Unchanged: 1}) {
		t.Fatalf("ids %v, changes %v", got, ch)
	}
	// Two arrivals naming the same id: the one that is that rule keeps it.
	out, _ = mergeFlow(t, cur, []flow.Rule{fr(2, "b", 99), fr(2, "b", 2)})
	if got := ids(out); got[1] != 2 || got[0] == 2 {
		t.Fatalf("duplicate ids: %v", got)
	}
	// An id nobody holds is kept; one out of range is replaced.
	out, _ = mergeFlow(t, cur, []flow.Rule{fr(1, "a", 1), fr(2, "b", 2), fr(50, "x", 1), fr(MaxID+1, "y", 1), fr(-3, "z", 1)})
	if got := ids(out); got[2] != 50 || got[3] > MaxID || got[3] <= 0 || got[4] <= 0 || got[3] == got[4] {
		t.Fatalf("ids %v", got)
	}
}

// Near 2^53 fresh ids wrap to the smallest free ones.
func TestMergeFreshIDsStayBelowMax(t *testing.T) {
	cur := []flow.Rule{fr(MaxID, "a", 1), fr(1, "b", 1)}
	out, _ := mergeFlow(t, cur, []flow.Rule{fr(0, "a", 1), fr(0, "b", 1), fr(0, "c", 1), fr(0, "d", 1)})
	if got := ids(out); got[0] != MaxID || got[1] != 1 || got[2] != 2 || got[3] != 3 {
		t.Fatalf("ids %v", got)
	}
}

// The dashboard's flow entities drop regex: a rule that matches a regex
// rule in force keeps the flag.
func TestMergeKeepsRegex(t *testing.T) {
	re := fr(5, "GET:/orders/.*", 10)
	re.Regex = true
	out, ch := mergeFlow(t, []flow.Rule{re}, []flow.Rule{fr(0, "GET:/orders/.*", 10)})
	if !out[0].Regex || out[0].ID != 5 || ch != (changes{Unchanged: 1}) {
		t.Fatalf("%+v %v", out[0], ch)
	}
	out, ch = mergeFlow(t, []flow.Rule{re}, []flow.Rule{fr(0, "GET:/orders/.*", 20)})
	if !out[0].Regex || out[0].ID != 5 || ch != (changes{Edited: 1}) {
		t.Fatalf("edited: %+v %v", out[0], ch)
	}
}

// Gateway rules have no ids; changes are still counted.
func TestMergeGateway(t *testing.T) {
	g := gateway.DefaultRule()
	g.Resource, g.Count = "route", 5
	h := g
	h.Count = 6
	out, ch, err := families[engine.FamilyGateway]([]gateway.Rule{g}, []gateway.Rule{h}, floor)
	if err != nil || len(out.([]gateway.Rule)) != 1 || ch != (changes{Edited: 1}) {
		t.Fatalf("%v %v %v", out, ch, err)
	}
	if _, _, err := families[engine.FamilyGateway]([]flow.Rule{}, []gateway.Rule{h}, floor); err == nil {
		t.Fatal("mismatched types accepted")
	}
}
