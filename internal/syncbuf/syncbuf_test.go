package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

func TestConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("x"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := len(b.String()); n != 800 {
		t.Fatalf("len = %d, want 800", n)
	}
}

func TestLimitKeepsTheTail(t *testing.T) {
	b := Buffer{Limit: 100}
	b.Write([]byte(strings.Repeat("a", 101)))
	b.Write([]byte("end"))
	if got := b.String(); got != strings.Repeat("a", 25)+"end" {
		t.Fatalf("kept %q", got)
	}
}
