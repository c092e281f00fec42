package kernel

// Memo slots of a stat.ResourceNode, one per rule family that memoizes its
// per-resource lookup there. The gateway's hot-param rules live in a manager
// of their own and so get a slot of their own.
const (
	MemoAuthority = iota
	MemoFlow
	MemoDegrade
	MemoParam
	MemoGateway
)

// Lookup returns what find returns for c.Resource in the rule set of
// generation gen, memoized in slot of c.Node: a family calls it on every
// check, and after the first call on a resource each further one costs an
// atomic load instead of a map lookup (and, for regex rules, a lock). find
// must depend only on the rule set and the resource name.
func Lookup[T any](c *Context, slot int, gen uint64, find func(resource string) T) T {
	n := c.Node
	if n == nil {
		return find(c.Resource)
	}
	if v, ok := n.Memo(slot, gen); ok {
		t, _ := v.(T)
		return t
	}
	t := find(c.Resource)
	n.SetMemo(slot, gen, t)
	return t
}
