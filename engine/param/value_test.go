package param

import (
	"math"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/engine/base"
)

func TestArgKey(t *testing.T) {
	type named uint16
	type id string
	type point struct{ x, y int }
	p := &point{}
	tests := []struct {
		name string
		a, b any
		same bool
	}{
		{"int and int64", 5, int64(5), true},
		{"int and uint8", 5, uint8(5), true},
		{"int and named uint16", 5, named(5), true},
		{"int and integral float", 5, 5.0, true},
		{"int and integral float32", 5, float32(5), true},
		{"int and fractional float", 5, 5.5, false},
		{"negative zero is zero", 0, math.Copysign(0, -1), true},
		{"NaN is one value", math.NaN(), float32(math.NaN()), true},
		{"huge uint64 is not an int", uint64(math.MaxUint64), int64(-1), false},
		{"uint64 within int64", uint64(7), 7, true},
		{"2^63 as float is not MinInt64", math.Pow(2, 63), int64(math.MinInt64), false},
		{"string and named string", "a", id("a"), true},
		{"string and []byte", "a", []byte("a"), true},
		{"string and StringRef", "a", RefString(new("a")), true},
		{"StringRef and StringRef", RefString(new("a")), RefString(new("a")), true},
		{"StringRefs differ", RefString(new("a")), RefString(new("b")), false},
		{"string and number", "5", 5, false},
		{"rune and int", 'a', 97, true},
		{"bool and int", true, 1, false},
		{"bools", true, true, true},
		{"struct values", point{1, 2}, point{1, 2}, true},
		{"struct values differ", point{1, 2}, point{2, 1}, false},
		{"same pointer", p, p, true},
		{"different pointers", p, &point{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka, kda := argKey(tt.a)
			kb, kdb := argKey(tt.b)
			if kda != argScalar || kdb != argScalar {
				t.Fatalf("kinds %d, %d; want scalars", kda, kdb)
			}
			if (ka == kb) != tt.same {
				t.Fatalf("argKey(%#v) == argKey(%#v) is %v, want %v", tt.a, tt.b, ka == kb, tt.same)
			}
		})
	}
}

func TestArgKind(t *testing.T) {
	var nilPtr *int
	var nilIface error
	ch := make(chan int)
	tests := []struct {
		arg  any
		want argKind
	}{
		{nil, argSkip},
		{nilPtr, argSkip},
		{nilIface, argSkip},
		{map[int]int{}, argSkip},
		{func() {}, argSkip},
		{struct{ s []int }{}, argSkip},
		{struct{ v any }{v: []int{1}}, argSkip},
		{struct{ v any }{v: 1}, argScalar},
		{ch, argScalar}, // channels compare by identity
		{[]int{1}, argCollection},
		{[]string{}, argCollection},
		{[]any{1}, argCollection},
		{[3]int{}, argCollection},
		{[]float64{1}, argCollection},
		{[]byte("x"), argScalar},
		{[2]byte{}, argCollection},
	}
	for _, tt := range tests {
		if _, got := argKey(tt.arg); got != tt.want {
			t.Errorf("argKey(%#v) kind = %d, want %d", tt.arg, got, tt.want)
		}
	}
}

func TestEachElementSkipsNilAndNested(t *testing.T) {
	var got []any
	eachElement([]any{1, nil, []int{2}, "s", map[int]int{}}, func(e any, _ key) bool {
		got = append(got, e)
		return true
	})
	if len(got) != 2 || got[0] != 1 || got[1] != "s" {
		t.Fatalf("elements = %#v, want [1 s]", got)
	}
	got = got[:0]
	eachElement([]*int{nil, new(int)}, func(e any, _ key) bool {
		got = append(got, e)
		return true
	})
	if len(got) != 1 {
		t.Fatalf("elements of []*int = %#v, want the one non-nil pointer", got)
	}
}

func TestRefill(t *testing.T) {
	tests := []struct {
		elapsed, count, dur, max, want int64
	}{
		{1500, 10, 1000, 100, 15},
		{3000, 4, 2000, 8, 6},
		{1001, 3, 1000, 3, 3},
		{60_000, 2, 1000, 5, 5},
		{math.MaxInt64, math.MaxInt64 / 4, 1000, math.MaxInt64 / 2, math.MaxInt64 / 2},
		{1 << 40, 1 << 30, 1 << 40, 1 << 31, 1 << 30},
	}
	for _, tt := range tests {
		if got := refill(tt.elapsed, tt.count, tt.dur, tt.max); got != tt.want {
			t.Errorf("refill(%d, %d, %d, %d) = %d, want %d", tt.elapsed, tt.count, tt.dur, tt.max, got, tt.want)
		}
	}
}

