package ruleapply

import "github.com/rulesync/rulesync/datasource"

// BindingOf gives an existing datasource of rule type t the Binding face,
// for code that created and bound it by hand (Bind) rather than through
// BindApp. Its Close closes the datasource; nothing was bound by it.
func BindingOf[T any](t *Type[T], ds *datasource.DataSource[T]) Binding {
	return &binding[T]{t: t, ds: ds, unbind: func() {}}
}

// AppOf returns an App made of bindings, at most one per rule type (a later
// one of the same type is ignored), for code that opened its datasources
// itself: a dashboard agent then writes through them as through BindApp's.
func AppOf(bindings ...Binding) *App {
	a := &App{}
	for _, b := range bindings {
		if b == nil {
			continue
		}
		if _, dup := a.Binding(b.RuleType().Name()); !dup {
			a.bindings = append(a.bindings, b)
		}
	}
	return a
}
