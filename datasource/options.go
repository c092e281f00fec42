package datasource

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/rulesync/rulesync/codec"
)

// EventKind says what happened to a datasource.
type EventKind int

// Event kinds, in rough order of a datasource's life.
const (
	// Loaded: the first value was applied (from the source or, see SnapshotUsed, a local snapshot);
	// also when the source has no value at start, which starts empty.
	Loaded EventKind = iota + 1
	// Updated: a new value reached the property.
	Updated
	// Rejected: a payload was applied but some rules were left out; Event.Report lists them.
	Rejected
	// Unreadable: a payload could not be decoded at all; the last good value stays.
	Unreadable
	// Deleted: the key or file disappeared (cleared unless WithKeepOnDelete).
	Deleted
	// SourceError: a Read or Watch failed; the datasource backs off and retries.
	SourceError
	// Reconnected: the source answered again after a failure and was read in full.
	Reconnected
	// SnapshotUsed: the source could not be read at start; the local snapshot was applied.
	SnapshotUsed
	// Written: Write or Update stored a value in the source.
	Written
)

var kindNames = [...]string{
	Loaded: "loaded", Updated: "updated", Rejected: "rejected", Unreadable: "unreadable",
	Deleted: "deleted", SourceError: "source-error", Reconnected: "reconnected",
	SnapshotUsed: "snapshot-used", Written: "written",
}

// String returns a short lower-case name such as "updated".
func (k EventKind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one thing an Observer is told.
type Event struct {
	Kind     EventKind
	Name     string // the datasource's name (WithName)
	Revision string // the revision concerned, if any
	// Report is never nil for Loaded, Updated, Rejected, Deleted and
	// SnapshotUsed. For a value that does not exist (Loaded of a missing key,
	// Deleted) it is the report of an empty payload with a note saying so.
	Report *codec.Report
	Err    error // set for Unreadable, SourceError and SnapshotUsed
	Time   time.Time
}

// Observer receives events. It is called synchronously on the goroutine that
// applies updates, so it must return quickly and must not call Write or Update
// on the same datasource.
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Observe calls f(e).
func (f ObserverFunc) Observe(e Event) { f(e) }

// RevisionOrder compares two revisions. It returns ok=false when they cannot be
// compared, in which case snapshots are applied in arrival order; otherwise cmp
// is negative, zero or positive as a is older than, equal to or newer than b.
type RevisionOrder func(a, b string) (cmp int, ok bool)

// Option configures a DataSource.
type Option func(*options)

type options struct {
	name           string
	logger         *slog.Logger
	observers      []Observer
	snapshotDir    string
	keepOnDelete   bool
	pollInterval   time.Duration
	resync         time.Duration
	backoffInitial time.Duration
	backoffMax     time.Duration
	maxRetries     int
	initialTimeout time.Duration
	order          RevisionOrder
	secrets        []string
}

func defaultOptions() options {
	return options{
		name:           "datasource",
		backoffInitial: 100 * time.Millisecond,
		backoffMax:     30 * time.Second,
		maxRetries:     10,
		initialTimeout: 3 * time.Second,
		order:          NumericRevisions,
	}
}

// WithName names the datasource in logs, events, Status and the snapshot file.
// Give every datasource of a process its own name when WithSnapshotDir is used.
func WithName(name string) Option {
	return func(o *options) {
		if name != "" {
			o.name = name
		}
	}
}

// WithLogger sets the logger (default slog.Default(), like every other
// part of rulesync); slog.New(slog.DiscardHandler) silences it.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithObserver adds an observer of events. It may be given more than once.
func WithObserver(obs Observer) Option {
	return func(o *options) {
		if obs != nil {
			o.observers = append(o.observers, obs)
		}
	}
}

// WithSnapshotDir keeps the last good payload in dir (one file per datasource
// name, replaced atomically) and applies it at Start when the source cannot be
// read in time.
func WithSnapshotDir(dir string) Option {
	return func(o *options) { o.snapshotDir = dir }
}

// WithKeepOnDelete keeps the current rules when the key or file is deleted,
// instead of clearing them.
func WithKeepOnDelete() Option {
	return func(o *options) { o.keepOnDelete = true }
}

// WithPollInterval makes the datasource poll the source every d instead of
// using its Watch, for backends without change notifications (see Poll).
func WithPollInterval(d time.Duration) Option {
	return func(o *options) { o.pollInterval = d }
}

// WithResync makes the datasource read the source's whole value every d while
// it watches, as a safety net under watches that stall without an error (a
// notification lost by the backend, a connection that died without the
// client noticing). When a read finds a value the watch did not deliver, and
// the next read, one period later, still does with nothing delivered in
// between, the value is applied and the watch restarted as broken: a
// SourceError event wrapping the reason, then the usual re-read and
// Reconnected. (The wait lets a notification that is merely on its way
// arrive.) A read that races with a delivery of the watch is discarded. Off
// by default; a period of minutes costs one read per period.
func WithResync(d time.Duration) Option {
	return func(o *options) { o.resync = d }
}

// WithBackoff sets the bounds of the exponential backoff (with full jitter)
// between reconnect attempts. The defaults are 100 ms and 30 s.
func WithBackoff(initial, max time.Duration) Option {
	return func(o *options) {
		if initial > 0 {
			o.backoffInitial = initial
		}
		if max >= o.backoffInitial {
			o.backoffMax = max
		}
	}
}

// WithMaxRetries bounds how often Update retries after a revision conflict
// (default 10).
func WithMaxRetries(n int) Option {
	return func(o *options) {
		if n >= 0 {
			o.maxRetries = n
		}
	}
}

// WithInitialTimeout bounds the first Read in Start (default 3 s).
func WithInitialTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.initialTimeout = d
		}
	}
}

// WithRevisionOrder replaces how revisions are compared to drop stale
// snapshots (default NumericRevisions). Pass a function that always returns
// ok=false to apply snapshots strictly in arrival order.
func WithRevisionOrder(order RevisionOrder) Option {
	return func(o *options) {
		if order != nil {
			o.order = order
		}
	}
}
