// Package sourcetest holds contract tests that every datasource.Source
// implementation must pass, so that each backend's tests check the same
// promises the same way.
package sourcetest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/rulesync/rulesync/datasource"
)

// ConcurrentCAS runs writers goroutines that each increment a decimal counter
// stored in s with read-modify-write and compare-and-set, retrying on
// ErrConflict. The key must be absent or hold 0 at the start. It fails t unless
// the final value equals writers: a compare-and-set that lets two writers both
// succeed from the same revision loses an increment.
func ConcurrentCAS(t testing.TB, ctx context.Context, s datasource.WritableSource, writers int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				cur, err := s.Read(ctx)
				if err != nil {
					errs <- err
					return
				}
				n, _ := strconv.Atoi(string(cur.Data))
				_, err = s.Write(ctx, []byte(strconv.Itoa(n+1)), cur.Revision)
				if errors.Is(err, datasource.ErrConflict) {
					continue
				}
				if err != nil {
					errs <- err
				}
				return
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data) != strconv.Itoa(writers) {
		t.Fatalf("counter = %q after %d concurrent increments, want %d", got.Data, writers, writers)
	}
}
