//go:build !race

package httpadapter_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestPassAddsNoAllocation: a passed request through the middleware
// allocates exactly what the bare mux does (the race detector allocates,
// hence the build tag).
func TestPassAddsNoAllocation(t *testing.T) {
	bare, guarded, _ := benchMuxes(t)
	w := &discardWriter{h: http.Header{}}
	r := httptest.NewRequest(http.MethodGet, "/orders/42", nil)
	r.Header.Set("X-Caller", "billing")
	guarded.ServeHTTP(w, r) // the first call creates the resource's nodes
	base := testing.AllocsPerRun(1000, func() { bare.ServeHTTP(w, r) })
	got := testing.AllocsPerRun(1000, func() { guarded.ServeHTTP(w, r) })
	if got != base {
		t.Fatalf("%v allocations per request through the middleware, %v without", got, base)
	}
}
