package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/internal/fsutil"
)

// DefaultMaxSize is the largest file Read accepts unless WithMaxSize says otherwise.
const DefaultMaxSize = 4 << 20

// Source is one rules file. It implements datasource.WritableSource and
// datasource.Deleter. All methods are safe for concurrent use.
type Source struct {
	path     string // absolute, cleaned
	dir      string
	base     string
	maxSize  int64
	debounce time.Duration
	mode     fs.FileMode

	mu      sync.Mutex // serializes this process's writers before the cross-process lock
	closed  atomic.Bool
	closing chan struct{}
	once    sync.Once
}

var (
	_ datasource.WritableSource = (*Source)(nil)
	_ datasource.Deleter        = (*Source)(nil)
)

// Option configures a Source.
type Option func(*Source)

// WithMaxSize refuses files larger than n bytes (default DefaultMaxSize) with
// an error wrapping datasource.ErrTooLarge.
func WithMaxSize(n int64) Option {
	return func(s *Source) {
		if n > 0 {
			s.maxSize = n
		}
	}
}

// WithDebounce sets how long Watch waits after the last file system event
// before re-reading (default 20 ms), so that a file written in several steps
// is read once it is complete.
func WithDebounce(d time.Duration) Option {
	return func(s *Source) {
		if d >= 0 {
			s.debounce = d
		}
	}
}

// WithFileMode sets the permissions of a file that Write creates (default
// 0644); an existing file keeps its own.
func WithFileMode(perm fs.FileMode) Option {
	return func(s *Source) { s.mode = perm.Perm() }
}

// New returns a source for path. The file need not exist yet.
func New(path string, opts ...Option) (*Source, error) {
	if path == "" {
		return nil, errors.New("file: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", path, err)
	}
	if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("file %s: is a directory", abs)
	}
	s := &Source{
		path:     abs,
		dir:      filepath.Dir(abs),
		base:     filepath.Base(abs),
		maxSize:  DefaultMaxSize,
		debounce: 20 * time.Millisecond,
		mode:     0o644,
		closing:  make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Path returns the absolute path of the file.
func (s *Source) Path() string { return s.path }

// Read returns the file's content; a missing file is Snapshot{Exists: false}.
func (s *Source) Read(ctx context.Context) (datasource.Snapshot, error) {
	if s.closed.Load() {
		return datasource.Snapshot{}, fmt.Errorf("file %s: %w", s.path, datasource.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return datasource.Snapshot{}, err
	}
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return datasource.Snapshot{}, nil
	}
	if err != nil {
		return datasource.Snapshot{}, fmt.Errorf("file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return datasource.Snapshot{}, fmt.Errorf("file: %w", err)
	}
	if fi.IsDir() {
		return datasource.Snapshot{}, fmt.Errorf("file %s: is a directory", s.path)
	}
	if fi.Size() > s.maxSize {
		return datasource.Snapshot{}, s.tooLarge(fi.Size())
	}
	// The limit also guards against a file that grows between Stat and the read.
	data, err := readLimited(f, s.maxSize, fi.Size())
	if errors.Is(err, datasource.ErrTooLarge) {
		return datasource.Snapshot{}, fmt.Errorf("file %s: %w", s.path, err)
	}
	if err != nil {
		return datasource.Snapshot{}, fmt.Errorf("file: read %s: %w", s.path, err)
	}
	return datasource.ContentSnapshot(data), nil
}

// ReadAll reads r to its end with the size check Read applies to a file: at
// most limit bytes (DefaultMaxSize when limit <= 0); more is an error
// wrapping datasource.ErrTooLarge that names the limit. Tools that take rules
// from standard input use it to refuse what a file source would refuse.
func ReadAll(r io.Reader, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxSize
	}
	return readLimited(r, limit, 0)
}

// readLimited reads r, failing once it has more than limit bytes; sizeHint
// presizes the buffer.
func readLimited(r io.Reader, limit, sizeHint int64) ([]byte, error) {
	var buf bytes.Buffer
	if sizeHint > 0 {
		buf.Grow(int(sizeHint) + 1)
	}
	if _, err := buf.ReadFrom(io.LimitReader(r, limit+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("more than the limit of %s: %w", limitText(limit), datasource.ErrTooLarge)
	}
	return buf.Bytes(), nil
}

func (s *Source) tooLarge(size int64) error {
	return fmt.Errorf("file %s: %d bytes exceeds the limit of %s: %w", s.path, size, limitText(s.maxSize), datasource.ErrTooLarge)
}

// limitText writes a size limit in bytes, and in KiB or MiB when it is a
// whole number of them: "4194304 bytes (4 MiB)".
func limitText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d bytes (%d MiB)", n, n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d bytes (%d KiB)", n, n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Write replaces the file's content with data if its current revision is
// expect ("" = the file must not exist, datasource.AnyRevision = whatever it
// holds); otherwise it returns an error wrapping datasource.ErrConflict.
func (s *Source) Write(ctx context.Context, data []byte, expect string) (datasource.Snapshot, error) {
	if s.closed.Load() {
		return datasource.Snapshot{}, fmt.Errorf("file %s: %w", s.path, datasource.ErrClosed)
	}
	if int64(len(data)) > s.maxSize {
		return datasource.Snapshot{}, s.tooLarge(int64(len(data)))
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return datasource.Snapshot{}, err
	}
	defer unlock()
	if err := s.check(ctx, expect); err != nil {
		return datasource.Snapshot{}, err
	}
	target := s.path
	if fi, err := os.Lstat(s.path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if target, err = filepath.EvalSymlinks(s.path); err != nil {
			return datasource.Snapshot{}, fmt.Errorf("file %s: resolve symlink: %w", s.path, err)
		}
	}
	mode := s.mode
	if fi, err := os.Stat(target); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := fsutil.WriteAtomic(target, data, mode); err != nil {
		return datasource.Snapshot{}, fmt.Errorf("file %s: %w", s.path, err)
	}
	return datasource.ContentSnapshot(bytes.Clone(data)), nil
}

// Delete removes the file if its current revision is expect, with the same
// rules as Write. Deleting a file that does not exist with expect "" or
// AnyRevision succeeds.
func (s *Source) Delete(ctx context.Context, expect string) error {
	if s.closed.Load() {
		return fmt.Errorf("file %s: %w", s.path, datasource.ErrClosed)
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if expect != "" {
		if err := s.check(ctx, expect); err != nil {
			return err
		}
	}
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("file: %w", err)
	}
	fsutil.SyncDir(s.dir)
	return nil
}

// check compares the file's current revision with expect. Call with the lock held.
func (s *Source) check(ctx context.Context, expect string) error {
	if expect == datasource.AnyRevision {
		return nil
	}
	cur, err := s.Read(ctx)
	if err != nil {
		return err
	}
	return datasource.CheckExpected("file "+s.path, cur, expect)
}

// lock takes the in-process mutex, then the cross-process file lock.
func (s *Source) lock(ctx context.Context) (unlock func(), err error) {
	s.mu.Lock()
	release, err := fsutil.Lock(ctx, filepath.Join(s.dir, "."+s.base+".lock"))
	if err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("file %s: lock: %w", s.path, err)
	}
	return func() {
		release()
		s.mu.Unlock()
	}, nil
}

// Close makes later calls fail with datasource.ErrClosed and ends running Watch calls.
func (s *Source) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		close(s.closing)
	})
	return nil
}
