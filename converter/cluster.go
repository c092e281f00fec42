package converter

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/rulesync/rulesync/codec"
	"github.com/rulesync/rulesync/engine/cluster"
)

// ClusterMap returns the codec of an application's cluster assignment, the
// Sentinel dashboard's {app}-cluster-map: a list of token server groups
// (cluster.ServerGroup), each a server and the machine ids of its clients. A
// group is rejected when clients could not reach its server (no ip, a port
// outside 1..65535). A machine assigned twice (the server of two groups, a
// client of two servers, or both server and client) is reported in the
// notes: Sentinel's readers take the first assignment, and so does
// cluster.Assign. Encode writes clientSet as [] rather than leaving it out,
// since Java iterates it without a null check.
func ClusterMap(opts ...Option) codec.Codec[[]cluster.ServerGroup] {
	return newCodec(family[cluster.ServerGroup]{
		name:     "cluster server group",
		newRule:  cluster.DefaultServerGroup,
		validate: cluster.ServerGroup.Validate,
		equal:    cluster.ServerGroup.Equal,
		resource: func(g cluster.ServerGroup) string {
			if g.MachineID != "" {
				return g.MachineID
			}
			return g.IP
		},
		bucket: func(g cluster.ServerGroup) string { return g.Addr() },
		encode: func(_ options, groups []cluster.ServerGroup) ([]byte, error) {
			fixed := make([]cluster.ServerGroup, len(groups))
			for i, g := range groups {
				if g.ClientSet == nil {
					g.ClientSet = []string{}
				}
				fixed[i] = g
			}
			return encodeJSON(fixed)
		},
		notes: assignmentNotes,
	}, opts)
}

// assignmentNotes names the machines that the groups assign more than once.
func assignmentNotes(groups []cluster.ServerGroup) []string {
	var notes []string
	serverOf := map[string]string{} // machine id -> address of the group it serves first
	for _, g := range groups {
		if g.MachineID == "" {
			continue
		}
		if first, ok := serverOf[g.MachineID]; ok {
			notes = append(notes, fmt.Sprintf("machine %q is the server of two groups (%s and %s); it serves the first", g.MachineID, first, g.Addr()))
			continue
		}
		serverOf[g.MachineID] = g.Addr()
	}
	clientOf := map[string]string{}
	for _, g := range groups {
		for _, m := range g.ClientSet {
			if srv, ok := serverOf[m]; ok {
				notes = append(notes, fmt.Sprintf("machine %q is the server of %s and a client of %s; it is a server", m, srv, g.Addr()))
				continue
			}
			if first, ok := clientOf[m]; ok {
				if first != g.Addr() {
					notes = append(notes, fmt.Sprintf("machine %q is a client of two servers (%s and %s); it asks the first", m, first, g.Addr()))
				}
				continue
			}
			clientOf[m] = g.Addr()
		}
	}
	return notes
}

// NamespaceSet returns the codec of a token server's namespace set, the
// dashboard's {app}-cs-namespace-set: a JSON (or YAML) list of namespace
// names. A name that is blank or not a string (an object, a list, null) is
// rejected; surrounding space is trimmed and a name given twice is kept once,
// each with a note. Numbers and booleans read as their text, as everywhere.
// Equal compares the lists as sets.
func NamespaceSet(opts ...Option) codec.Codec[[]string] {
	o := options{maxBytes: DefaultMaxBytes}
	for _, opt := range opts {
		opt(&o)
	}
	return namespaceCodec{maxBytes: o.maxBytes}
}

type namespaceCodec struct{ maxBytes int }

// Decode implements Codec.
func (c namespaceCodec) Decode(data []byte) ([]string, codec.Report, error) {
	var rep codec.Report
	out := []string{}
	root, format, err := readDocument(data, c.maxBytes, func(i int, el *node) {
		rep.Total++
		switch el.kind {
		case kindString, kindNumber, kindBool:
		default:
			rep.Rejected = append(rep.Rejected, codec.Rejection{Index: i, Reason: fmt.Sprintf("namespace is %s, want a string", el.kind)})
			return
		}
		name := strings.TrimSpace(el.text)
		switch {
		case name == "":
			rep.Rejected = append(rep.Rejected, codec.Rejection{Index: i, Resource: el.text, Reason: "namespace is blank"})
			return
		case name != el.text:
			rep.Notes = append(rep.Notes, fmt.Sprintf("namespace %d: surrounding space trimmed from %q (a Java server keeps it, and no client names it so)", i, el.text))
		}
		if slices.Contains(out, name) {
			rep.Notes = append(rep.Notes, fmt.Sprintf("namespace %d: %q given twice; kept once", i, name))
			return
		}
		out = append(out, name)
	})
	rep.Format = format
	if err != nil {
		return nil, codec.Report{Format: format}, err
	}
	switch root.kind {
	case kindNull, kindArray:
	default:
		return nil, codec.Report{Format: format}, fmt.Errorf("%w: top level is %s; want a list of namespace names", codec.ErrUnreadable, root.kind)
	}
	rep.Accepted = len(out)
	return out, rep, nil
}

// Encode implements Codec.
func (namespaceCodec) Encode(v []string) ([]byte, error) { return encodeJSON(v) }

