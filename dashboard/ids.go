package dashboard

import (
	"fmt"
	"slices"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/authority"
	"github.com/rulesync/rulesync/engine/degrade"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/gateway"
	"github.com/rulesync/rulesync/engine/param"
	"github.com/rulesync/rulesync/engine/system"
)

// MaxID is the largest rule id handed out: the dashboard's browser code
// reads ids as JavaScript numbers, exact up to 2^53.
const MaxID = 1 << 53

// family tells merge how to see one rule type's rules.
type family[T any] struct {
	// id points at the rule's id; nil for types without ids (gateway).
	id       func(*T) *int64
	resource func(T) string
	// regex points at the rule's regex flag; nil for types without one.
	regex func(*T) *bool
	equal func(a, b T) bool // same meaning, ids ignored
}

// changes counts what a set command does to the rules in force.
type changes struct {
	Added, Removed, Edited, Unchanged int
}

func (c changes) String() string {
	return fmt.Sprintf("%d added, %d removed, %d changed, %d unchanged", c.Added, c.Removed, c.Edited, c.Unchanged)
}

func validID(id int64) bool { return id > 0 && id <= MaxID }

// merge matches the rules that arrived (in, the client's whole list) with
// the rules in force (cur) and gives every rule its id:
//
//   - a rule that names the id of a rule in force with the same resource is
//     that rule (perhaps edited), and keeps the id;
//   - a rule without a usable id that means what a rule in force means is
//     that rule; failing that, one with the resource of a rule in force not
//     matched otherwise is that rule, edited (the dashboard sends flow,
//     degrade and system rules without ids);
//   - any other rule is new: it keeps an id that no rule in force and no
//     other rule of the list holds, and gets a fresh one (at most MaxID)
//     otherwise. A small id from a dashboard that restarted its counter
//     therefore never takes over another rule.
//
// A rule matched with a rule in force whose regex is true keeps it: the
// dashboard's flow and degrade entities drop the flag. The rules in force
// that nothing matched are the ones removed. floor is the smallest fresh
// id wanted (the time in ms, so that ids differ from a dashboard's small ones).
func merge[T any](f family[T], cur, in []T, floor int64) ([]T, changes) {
	out := slices.Clone(in)
	match := make([]int, len(out)) // index in cur, or -1
	for i := range match {
		match[i] = -1
	}
	claimed := make([]bool, len(cur))
	claim := func(i, j int) { match[i], claimed[j] = j, true }
	owner := map[int64]int{}
	if f.id != nil {
		for j := range cur {
			if id := *f.id(&cur[j]); validID(id) {
				if _, dup := owner[id]; !dup {
					owner[id] = j
				}
			}
		}
		// By id: first those that mean what the rule in force means, then
		// those with its resource.
		for pass := range 2 {
			for i := range out {
				if match[i] >= 0 {
					continue
				}
				j, ok := owner[*f.id(&out[i])]
				if !ok || claimed[j] {
					continue
				}
				if pass == 0 && sameRule(f, out[i], cur[j]) || pass == 1 && f.resource(out[i]) == f.resource(cur[j]) {
					claim(i, j)
				}
			}
		}
	}
	// By meaning, then by resource, for the rules left on both sides.
	for pass := range 2 {
		for i := range out {
			if match[i] >= 0 || f.id != nil && hasOwnID(f, out, i, owner) {
				continue
			}
			for j := range cur {
				if claimed[j] {
					continue
				}
				if pass == 0 && sameRule(f, out[i], cur[j]) || pass == 1 && f.resource(out[i]) == f.resource(cur[j]) {
					claim(i, j)
					break
				}
			}
		}
	}
	var ch changes
	used := map[int64]bool{}
	for i := range out {
		j := match[i]
		if j < 0 {
			continue
		}
		if f.regex != nil && *f.regex(&cur[j]) && !*f.regex(&out[i]) {
			*f.regex(&out[i]) = true
		}
		if f.id != nil {
			*f.id(&out[i]) = *f.id(&cur[j])
			used[*f.id(&out[i])] = true
		}
		if f.equal(out[i], cur[j]) {
			ch.Unchanged++
		} else {
			ch.Edited++
		}
	}
	for _, c := range claimed {
		if !c {
			ch.Removed++
		}
	}
	for i := range out {
		if match[i] >= 0 {
			continue
		}
		ch.Added++
		if f.id == nil {
			continue
		}
		id := f.id(&out[i])
		if _, held := owner[*id]; validID(*id) && !held && !used[*id] {
			used[*id] = true
			continue
		}
		*id = 0
	}
	if f.id != nil {
		next := floor
		for id := range used {
			next = max(next, id+1)
		}
		for _, j := range cur {
			next = max(next, *f.id(&j)+1)
		}
		for i := range out {
			id := f.id(&out[i])
			if *id != 0 {
				continue
			}
			if next > MaxID {
				next = 1 // every id up to MaxID is in use or was: search from the bottom
			}
			for used[next] || ownerHas(owner, next) {
				next++
			}
			*id = next
			used[next] = true
			next++
		}
	}
	return out, ch
}