// order is an argument that limits by its user, as a Sentinel ParamFlowArgument would.
type order struct {
	id   int
	user string
}

func (o order) ParamFlowKey() any { return o.user }

// shard is a named int whose key is not its own value.
type shard int

func (s shard) ParamFlowKey() any { return int(s) % 2 }

type keyOf struct{ k any }

func (k keyOf) ParamFlowKey() any { return k.k }

func TestArgument(t *testing.T) {
	tests := []struct {
		name    string
		args    [][]any // calls, in order
		wantOK  []bool  // whether each call passes, count 1
		wantVal any     // the value named by the last block
	}{
		{"keyed struct shares the bucket of its key",
			[][]any{{order{1, "u1"}}, {"u1"}, {order{2, "u2"}}}, []bool{true, false, true}, "u1"},
		{"key wins over the value's kind",
			[][]any{{shard(3)}, {shard(5)}, {1}, {shard(4)}}, []bool{true, false, false, true}, 1},
		{"nil key does not apply",
			[][]any{{keyOf{nil}}, {keyOf{nil}}}, []bool{true, true}, nil},
		{"slice key is checked element by element",
			[][]any{{keyOf{[]int{1, 2}}}, {2}}, []bool{true, false}, 2},
		{"a key that is itself an Argument is not resolved again",
			[][]any{{keyOf{order{1, "u1"}}}, {keyOf{order{1, "u1"}}}}, []bool{true, true}, nil},
		{"elements of []any are resolved",
			[][]any{{[]any{order{1, "u1"}}}, {"u1"}}, []bool{true, false}, "u1"},
		{"elements of a typed slice are resolved",
			[][]any{{[]order{{1, "u1"}, {2, "u2"}}}, {"u2"}}, []bool{true, false}, "u2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newTestManager(t)
			mustLoad(t, m, qpsRule(1))
			var last *base.BlockError
			for i, args := range tt.args {
				be := m.Check(call(args...))
				if (be == nil) != tt.wantOK[i] {
					t.Fatalf("call %d %#v: block = %v, want pass %v", i, args, be, tt.wantOK[i])
				}
				if be != nil {
					last = be
				}
			}
			if last != nil && last.Value != tt.wantVal {
				t.Fatalf("block names value %#v, want %#v", last.Value, tt.wantVal)
			}
		})
	}
}

// TestStringRef checks that a StringRef is counted as its string, shares its
// bucket, exits the slot its Check took, and never reaches a BlockError.
func TestStringRef(t *testing.T) {
	m, _ := newTestManager(t)
	mustLoad(t, m, qpsRule(2))
	s := "user-7"
	if got := passes(m, 1, RefString(&s)) + passes(m, 1, "user-7"); got != 2 {
		t.Fatalf("%d of 2 calls passed", got)
	}
	be := m.Check(call(RefString(&s)))
	if be == nil {
		t.Fatal("third call of one value passed a count of 2: the StringRef has a bucket of its own")
	}
	if v, ok := be.Value.(string); !ok || v != "user-7" {
		t.Errorf("BlockError.Value = %#v, want the string itself", be.Value)
	}
	if !strings.Contains(be.Reason, "user-7") {
		t.Errorf("reason %q does not name the value", be.Reason)
	}
	if m.Check(call(StringRef{})) != nil || m.Check(call([]any{StringRef{}, RefString(new("other"))})) != nil {
		t.Error("a zero StringRef is not skipped like nil")
	}

	tm, _ := newTestManager(t)
	r := qpsRule(1)
	r.Grade = GradeThread
	mustLoad(t, tm, r)
	c := call(RefString(&s))
	if tm.Check(c) != nil {
		t.Fatal("first call blocked")
	}
	if tm.Check(call("user-7")) == nil {
		t.Error("the string and its StringRef hold separate slots")
	}
	tm.Exit(c)
	if tm.Check(call("user-7")) != nil {
		t.Error("Exit with the StringRef did not give the slot back")
	}
}
