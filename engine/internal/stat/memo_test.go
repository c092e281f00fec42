package stat

import "testing"

func TestMemo(t *testing.T) {
	r := &ResourceNode{Name: "r", Node: NewNode()}
	g1, g2 := NewGeneration(), NewGeneration()
	if g1 == g2 {
		t.Fatal("two generations are equal")
	}
	if _, ok := r.Memo(0, g1); ok {
		t.Fatal("empty slot reported a memo")
	}
	r.SetMemo(0, g1, "one")
	if v, ok := r.Memo(0, g1); !ok || v != "one" {
		t.Fatalf("Memo(0, g1) = %v, %v", v, ok)
	}
	if _, ok := r.Memo(0, g2); ok {
		t.Fatal("a memo of another generation was returned")
	}
	if _, ok := r.Memo(1, g1); ok {
		t.Fatal("a memo leaked into another slot")
	}
	for _, slot := range []int{-1, MemoSlots} {
		r.SetMemo(slot, g1, "x") // ignored, not a panic
		if _, ok := r.Memo(slot, g1); ok {
			t.Fatalf("slot %d out of range reported a memo", slot)
		}
	}
}
