package converter

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// decoder copies parsed nodes into Go values by the json tags of the target
// types. It is written once for every rule family: the families differ only in
// the tables below (nested defaults, known-but-ignored keys, pre-checks) and in
// a small hook per family for what tags cannot say.
//
// Leniency rules, applied to every field of every family:
//   - keys match the json tag exactly (case-sensitive); any other key is
//     reported as unknown and otherwise ignored;
//   - null leaves the field at its default;
//   - numbers may be written as strings ("10", "1.5"); whole-number floats (10.0)
//     fill integer fields; booleans may be written as "true"/"false";
//   - numbers and booleans fill string fields with their literal text;
//   - anything else of the wrong kind fails the rule with a reason naming the key.
//
// A decoder is immutable after construction and safe for concurrent use.
type decoder struct {
	structs  map[reflect.Type]*structInfo
	defaults map[reflect.Type]func() reflect.Value
	ignored  map[reflect.Type]map[string]bool
	checks   map[reflect.Type]func(n *node) string
}

type fieldInfo struct {
	name  string
	index int
	typ   reflect.Type
}

type structInfo struct {
	byName map[string]int
	fields []fieldInfo
}

// newDecoder indexes the struct types reachable from root.
func newDecoder(root reflect.Type) *decoder {
	d := &decoder{
		structs:  map[reflect.Type]*structInfo{},
		defaults: map[reflect.Type]func() reflect.Value{},
		ignored:  map[reflect.Type]map[string]bool{},
		checks:   map[reflect.Type]func(n *node) string{},
	}
	d.index(root)
	return d
}

func (d *decoder) index(t reflect.Type) {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice:
		d.index(t.Elem())
		return
	case reflect.Struct:
	default:
		return
	}
	if _, ok := d.structs[t]; ok {
		return
	}
	si := &structInfo{byName: map[string]int{}}
	d.structs[t] = si
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		si.byName[name] = len(si.fields)
		si.fields = append(si.fields, fieldInfo{name: name, index: i, typ: f.Type})
		d.index(f.Type)
	}
}

// setDefault makes every decoded value of type T start from fn() instead of T's zero value.
func setDefault[T any](d *decoder, fn func() T) {
	d.defaults[reflect.TypeFor[T]()] = func() reflect.Value { return reflect.ValueOf(fn()) }
}

// ignore marks keys that may appear on objects decoded as T and carry nothing
// for us (dashboard bookkeeping such as app, ip, port, gmtCreate).
func ignore[T any](d *decoder, keys ...string) {
	t := reflect.TypeFor[T]()
	m := d.ignored[t]
	if m == nil {
		m = map[string]bool{}
		d.ignored[t] = m
	}
	for _, k := range keys {
		m[k] = true
	}
}

// check registers a test run on every object decoded as T; a non-empty result
// fails the rule.
func check[T any](d *decoder, fn func(n *node) string) {
	d.checks[reflect.TypeFor[T]()] = fn
}

// knows reports whether key is a field or an ignored key of T.
func (d *decoder) knows(t reflect.Type, key string) bool {
	if si := d.structs[t]; si != nil {
		if _, ok := si.byName[key]; ok {
			return true
		}
	}
	return d.ignored[t][key]
}

// ruleState collects what decoding one rule noticed.
type ruleState struct {
	index   int
	unknown *[]UnknownKey
	err     string // first problem; the rule is rejected when set
}

func (st *ruleState) fail(format string, args ...any) {
	if st.err == "" {
		st.err = fmt.Sprintf(format, args...)
	}
}

// join builds the dotted path of key under path; list positions ("[2]")
// attach without a dot. Paths are only built when a message needs one.
func join(path, key string) string {
	if path == "" || strings.HasPrefix(key, "[") {
		return path + key
	}
	return path + "." + key
}

// object decodes the members of n into the struct v, reporting unknown keys.
func (d *decoder) object(st *ruleState, n *node, v reflect.Value, path string) {
	t := v.Type()
	if fn := d.checks[t]; fn != nil {
		if msg := fn(n); msg != "" {
			st.fail("%s", prefixed(path, msg))
		}
	}
	si := d.structs[t]
	ign := d.ignored[t]
	var seen uint64 // fields already set; rule types have far fewer than 64
	for i, key := range n.keys {
		fi, ok := si.byName[key]
		if !ok {
			if !ign[key] {
				*st.unknown = append(*st.unknown, UnknownKey{Index: st.index, Key: join(path, key)})
			}
			continue
		}
		if fi < 64 {
			if seen&(1<<fi) != 0 {
				// Which of the two values was meant is a guess; JSON
				// readers differ (first or last wins).
				st.fail("key %q appears more than once", join(path, key))
			}
			seen |= 1 << fi
		}
		f := si.fields[fi]
		d.value(st, n.vals[i], v.Field(f.index), path, key)
	}
}

