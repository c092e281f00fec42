// Package httpstatus holds the response writer the HTTP middlewares wrap a
// handler's writer in, to learn the status it answered with while keeping
// the optional interfaces of net/http's own writer reachable.
package httpstatus

import (
	"io"
	"net/http"
)

// Writer remembers the first final status written through it (200 when the
// handler writes a body without a header). It passes Flush, io.StringWriter
// and io.ReaderFrom through and unwraps for http.ResponseController
// (hijacking, deadlines): hiding any of them would make a handler behind the
// middleware slower (a copied string on each io.WriteString, no sendfile)
// or unable to do what it can do without it.
type Writer struct {
	http.ResponseWriter
	// Status is the status answered, 0 while nothing was written.
	Status int
}

// WriteHeader implements http.ResponseWriter. Informational (1xx) headers
// are not the answer's status.
func (w *Writer) WriteHeader(code int) {
	if w.Status == 0 && code >= 200 {
		w.Status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *Writer) Write(b []byte) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// WriteString implements io.StringWriter.
func (w *Writer) WriteString(s string) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	return io.WriteString(w.ResponseWriter, s)
}

// ReadFrom implements io.ReaderFrom.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{w.ResponseWriter}, r)
}

// writerOnly hides every method but Write, so that io.Copy does not call
// ReadFrom again.
type writerOnly struct{ io.Writer }

// Flush implements http.Flusher.
func (w *Writer) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