// Equal implements Codec: the same names, in any order.
func (namespaceCodec) Equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// ServerTransport returns the codec of a token server's transport config,
// the dashboard's {app}-cs-transport-config: one JSON (or YAML) object,
// Sentinel's ServerTransportConfig ({"port":18730,"idleSeconds":600}). Keys
// left out keep Sentinel's defaults, and an empty payload is the default
// config. A config that fails cluster.TransportConfig.Validate is
// unreadable as a whole, so that the config in force stays, as a Java server
// keeps its own. Port 0 (a free port) is read with a note: Java refuses it.
func ServerTransport(opts ...Option) codec.Codec[cluster.TransportConfig] {
	return newObjectCodec("token server transport config", cluster.DefaultTransportConfig, cluster.TransportConfig.Validate,
		func(_ *decoder) {},
		func(_ *node, v *cluster.TransportConfig, notes *[]string) {
			if v.Port == 0 {
				*notes = append(*notes, "port 0: the server listens on a free port (a Java server refuses port 0 and keeps its previous config)")
			}
		}, opts)
}

// ServerFlow returns the codec of a token server's flow config, the
// dashboard's {app}-cs-flow-config: one JSON (or YAML) object, Sentinel's
// ServerFlowConfig ({"exceedCount":1,"maxOccupyRatio":1,"intervalMs":1000,
// "sampleCount":10,"maxAllowedQps":30000}). Keys left out keep Sentinel's
// defaults, and an empty payload is the default config. A config that fails
// cluster.FlowConfig.Validate is unreadable as a whole and the config in
// force stays (a Java server would still apply its valid fields). The
// "namespace" key Java writes is read and ignored: the config applies to every
// namespace, as in Java; a namespace other than "default" is noted.
func ServerFlow(opts ...Option) codec.Codec[cluster.FlowConfig] {
	return newObjectCodec("token server flow config", cluster.DefaultFlowConfig, cluster.FlowConfig.Validate,
		func(d *decoder) { ignore[cluster.FlowConfig](d, "namespace") },
		func(obj *node, _ *cluster.FlowConfig, notes *[]string) {
			if ns := obj.get("namespace"); ns != nil && ns.kind != kindNull && ns.text != "" && ns.text != cluster.DefaultNamespace {
				*notes = append(*notes, fmt.Sprintf("namespace %s ignored: the server's flow config applies to every namespace", show(ns)))
			}
		}, opts)
}

// objectCodec is the codec of a config that is one object rather than a
// list of rules. T must be comparable: Equal is ==.
type objectCodec[T comparable] struct {
	name     string
	dec      *decoder
	root     *structInfo
	def      func() T
	validate func(T) error
	fix      func(obj *node, v *T, notes *[]string)
	maxBytes int
}

func newObjectCodec[T comparable](name string, def func() T, validate func(T) error, setup func(*decoder), fix func(*node, *T, *[]string), opts []Option) *objectCodec[T] {
	o := options{maxBytes: DefaultMaxBytes}
	for _, opt := range opts {
		opt(&o)
	}
	d := newDecoder(reflect.TypeFor[T]())
	setup(d)
	return &objectCodec[T]{name: name, dec: d, root: d.info(reflect.TypeFor[T]()), def: def, validate: validate, fix: fix, maxBytes: o.maxBytes}
}

// Decode implements Codec. An empty payload ("", null, []) is the default
// config; unknown keys are reported at the top level (index -1).
func (c *objectCodec[T]) Decode(data []byte) (T, codec.Report, error) {
	var zero T
	elements := 0
	root, format, err := readDocument(data, c.maxBytes, func(int, *node) { elements++ })
	if err != nil {
		return zero, codec.Report{Format: format}, err
	}
	rep := codec.Report{Format: format}
	switch {
	case root.kind == kindNull || root.kind == kindArray && elements == 0:
		rep.Notes = []string{"empty payload: Sentinel's default " + c.name}
		return c.def(), rep, nil
	case root.kind != kindObject:
		return zero, rep, fmt.Errorf("%w: top level is %s; want one %s object", codec.ErrUnreadable, root.kind, c.name)
	}
	rep.Total = 1
	st := &ruleState{index: -1, unknown: &rep.UnknownKeys, hints: make([][]int, len(c.dec.structs)), notes: &rep.Notes}
	v := c.def()
	c.dec.object(st, c.root, root, reflect.ValueOf(&v).Elem(), "")
	reason := st.err
	if reason == "" {
		c.fix(root, &v, &rep.Notes)
		if err := c.validate(v); err != nil {
			reason = err.Error()
		}
	}
	if reason != "" {
		rep.Rejected = []codec.Rejection{{Index: 0, Reason: reason}}
		return zero, rep, fmt.Errorf("%w: %s: %s", codec.ErrUnreadable, c.name, reason)
	}
	rep.Accepted = 1
	return v, rep, nil
}

// Encode implements Codec: the object, every field written.
func (c *objectCodec[T]) Encode(v T) ([]byte, error) { return encodeValue(v) }

// Equal implements Codec.
func (c *objectCodec[T]) Equal(a, b T) bool { return a == b }

// Count makes a datasource count one config in force.
func (c *objectCodec[T]) Count(T) int { return 1 }
