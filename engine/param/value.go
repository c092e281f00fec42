package param

import (
	"math"
	"reflect"
)

// kind tells which field of a key holds the value.
type kind uint8

const (
	kindInt    kind = iota + 1 // n holds an int64
	kindUint                   // n holds a uint64 above math.MaxInt64
	kindFloat                  // n holds float64 bits (never integral)
	kindBool                   // n is 0 or 1
	kindString                 // s
	kindOther                  // o holds a comparable value of another type
)

// key is a normalized argument value. It is comparable and, for the basic
// kinds, built without allocating, so it can index maps on the hot path.
type key struct {
	kind kind
	n    uint64
	s    string
	o    any
}

func intKey(n int64) key { return key{kind: kindInt, n: uint64(n)} }

func uintKey(n uint64) key {
	if n <= math.MaxInt64 {
		return key{kind: kindInt, n: n}
	}
	return key{kind: kindUint, n: n}
}

// floatKey folds integral floats into ints so that 5.0 and 5 are one value,
// -0 into 0, and every NaN into one NaN.
func floatKey(f float64) key {
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
		return intKey(int64(f))
	}
	if math.IsNaN(f) {
		f = math.NaN()
	}
	return key{kind: kindFloat, n: math.Float64bits(f)}
}

func boolKey(b bool) key {
	if b {
		return key{kind: kindBool, n: 1}
	}
	return key{kind: kindBool}
}

// argKind says how an argument is checked.
type argKind uint8

const (
	argSkip       argKind = iota // nil or not comparable: the rule does not apply
	argScalar                    // one value
	argCollection                // a slice or array: each element is a value
	argKeyed                     // an Argument: its ParamFlowKey is the value
)

// Argument is implemented by arguments that name their own hot-param value,
// like Sentinel's ParamFlowArgument: the manager counts and matches the result
// of ParamFlowKey (normalized like any argument; a slice is checked element by
// element) instead of the argument itself. It applies to collection elements
// too, one level deep: a key that is itself an Argument is not resolved again.
// ParamFlowKey must return the same key every time for one argument, since Exit
// recomputes the keys that Check counted.
type Argument interface {
	ParamFlowKey() any
}

// StringRef is a string argument held by reference. Putting a string in an
// []any allocates a copy of its header; putting a StringRef there does not,
// since it is a single pointer. The manager counts and matches a StringRef
// exactly as the string it refers to, and a BlockError carries that string as
// its Value. A zero StringRef is skipped like a nil argument. The string must
// not change between Check and the matching Exit, which recomputes the value.
type StringRef struct{ p *string }

// RefString returns a StringRef to *p.
func RefString(p *string) StringRef { return StringRef{p} }

// String returns the string r refers to, "" for the zero StringRef.
func (r StringRef) String() string {
	if r.p == nil {
		return ""
	}
	return *r.p
}

// resolveArg normalizes an argument, replacing an Argument by its key.
func resolveArg(v any) (any, key, argKind) {
	k, kind := argKey(v)
	if kind == argKeyed {
		return resolveKeyed(v.(Argument))
	}
	return v, k, kind
}

// resolveKeyed is the slow half of resolveArg, apart so that the rest inlines.
func resolveKeyed(a Argument) (any, key, argKind) {
	v := a.ParamFlowKey()
	k, kind := argKey(v)
	if kind == argKeyed {
		return nil, key{}, argSkip
	}
	return v, k, kind
}

// argKey normalizes an argument. The common types are handled by a type
// switch; only other types pay for reflection.
func argKey(v any) (key, argKind) {
	var k key
	kind := fillKey(v, &k)
	return k, kind
}

