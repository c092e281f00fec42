package param

import "github.com/rulesync/rulesync/engine/base"

// ruleSet is an immutable set of compiled rules, swapped whole on Load.
type ruleSet struct {
	rules []Rule
}

// Load replaces the rules in force (skeleton: validates only).
func (m *Manager) Load(rules []Rule) base.LoadReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	var rep base.LoadReport
	s := &ruleSet{}
	for i, r := range rules {
		if err := r.Validate(); err != nil {
			rep.Rejected = append(rep.Rejected, base.Rejection{Index: i, Resource: r.Resource, Reason: err.Error()})
			continue
		}
		s.rules = append(s.rules, r)
	}
	rep.Loaded = len(s.rules)
	m.set.Store(s)
	return rep
}

// Check checks the call against the rules of c.Resource (skeleton: passes).
func (m *Manager) Check(c *base.Context) *base.BlockError { return nil }

// Exit gives back what Check took for the call (skeleton: nothing).
func (m *Manager) Exit(c *base.Context) {}
