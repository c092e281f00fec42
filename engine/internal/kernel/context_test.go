package kernel

import (
	"math"
	"testing"
)

func TestFinite(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if Finite(v) {
			t.Errorf("Finite(%v) = true", v)
		}
	}
	if !Finite(0) || !Finite(-3.5) {
		t.Error("Finite rejected a finite number")
	}
}

type hook struct {
	order *[]int
	id    int
}

func (h hook) OnExit(*Context) { *h.order = append(*h.order, h.id) }

func TestExitHooksRunLastFirstBeyondInlineCapacity(t *testing.T) {
	var c Context
	var order []int
	for i := range 6 {
		c.AddExit(hook{&order, i})
	}
	c.RunExits()
	want := []int{5, 4, 3, 2, 1, 0}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order = %v, want %v", order, want)
		}
	}
	order = order[:0]
	c.RunExits()
	if len(order) != 0 {
		t.Fatal("hooks ran twice")
	}
}
