package jvalue

import (
	"math"
	"testing"

	"github.com/rulesync/rulesync/engine/param"
)

func TestJavaTypedEquality(t *testing.T) {
	key := func(v any) Key {
		k, ok := Of(v)
		if !ok {
			t.Fatalf("Of(%#v) refused", v)
		}
		return k
	}
	if key(int32(1)) == key(int64(1)) {
		t.Fatal("Integer 1 equals Long 1")
	}
	if key(1) != key(int64(1)) {
		t.Fatal("Go int is not a Long")
	}
	if key(float32(1.5)) == key(1.5) {
		t.Fatal("Float 1.5 equals Double 1.5")
	}
	if key(math.NaN()) != key(-math.NaN()) || key(0.0) == key(math.Copysign(0, -1)) {
		t.Fatal("Double equality is not Java's (NaNs equal, +0 != -0)")
	}
	if key("1") == key(int32(1)) || key(true) == key(int8(1)) {
		t.Fatal("values of different types are equal")
	}
	if _, ok := Of(struct{}{}); ok {
		t.Fatal("a struct has a key")
	}
}

func TestParseItems(t *testing.T) {
	r := param.DefaultRule()
	r.ParamFlowItemList = []param.Item{
		{Object: "5", ClassType: "int", Count: 1},
		{Object: "5", ClassType: "long", Count: 2},
		{Object: " 5 ", ClassType: "java.lang.Short", Count: 3},
		{Object: "5", Count: 4}, // a String
		{Object: "1.5", ClassType: "float", Count: 5},
		{Object: "1.5", ClassType: "double", Count: 6},
		{Object: "TRUE", ClassType: "boolean", Count: 7},
		{Object: "a", ClassType: "char", Count: 8},
		{Object: "300", ClassType: "byte", Count: 9},    // dropped: out of range
		{Object: "x", ClassType: "int", Count: 10},      // dropped
		{Object: "yes", ClassType: "boolean", Count: 1}, // dropped
		{Object: "7", ClassType: "int", Count: -1},      // dropped
		{Object: "5", ClassType: "int", Count: 11},      // later item wins
	}
	items, dropped := ParseItems(r)
	if len(dropped) != 4 {
		t.Fatalf("dropped %v", dropped)
	}
	want := map[any]float64{int32(5): 11, int64(5): 2, int16(5): 3, "5": 4, float32(1.5): 5, 1.5: 6, true: 7, int8(5): 99, 'a': 99}
	for v, n := range want {
		k, _ := Of(v)
		if got := items.Threshold(k, 99); got != n {
			t.Errorf("threshold of %T %v = %v, want %v", v, v, got, n)
		}
	}
}
