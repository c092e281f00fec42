package converter

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/rulesync/rulesync/codec"
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
// A decoder is immutable after construction and safe for concurrent use. Its
// per-type tables hang off each structInfo, so decoding looks nothing up by
// reflect.Type.
type decoder struct {
	structs map[reflect.Type]*structInfo // used while setting up only
}

type fieldInfo struct {
	name  string
	index int
	sub   *structInfo // the struct a struct, pointer or slice field holds, if any
}

type structInfo struct {
	id      int // position in the per-Decode key-order hints
	byName  map[string]int
	fields  []fieldInfo
	def     func() reflect.Value // the value to start from, nil for the zero value
	ignored map[string]bool
	check   func(n *node) string
	// lenient: a list element of this type that cannot be decoded is
	// dropped with a note instead of failing the whole rule.
	lenient bool
}

// newDecoder indexes the struct types reachable from root.
func newDecoder(root reflect.Type) *decoder {
	d := &decoder{structs: map[reflect.Type]*structInfo{}}
	d.index(root)
	return d
}

// info returns the structInfo of t, nil if t is not a struct type seen at construction.
func (d *decoder) info(t reflect.Type) *structInfo { return d.structs[t] }

func (d *decoder) index(t reflect.Type) *structInfo {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice:
		return d.index(t.Elem())
	case reflect.Struct:
	default:
		return nil
	}
	if si, ok := d.structs[t]; ok {
		return si
	}
	si := &structInfo{id: len(d.structs), byName: map[string]int{}, ignored: map[string]bool{}}
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
		si.fields = append(si.fields, fieldInfo{name: name, index: i})
		si.fields[len(si.fields)-1].sub = d.index(f.Type)
	}
	return si
}

// setDefault makes every decoded value of type T start from fn() instead of T's zero value.
func setDefault[T any](d *decoder, fn func() T) {
	if si := d.structs[reflect.TypeFor[T]()]; si != nil {
		si.def = func() reflect.Value { return reflect.ValueOf(fn()) }
	}
}

// ignore marks keys that may appear on objects decoded as T and carry nothing
// for us (dashboard bookkeeping such as app, ip, port, gmtCreate).
func ignore[T any](d *decoder, keys ...string) {
	if si := d.structs[reflect.TypeFor[T]()]; si != nil {
		for _, k := range keys {
			si.ignored[k] = true
		}
	}
}

// check registers a test run on every object decoded as T; a non-empty result
// fails the rule.
func check[T any](d *decoder, fn func(n *node) string) {
	if si := d.structs[reflect.TypeFor[T]()]; si != nil {
		si.check = fn
	}
}

// dropBadElements makes list elements of type T that cannot be decoded drop
// out with a note rather than reject the rule (Sentinel skips bad hot items).
func dropBadElements[T any](d *decoder) {
	if si := d.structs[reflect.TypeFor[T]()]; si != nil {
		si.lenient = true
	}
}

// knows reports whether key is a field or an ignored key of T.
func (d *decoder) knows(t reflect.Type, key string) bool {
	si := d.structs[t]
	if si == nil {
		return false
	}
	_, ok := si.byName[key]
	return ok || si.ignored[key]
}

// lookup finds the field named key. Rules in one payload almost always list
// their keys in the same order, so the field found at the same position in
// the previous object of this type is tried before the map.
func (si *structInfo) lookup(hints [][]int, pos int, key string) (int, bool) {
	h := hints[si.id]
	if pos < len(h) {
		if fi := h[pos]; fi >= 0 && si.fields[fi].name == key {
			return fi, true
		}
	}
	fi, ok := si.byName[key]
	if !ok {
		fi = -1
	}
	if pos < len(h) {
		h[pos] = fi
	} else if pos == len(h) && pos < 64 {
		hints[si.id] = append(h, fi)
	}
	return fi, ok
}

// ruleState collects what decoding one rule noticed.
type ruleState struct {
	index   int
	unknown *[]codec.UnknownKey
	err     string  // first problem; the rule is rejected when set
	hints   [][]int // key order seen last, per structInfo.id; shared by the rules of one Decode
	notes   *[]string
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

// object decodes the members of n into the struct v (described by si),
// reporting unknown keys.
func (d *decoder) object(st *ruleState, si *structInfo, n *node, v reflect.Value, path string) {
	if si.check != nil {
		if msg := si.check(n); msg != "" {
			st.fail("%s", prefixed(path, msg))
		}
	}
	var seen uint64 // fields already set; rule types have far fewer than 64
	for i, key := range n.keys {
		fi, ok := si.lookup(st.hints, i, key)
		if !ok {
			if !si.ignored[key] {
				*st.unknown = append(*st.unknown, codec.UnknownKey{Index: st.index, Key: join(path, key)})
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
		f := &si.fields[fi]
		d.value(st, f.sub, n.vals[i], v.Field(f.index), path, key)
	}
}

func prefixed(path, msg string) string {
	if path == "" {
		return msg
	}
	return path + ": " + msg
}

// value decodes n into v (a settable value), the member key of the object
// at parent; sub describes the struct v holds, if any. A null node leaves v alone.
func (d *decoder) value(st *ruleState, sub *structInfo, n *node, v reflect.Value, parent, key string) {
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
		if sub.def != nil {
			// A partial nested object gets the defaults of its own type
			// (e.g. clusterConfig), not zeros.
			v.Set(sub.def())
		}
		d.object(st, sub, n, v, path.String())
	case reflect.Pointer:
		if n.kind != kindObject || v.Type().Elem().Kind() != reflect.Struct {
			st.fail("%s: want an object, got %s", path, n.kind)
			return
		}
		p := reflect.New(v.Type().Elem())
		if sub.def != nil {
			p.Elem().Set(sub.def())
		}
		d.object(st, sub, n, p.Elem(), path.String())
		v.Set(p)
	case reflect.Slice:
		if n.kind != kindArray {
			st.fail("%s: want a list, got %s", path, n.kind)
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.vals), len(n.vals))
		list := path.String()
		kept := 0
		for i, el := range n.vals {
			ev := s.Index(kept)
			if sub != nil && sub.def != nil {
				ev.Set(sub.def())
			}
			key := "[" + strconv.Itoa(i) + "]"
			if sub == nil || !sub.lenient {
				d.value(st, sub, el, ev, list, key)
				kept++
				continue
			}
			el1 := *st
			el1.err = ""
			d.value(&el1, sub, el, ev, list, key)
			if el1.err != "" {
				if st.notes != nil {
					*st.notes = append(*st.notes, fmt.Sprintf("rule %d: dropped %s%s: %s", st.index, list, key, el1.err))
				}
				ev.SetZero()
				continue
			}
			kept++
		}
		v.Set(s.Slice(0, kept))
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
	if i, ok := smallInt(s); ok {
		return i, ""
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

// smallInt parses the common case, a plain decimal of at most 18 digits,
// without strconv's general machinery. The text is already a valid number.
func smallInt(s string) (int64, bool) {
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
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
