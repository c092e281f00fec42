package kitexadapter

import (
	"strconv"
	"testing"
)

// TestResourceNames: names are Service:Method, cached up to maxNames and
// built per call past that.
func TestResourceNames(t *testing.T) {
	var r resourceNames
	for i := range maxNames + 10 {
		m := "M" + strconv.Itoa(i)
		if got := r.of("svc", m); got != "svc:"+m {
			t.Fatalf("of(svc, %s) = %q", m, got)
		}
	}
	if n := len(*r.m.Load()); n != maxNames {
		t.Fatalf("%d names cached, want %d", n, maxNames)
	}
	if got := r.of("svc", "M0"); got != "svc:M0" {
		t.Fatalf("cached name %q", got)
	}
}
