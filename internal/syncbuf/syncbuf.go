// Package syncbuf holds a byte buffer that goroutines may write to while
// others read it: the sink for a child process's output, or for logs that a
// test inspects while the code under test still writes.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer guarded by a mutex. The zero value is an empty,
// unbounded buffer.
type Buffer struct {
	// Limit, when positive, bounds the memory a chatty writer can take: once
	// the buffer passes Limit bytes, only its last Limit/4 are kept.
	Limit int

	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p; it never fails.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Limit > 0 && s.b.Len() > s.Limit {
		keep := s.b.Bytes()[s.b.Len()-s.Limit/4:]
		s.b = *bytes.NewBuffer(append([]byte(nil), keep...))
	}
	return s.b.Write(p)
}

// String returns what was written (what is kept of it, with a Limit).
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