// hasOwnID reports whether out[i] names an id that a rule in force holds:
// such a rule was matched by id or is new; it is not matched by meaning
// with some other rule, which would take that other rule's id.
func hasOwnID[T any](f family[T], out []T, i int, owner map[int64]int) bool {
	_, ok := owner[*f.id(&out[i])]
	return ok
}

func ownerHas(owner map[int64]int, id int64) bool {
	_, ok := owner[id]
	return ok
}

// sameRule reports whether a (arrived) means what b (in force) means, a
// dropped regex flag aside.
func sameRule[T any](f family[T], a, b T) bool {
	if f.regex != nil && *f.regex(&b) && !*f.regex(&a) {
		*f.regex(&a) = true
	}
	return f.equal(a, b)
}

// families holds the merge of each rule type, by name.
var families = map[engine.Family]func(cur, in any, floor int64) (any, changes, error){
	engine.FamilyFlow: mergeAny(family[flow.Rule]{
		id:       func(r *flow.Rule) *int64 { return &r.ID },
		resource: func(r flow.Rule) string { return r.Resource },
		regex:    func(r *flow.Rule) *bool { return &r.Regex },
		equal:    flow.Rule.Equal,
	}),
	engine.FamilyDegrade: mergeAny(family[degrade.Rule]{
		id:       func(r *degrade.Rule) *int64 { return &r.ID },
		resource: func(r degrade.Rule) string { return r.Resource },
		regex:    func(r *degrade.Rule) *bool { return &r.Regex },
		equal:    degrade.Rule.Equal,
	}),
	engine.FamilySystem: mergeAny(family[system.Rule]{
		id:       func(r *system.Rule) *int64 { return &r.ID },
		resource: func(system.Rule) string { return "" },
		equal:    system.Rule.Equal,
	}),
	engine.FamilyAuthority: mergeAny(family[authority.Rule]{
		id:       func(r *authority.Rule) *int64 { return &r.ID },
		resource: func(r authority.Rule) string { return r.Resource },
		regex:    func(r *authority.Rule) *bool { return &r.Regex },
		equal:    authority.Rule.Equal,
	}),
	engine.FamilyParam: mergeAny(family[param.Rule]{
		id:       func(r *param.Rule) *int64 { return &r.ID },
		resource: func(r param.Rule) string { return r.Resource },
		regex:    func(r *param.Rule) *bool { return &r.Regex },
		equal:    param.Rule.Equal,
	}),
	engine.FamilyGateway: mergeAny(family[gateway.Rule]{
		resource: func(r gateway.Rule) string { return r.Resource },
		equal:    gateway.Rule.Equal,
	}),
	engine.FamilyGatewayAPI: mergeAny(family[gateway.APIDefinition]{
		resource: func(a gateway.APIDefinition) string { return a.APIName },
		equal:    gateway.APIDefinition.Equal,
	}),
}

func mergeAny[T any](f family[T]) func(cur, in any, floor int64) (any, changes, error) {
	return func(cur, in any, floor int64) (any, changes, error) {
		c, ok1 := cur.([]T)
		n, ok2 := in.([]T)
		if cur != nil && !ok1 || in != nil && !ok2 {
			return nil, changes{}, fmt.Errorf("dashboard: rules of type %T and %T, want %T", cur, in, c)
		}
		out, ch := merge(f, c, n, floor)
		return out, ch, nil
	}
}