func prefixed(path, msg string) string {
	if path == "" {
		return msg
	}
	return path + ": " + msg
}

// value decodes n into v (a settable value), the member key of the object
// at parent. A null node leaves v alone.
func (d *decoder) value(st *ruleState, n *node, v reflect.Value, parent, key string) {
	if n.kind == kindNull {
		return
	}
	path := lazyPath{parent, key}
	switch v.Kind() {
	case reflect.String:
		switch n.kind {
		case kindString, kindNumber, kindBool:
			v.SetString(n.text)
		default:
			st.fail("%s: want a string, got %s", path, n.kind)
		}
	case reflect.Bool:
		b, ok := boolOf(n)
		if !ok {
			st.fail("%s: %s is not a boolean", path, show(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, msg := intOf(n)
		if msg == "" && v.OverflowInt(i) {
			msg = "is out of range"
		}
		if msg != "" {
			st.fail("%s: %s %s", path, show(n), msg)
			return
		}
		v.SetInt(i)
	case reflect.Float32, reflect.Float64:
		f, msg := floatOf(n)
		if msg == "" && v.OverflowFloat(f) {
			msg = "is out of range"
		}
		if msg != "" {
			st.fail("%s: %s %s", path, show(n), msg)
			return
		}
		v.SetFloat(f)
	case reflect.Struct:
		if n.kind != kindObject {
			st.fail("%s: want an object, got %s", path, n.kind)
			return
		}
		if def := d.defaults[v.Type()]; def != nil {
			// A partial nested object gets the defaults of its own type
			// (e.g. clusterConfig), not zeros.
			v.Set(def())
		}
		d.object(st, n, v, path.String())
	case reflect.Pointer:
		if n.kind != kindObject || v.Type().Elem().Kind() != reflect.Struct {
			st.fail("%s: want an object, got %s", path, n.kind)
			return
		}
		p := reflect.New(v.Type().Elem())
		if def := d.defaults[v.Type().Elem()]; def != nil {
			p.Elem().Set(def())
		}
		d.object(st, n, p.Elem(), path.String())
		v.Set(p)
	case reflect.Slice:
		if n.kind != kindArray {
			st.fail("%s: want a list, got %s", path, n.kind)
			return
		}
		et := v.Type().Elem()
		s := reflect.MakeSlice(v.Type(), len(n.vals), len(n.vals))
		def := d.defaults[et]
		list := path.String()
		for i, el := range n.vals {
			ev := s.Index(i)
			if def != nil {
				ev.Set(def())
			}
			d.value(st, el, ev, list, "["+strconv.Itoa(i)+"]")
		}
		v.Set(s)
	default:
		st.fail("%s: cannot decode into %s", path, v.Type())
	}
}

// lazyPath is a member's path, joined only when printed.
type lazyPath struct{ parent, key string }

func (p lazyPath) String() string { return join(p.parent, p.key) }

// show renders a node for a message, briefly.
func show(n *node) string {
	switch n.kind {
	case kindString:
		s := n.text
		if len(s) > 40 {
			s = s[:40] + "..."
		}
		return strconv.Quote(s)
	case kindNumber, kindBool:
		return n.text
	}
	return n.kind.String()
}

func boolOf(n *node) (bool, bool) {
	switch n.kind {
	case kindBool:
		return n.text == "true", true
	case kindString:
		switch strings.ToLower(strings.TrimSpace(n.text)) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

// numberText returns the JSON number literal n holds, directly or as a string.
func numberText(n *node) (string, bool) {
	switch n.kind {
	case kindNumber:
		return n.text, true
	case kindString:
		s := strings.TrimSpace(n.text)
		// Only the JSON number grammar: strconv would also take "0x10",
		// "Inf" and "1_000", which no Java reader would.
		if isJSONNumber(s) {
			return s, true
		}
	}
	return "", false
}

func intOf(n *node) (int64, string) {
	s, ok := numberText(n)
	if !ok {
		return 0, "is not a number"
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, ""
	}
	f, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil || math.IsInf(f, 0) || f >= 1<<63 || f < -(1<<63):
		return 0, "is out of range"
	case f != math.Trunc(f):
		return 0, "is not a whole number"
	}
	return int64(f), ""
}

func floatOf(n *node) (float64, string) {
	s, ok := numberText(n)
	if !ok {
		return 0, "is not a number"
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, "is out of range"
	}
	return f, ""
}