// fillKey is argKey writing into *k, which must be zero. The hot path keeps the
// key in place and passes pointers to it: a key is six words, and copying it
// by value right after writing it field by field stalls on store forwarding.
func fillKey(v any, k *key) argKind {
	switch x := v.(type) {
	case string:
		k.kind, k.s = kindString, x
		return argScalar
	case StringRef:
		if x.p == nil {
			return argSkip
		}
		k.kind, k.s = kindString, *x.p
		return argScalar
	case int:
		k.kind, k.n = kindInt, uint64(x)
		return argScalar
	case int64:
		k.kind, k.n = kindInt, uint64(x)
		return argScalar
	case int32:
		k.kind, k.n = kindInt, uint64(int64(x))
		return argScalar
	case uint64:
		k.setUint(x)
		return argScalar
	case uint:
		k.setUint(uint64(x))
		return argScalar
	case uint32:
		k.kind, k.n = kindInt, uint64(x)
		return argScalar
	case int16:
		k.kind, k.n = kindInt, uint64(int64(x))
		return argScalar
	case int8:
		k.kind, k.n = kindInt, uint64(int64(x))
		return argScalar
	case uint16:
		k.kind, k.n = kindInt, uint64(x)
		return argScalar
	case uint8:
		k.kind, k.n = kindInt, uint64(x)
		return argScalar
	case float64:
		*k = floatKey(x)
		return argScalar
	case float32:
		*k = floatKey(float64(x))
		return argScalar
	case bool:
		k.kind = kindBool
		if x {
			k.n = 1
		}
		return argScalar
	case []byte:
		k.kind, k.s = kindString, string(x)
		return argScalar
	case []string, []int, []int64, []any:
		return argCollection
	case nil:
		return argSkip
	case Argument: // before reflection, so that it wins over the value's kind
		return argKeyed
	}
	var kind argKind
	*k, kind = reflectKey(reflect.ValueOf(v))
	return kind
}

// setUint stores n as an int when it fits, as uintKey does.
func (k *key) setUint(n uint64) {
	k.kind, k.n = kindInt, n
	if n > math.MaxInt64 {
		k.kind = kindUint
	}
}

// same reports whether k and o are the same value (k == o, field by field so
// that nothing is copied).
func (k *key) same(o *key) bool {
	return k.kind == o.kind && k.n == o.n && k.s == o.s && k.o == o.o
}

// reflectKey normalizes named types by their kind; other comparable values
// are kept as they are.
func reflectKey(rv reflect.Value) (key, argKind) {
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return intKey(rv.Int()), argScalar
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return uintKey(rv.Uint()), argScalar
	case reflect.Float32, reflect.Float64:
		return floatKey(rv.Float()), argScalar
	case reflect.Bool:
		return boolKey(rv.Bool()), argScalar
	case reflect.String:
		return key{kind: kindString, s: rv.String()}, argScalar
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return key{kind: kindString, s: string(rv.Bytes())}, argScalar
		}
		return key{}, argCollection
	case reflect.Array:
		return key{}, argCollection
	case reflect.Interface:
		if rv.IsNil() {
			return key{}, argSkip
		}
		return reflectKey(rv.Elem())
	case reflect.Pointer, reflect.Map, reflect.Chan, reflect.Func:
		if rv.IsNil() {
			return key{}, argSkip
		}
	case reflect.Invalid:
		return key{}, argSkip
	}
	// Value.Comparable looks inside interfaces and structs, so a struct that
	// holds a slice in an interface field is refused here instead of
	// panicking later in a map.
	if !rv.Comparable() {
		return key{}, argSkip
	}
	return key{kind: kindOther, o: rv.Interface()}, argScalar
}

// eachElement calls fn with every scalar element of the collection v (nil and
// nested collections are skipped) until fn returns false, and reports whether
// it ran to the end.
func eachElement(v any, fn func(elem any, k key) bool) bool {
	switch xs := v.(type) {
	case []string:
		for _, x := range xs {
			if !fn(x, key{kind: kindString, s: x}) {
				return false
			}
		}
		return true
	case []int:
		for _, x := range xs {
			if !fn(x, intKey(int64(x))) {
				return false
			}
		}
		return true
	case []int64:
		for _, x := range xs {
			if !fn(x, intKey(x)) {
				return false
			}
		}
		return true
	case []any:
		for _, x := range xs {
			if x, k, kd := resolveArg(x); kd == argScalar && !fn(x, k) {
				return false
			}
		}
		return true
	}
	rv := reflect.ValueOf(v)
	for i := range rv.Len() {
		ev := rv.Index(i)
		if !ev.CanInterface() {
			continue
		}
		if x, k, kd := resolveArg(ev.Interface()); kd == argScalar && !fn(x, k) {
			return false
		}
	}
	return true
}
