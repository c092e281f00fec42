// Package jvalue compares hot-parameter values the way a Java token server
// does: by Java type and value, so that Integer 1 and Long 1 are different
// values, and exception items match only values of their classType. The
// token server and the Redis token service share it.
package jvalue

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rulesync/rulesync/engine/cluster/wire"
	"github.com/rulesync/rulesync/engine/param"
)

// Key is a typed value, comparable so that it can index maps.
type Key struct {
	Tag byte   // a wire tag, or TagChar
	N   uint64 // integers (sign-extended), float bits, bools
	S   string // strings
}

// TagChar is the type of a "char" exception item. No wire value has it (the
// protocol cannot carry a Character), so such items never match, as in Java.
const TagChar byte = 0xFE

// Canonical NaNs, as Java's Double.equals and Float.equals compare
// doubleToLongBits and floatToIntBits, which fold every NaN into one.
const (
	nan64 = 0x7ff8000000000000
	nan32 = 0x7fc00000
)

// Of returns the key of a value, after mapping it onto its Java type
// (wire.JavaValue); false when the protocol cannot carry it.
func Of(v any) (Key, bool) {
	jv, ok := wire.JavaValue(v)
	if !ok {
		return Key{}, false
	}
	switch x := jv.(type) {
	case int32:
		return Key{Tag: wire.TagInt32, N: uint64(int64(x))}, true
	case int64:
		return Key{Tag: wire.TagInt64, N: uint64(x)}, true
	case int8:
		return Key{Tag: wire.TagInt8, N: uint64(int64(x))}, true
	case int16:
		return Key{Tag: wire.TagInt16, N: uint64(int64(x))}, true
	case float64:
		return float64Key(x), true
	case float32:
		return float32Key(x), true
	case bool:
		if x {
			return Key{Tag: wire.TagBool, N: 1}, true
		}
		return Key{Tag: wire.TagBool}, true
	case string:
		return Key{Tag: wire.TagString, S: x}, true
	}
	return Key{}, false
}

func float64Key(f float64) Key {
	if math.IsNaN(f) {
		return Key{Tag: wire.TagFloat64, N: nan64}
	}
	return Key{Tag: wire.TagFloat64, N: math.Float64bits(f)}
}

func float32Key(f float32) Key {
	if f != f {
		return Key{Tag: wire.TagFloat32, N: nan32}
	}
	return Key{Tag: wire.TagFloat32, N: uint64(math.Float32bits(f))}
}

// String renders the key for logs and Redis keys: a type letter, ':' and the
// value (i Integer, l Long, b Byte, h Short, d Double, f Float, z Boolean, s
// String, c char).
func (k Key) String() string {
	switch k.Tag {
	case wire.TagInt32:
		return "i:" + strconv.FormatInt(int64(k.N), 10)
	case wire.TagInt64:
		return "l:" + strconv.FormatInt(int64(k.N), 10)
	case wire.TagInt8:
		return "b:" + strconv.FormatInt(int64(k.N), 10)
	case wire.TagInt16:
		return "h:" + strconv.FormatInt(int64(k.N), 10)
	case wire.TagFloat64:
		return "d:" + strconv.FormatUint(k.N, 16)
	case wire.TagFloat32:
		return "f:" + strconv.FormatUint(k.N, 16)
	case wire.TagBool:
		return "z:" + strconv.FormatUint(k.N, 10)
	case TagChar:
		return "c:" + strconv.FormatUint(k.N, 10)
	}
	return "s:" + k.S
}

// classOf maps an exception item's classType to the type its object is
// parsed as, with the names engine/param accepts (primitive, boxed and
// java.lang forms); anything else is a String.
func classOf(classType string) byte {
	switch strings.TrimPrefix(strings.TrimSpace(classType), "java.lang.") {
	case "int", "Integer":
		return wire.TagInt32
	case "long", "Long":
		return wire.TagInt64
	case "short", "Short":
		return wire.TagInt16
	case "byte", "Byte":
		return wire.TagInt8
	case "double", "Double":
		return wire.TagFloat64
	case "float", "Float":
		return wire.TagFloat32
	case "boolean", "Boolean":
		return wire.TagBool
	case "char", "Character":
		return TagChar
	}
	return wire.TagString
}

// ParseItem returns the key of an exception item's object, parsed by its
// classType, or an error naming what does not parse.
func ParseItem(it param.Item) (Key, error) {
	if it.Count < 0 {
		return Key{}, fmt.Errorf("count %d < 0", it.Count)
	}
	tag := classOf(it.ClassType)
	obj := strings.TrimSpace(it.Object)
	bits := map[byte]int{wire.TagInt32: 32, wire.TagInt64: 64, wire.TagInt16: 16, wire.TagInt8: 8}
	switch tag {
	case wire.TagInt32, wire.TagInt64, wire.TagInt16, wire.TagInt8:
		n, err := strconv.ParseInt(obj, 10, bits[tag])
		if err != nil {
			return Key{}, fmt.Errorf("object %q is not a %d-bit integer (classType %q)", it.Object, bits[tag], it.ClassType)
		}
		return Key{Tag: tag, N: uint64(n)}, nil
	case wire.TagFloat64:
		f, err := strconv.ParseFloat(obj, 64)
		if err != nil {
			return Key{}, fmt.Errorf("object %q is not a number (classType %q)", it.Object, it.ClassType)
		}
		return float64Key(f), nil
	case wire.TagFloat32:
		f, err := strconv.ParseFloat(obj, 32)
		if err != nil {
			return Key{}, fmt.Errorf("object %q is not a float (classType %q)", it.Object, it.ClassType)
		}
		return float32Key(float32(f)), nil
	case wire.TagBool:
		switch strings.ToLower(obj) {
		case "true":
			return Key{Tag: wire.TagBool, N: 1}, nil
		case "false":
			return Key{Tag: wire.TagBool}, nil
		}
		return Key{}, fmt.Errorf("object %q is not true or false (classType %q)", it.Object, it.ClassType)
	case TagChar:
		r, size := utf8.DecodeRuneInString(it.Object)
		if size == 0 || size != len(it.Object) || (r == utf8.RuneError && size == 1) {
			return Key{}, fmt.Errorf("object %q is not exactly one character (classType %q)", it.Object, it.ClassType)
		}
		return Key{Tag: TagChar, N: uint64(r)}, nil
	}
	return Key{Tag: wire.TagString, S: it.Object}, nil
}

// Items is a rule's exception items by typed value; later items win.
type Items map[Key]int64

// ParseItems parses the exception items of r, returning the usable ones and
// an error for each dropped one.
func ParseItems(r param.Rule) (Items, []error) {
	var items Items
	var dropped []error
	for i, it := range r.ParamFlowItemList {
		k, err := ParseItem(it)
		if err != nil {
			dropped = append(dropped, fmt.Errorf("paramFlowItemList[%d]: %v", i, err))
			continue
		}
		if items == nil {
			items = make(Items, len(r.ParamFlowItemList))
		}
		items[k] = it.Count
	}
	return items, dropped
}

// Threshold is the threshold of value k under rule count: its item's count,
// or count (not truncated: Sentinel's cluster check uses the double).
func (it Items) Threshold(k Key, count float64) float64 {
	if n, ok := it[k]; ok {
		return float64(n)
	}
	return count
}
