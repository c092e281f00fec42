package param

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// classKind is what an exception item's ClassType parses its Object as.
type classKind int

const (
	classString classKind = iota
	classInt              // with bits giving the Java range
	classFloat
	classBool
	classChar
)

// classOf maps Sentinel's classType names (primitive, boxed and java.lang
// forms) to how the item is parsed, and the bit size of integer types.
func classOf(classType string) (classKind, int) {
	switch strings.TrimPrefix(strings.TrimSpace(classType), "java.lang.") {
	case "int", "Integer":
		return classInt, 32
	case "long", "Long":
		return classInt, 64
	case "short", "Short":
		return classInt, 16
	case "byte", "Byte":
		return classInt, 8
	case "double", "Double", "float", "Float":
		return classFloat, 64
	case "boolean", "Boolean":
		return classBool, 0
	case "char", "Character":
		return classChar, 0
	}
	return classString, 0
}

// parseItem turns an item's Object into the normalized key arguments are
// compared with.
func parseItem(it Item) (key, error) {
	if it.Count < 0 {
		return key{}, fmt.Errorf("count %d < 0", it.Count)
	}
	ck, bits := classOf(it.ClassType)
	obj := it.Object
	switch ck {
	case classInt:
		n, err := strconv.ParseInt(strings.TrimSpace(obj), 10, bits)
		if err != nil {
			return key{}, fmt.Errorf("object %q is not a %d-bit integer (classType %q)", obj, bits, it.ClassType)
		}
		return intKey(n), nil
	case classFloat:
		f, err := strconv.ParseFloat(strings.TrimSpace(obj), 64)
		if err != nil {
			return key{}, fmt.Errorf("object %q is not a number (classType %q)", obj, it.ClassType)
		}
		return floatKey(f), nil
	case classBool:
		switch strings.ToLower(strings.TrimSpace(obj)) {
		case "true":
			return boolKey(true), nil
		case "false":
			return boolKey(false), nil
		}
		return key{}, fmt.Errorf("object %q is not true or false (classType %q)", obj, it.ClassType)
	case classChar:
		r, size := utf8.DecodeRuneInString(obj)
		if size == 0 || size != len(obj) || (r == utf8.RuneError && size == 1) {
			return key{}, fmt.Errorf("object %q is not exactly one character (classType %q)", obj, it.ClassType)
		}
		return intKey(int64(r)), nil
	}
	return key{kind: kindString, s: obj}, nil
}

// parseItemAt is parseItem with an error that names the item's position.
func parseItemAt(i int, it Item) (key, error) {
	k, err := parseItem(it)
	if err != nil {
		return key{}, invalid("paramFlowItemList[%d]: %v", i, err)
	}
	return k, nil
}

// ValidItems splits r's exception items into those the manager uses and an
// error for each one it drops (an Object that does not parse for its
// ClassType, or a negative Count). The errors wrap ErrInvalidRule and name the
// item's position.
func (r Rule) ValidItems() (valid []Item, dropped []error) {
	for i, it := range r.ParamFlowItemList {
		if _, err := parseItemAt(i, it); err != nil {
			dropped = append(dropped, err)
			continue
		}
		valid = append(valid, it)
	}
	return valid, dropped
}

// itemTable maps exception values to their thresholds. Rules rarely have more
// than a few items (a converted gateway rule has one), and comparing a few
// keys is cheaper than hashing one, so small tables are a slice scanned in
// order; larger ones are a map.
type itemTable struct {
	small []itemEntry
	big   map[key]int64
}

type itemEntry struct {
	k key
	n int64
}

// maxSmallItems is the size up to which an itemTable is scanned.
const maxSmallItems = 8

// lookup returns the threshold of k's item, if it has one.
func (t *itemTable) lookup(k *key) (int64, bool) {
	if t.big != nil {
		n, ok := t.big[*k]
		return n, ok
	}
	for i := range t.small {
		if e := &t.small[i]; e.k.same(k) {
			return e.n, true
		}
	}
	return 0, false
}

// set gives k the threshold n, replacing an earlier item for k.
func (t *itemTable) set(k key, n int64, size int) {
	if t.big != nil {
		t.big[k] = n
		return
	}
	for i := range t.small {
		if t.small[i].k == k {
			t.small[i].n = n
			return
		}
	}
	if len(t.small) < maxSmallItems {
		if t.small == nil {
			t.small = make([]itemEntry, 0, min(size, maxSmallItems))
		}
		t.small = append(t.small, itemEntry{k, n})
		return
	}
	t.big = make(map[key]int64, size)
	for _, e := range t.small {
		t.big[e.k] = e.n
	}
	t.small = nil
	t.big[k] = n
}

// compileItems builds the value -> threshold table of r's valid items (nil
// when there are none); later items win over earlier ones for the same value.
func compileItems(r Rule) (*itemTable, []error) {
	var t *itemTable
	var dropped []error
	for i, it := range r.ParamFlowItemList {
		k, err := parseItemAt(i, it)
		if err != nil {
			dropped = append(dropped, err)
			continue
		}
		if t == nil {
			t = &itemTable{}
		}
		t.set(k, min(it.Count, math.MaxInt64/4), len(r.ParamFlowItemList))
	}
	return t, dropped
}

// threshold truncates a rule count to whole tokens as Sentinel does, clamped
// so that adding a burst cannot overflow.
func threshold(count float64) int64 {
	if count >= math.MaxInt64/4 {
		return math.MaxInt64 / 4
	}
	return int64(count)
}
