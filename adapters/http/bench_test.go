package httpadapter_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	httpadapter "github.com/rulesync/rulesync/adapters/http"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/flow"
)

// discardWriter is a ResponseWriter that keeps nothing, so that a benchmark
// measures the handler chain and not a recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// WriteString is there because net/http's writer has it: a wrapper that
// hid it would cost a copy per write, which the benchmark must show.
func (w *discardWriter) WriteString(s string) (int, error) { return len(s), nil }

// benchMuxes returns a ServeMux serving GET /orders/{id} bare, and one
// serving it behind the middleware with one QPS rule that never blocks.
func benchMuxes(tb testing.TB) (bare, guarded *http.ServeMux, e *engine.Engine) {
	e = engine.New()
	tb.Cleanup(func() { e.Close() })
	e.Flow().Load([]flow.Rule{qps("GET /orders/{id}", 1e12)})
	bare = http.NewServeMux()
	bare.HandleFunc("GET /orders/{id}", ok)
	guarded = http.NewServeMux()
	httpadapter.NewMiddleware(e, httpadapter.WithOrigin(func(r *http.Request) string { return r.Header.Get("X-Caller") })).
		HandleFunc(guarded, "GET /orders/{id}", ok)
	return bare, guarded, e
}

// BenchmarkMiddleware compares a request through a ServeMux with and
// without the middleware, in memory (the mux's routing and the handler, no
// network) and over a loopback server with keep-alive.
func BenchmarkMiddleware(b *testing.B) {
	bare, guarded, _ := benchMuxes(b)
	for _, c := range []struct {
		name string
		mux  *http.ServeMux
	}{{"mux=bare", bare}, {"mux=guarded", guarded}} {
		b.Run("in-memory/"+c.name, func(b *testing.B) {
			w := &discardWriter{h: http.Header{}}
			r := httptest.NewRequest(http.MethodGet, "/orders/42", nil)
			r.Header.Set("X-Caller", "billing")
			b.ReportAllocs()
			for b.Loop() {
				c.mux.ServeHTTP(w, r)
			}
		})
	}
	for _, c := range []struct {
		name string
		mux  *http.ServeMux
	}{{"mux=bare", bare}, {"mux=guarded", guarded}} {
		b.Run("loopback/"+c.name, func(b *testing.B) {
			srv := httptest.NewServer(c.mux)
			defer srv.Close()
			client := srv.Client()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/orders/42", nil)
			req.Header.Set("X-Caller", "billing")
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
