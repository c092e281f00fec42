//go:build !unix

package fsutil

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"
)

// Lock creates path exclusively and removes it on unlock. A process that
// dies holding the lock leaves the file behind; remove it by hand.
func Lock(ctx context.Context, path string) (func(), error) {
	wait := 100 * time.Microsecond
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 10*time.Millisecond)
	}
}
