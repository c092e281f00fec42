package httpstatus

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// recorder counts which of its methods the Writer reached.
type recorder struct {
	*httptest.ResponseRecorder
	strings, readFroms int
}

func (r *recorder) WriteString(s string) (int, error) {
	r.strings++
	return r.ResponseRecorder.WriteString(s)
}
func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	r.readFroms++
	return io.Copy(r.ResponseRecorder, src)
}

func TestWriterKeepsStatusAndInterfaces(t *testing.T) {
	for _, tt := range []struct {
		name   string
		handle func(w http.ResponseWriter)
		status int
	}{
		{"nothing written", func(http.ResponseWriter) {}, 0},
		{"body only", func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")) }, 200},
		{"string only", func(w http.ResponseWriter) { _, _ = io.WriteString(w, "x") }, 200},
		{"read from", func(w http.ResponseWriter) { _, _ = io.Copy(w, strings.NewReader("x")) }, 200},
		{"1xx then 503", func(w http.ResponseWriter) { w.WriteHeader(103); w.WriteHeader(503) }, 503},
		{"500 then body", func(w http.ResponseWriter) { w.WriteHeader(500); _, _ = w.Write([]byte("x")) }, 500},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{ResponseRecorder: httptest.NewRecorder()}
			w := &Writer{ResponseWriter: rec}
			tt.handle(w)
			if w.Status != tt.status {
				t.Fatalf("Status = %d, want %d", w.Status, tt.status)
			}
		})
	}
	rec := &recorder{ResponseRecorder: httptest.NewRecorder()}
	w := &Writer{ResponseWriter: rec}
	_, _ = io.WriteString(w, "a")
	_, _ = io.Copy(w, struct{ io.Reader }{strings.NewReader("b")}) // no WriteTo: io.Copy must use ReadFrom
	if rec.strings != 1 || rec.readFroms != 1 {
		t.Fatalf("the underlying writer's WriteString ran %d times, ReadFrom %d times; want 1 and 1", rec.strings, rec.readFroms)
	}
	if err := http.NewResponseController(w).Flush(); err != nil {
		t.Fatalf("Flush through the wrapper: %v", err)
	}
	if !rec.Flushed || rec.Body.String() != "ab" {
		t.Fatalf("flushed %v, body %q", rec.Flushed, rec.Body.String())
	}
}
