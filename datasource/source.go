package datasource

import (
	"context"
	"errors"

	"github.com/rulesync/rulesync/codec"
)

// Snapshot is what a Source holds at one moment.
type Snapshot struct {
	Data     []byte
	Revision string // opaque, source-defined (etcd mod revision, content hash, Consul index, ...)
	Exists   bool   // false when the key/file is absent
}

// Source is one key of one backend, read as raw bytes.
type Source interface {
	// Read returns the current value. A missing key is not an error: it returns
	// Snapshot{Exists: false}.
	Read(ctx context.Context) (Snapshot, error)
	// Watch blocks, calling emit with each new snapshot, until ctx ends (it then
	// returns ctx.Err()) or the connection fails. from is the last snapshot the
	// caller holds; sources resume from its revision where they can. The sync loop
	// re-reads and re-watches with backoff after an error.
	Watch(ctx context.Context, from Snapshot, emit func(Snapshot)) error
	// Close releases what the source opened itself (not a client the caller passed in).
	Close() error
}

// WritableSource is a Source that can store a new value with compare-and-set.
type WritableSource interface {
	Source
	// Write stores data if the stored revision still equals expect. expect ""
	// means the key must not exist; AnyRevision skips the check. It returns an
	// error wrapping ErrConflict when the stored revision differs.
	Write(ctx context.Context, data []byte, expect string) (Snapshot, error)
}

// Deleter is a WritableSource that can also remove its key, with the same
// compare-and-set contract as Write.
type Deleter interface {
	Delete(ctx context.Context, expect string) error
}

// AnyRevision passed as expect to Write overwrites whatever is stored.
const AnyRevision = "*"

// Errors returned by datasources and sources; test them with errors.Is.
var (
	// ErrConflict: the stored revision was not the expected one; re-read and retry.
	ErrConflict = errors.New("rulesync: revision conflict")
	// ErrNotWritable: the datasource's source does not implement WritableSource.
	ErrNotWritable = errors.New("rulesync: source is not writable")
	// ErrTooLarge: a payload exceeds the configured size limit.
	ErrTooLarge = errors.New("rulesync: payload too large")
	// ErrClosed: the datasource or source was closed.
	ErrClosed = errors.New("rulesync: closed")
	// ErrUnreadable: a payload could not be decoded at all; the last good rules stay.
	ErrUnreadable = codec.ErrUnreadable
	// ErrInvalid: a value given to Write failed validation and was not written.
	ErrInvalid = errors.New("rulesync: invalid rules")
)
