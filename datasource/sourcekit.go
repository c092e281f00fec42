package datasource

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// What every backend's Source needs besides its SDK calls: content
// revisions and the client-side compare of a compare-and-set, the dedupe of
// what a watch emits, the check of a silent watch, and keeping secrets out of
// errors. A new backend is its SDK calls and these.

// ContentRevision is the revision of a payload for backends without a
// revision of their own (a file, a Redis key): its SHA-256 in hex. Equal
// content has equal revisions, wherever it is stored.
func ContentRevision(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// ContentSnapshot is a snapshot of data that exists, with its ContentRevision.
func ContentSnapshot(data []byte) Snapshot {
	return Snapshot{Data: data, Revision: ContentRevision(data), Exists: true}
}

// CheckExpected is the compare of a compare-and-set made by the client: it
// returns nil when the stored snapshot cur is at revision expect ("": cur
// must not exist; AnyRevision: anything), and otherwise an error wrapping
// ErrConflict that names what (the key or file) and both revisions.
func CheckExpected(what string, cur Snapshot, expect string) error {
	switch {
	case expect == AnyRevision:
		return nil
	case expect == "" && cur.Exists:
		return fmt.Errorf("%s: exists (revision %.12s), expected none: %w", what, cur.Revision, ErrConflict)
	case expect != "" && !cur.Exists:
		return fmt.Errorf("%s: missing, expected revision %.12s: %w", what, expect, ErrConflict)
	case expect != "" && cur.Revision != expect:
		return fmt.Errorf("%s: revision %.12s, expected %.12s: %w", what, cur.Revision, expect, ErrConflict)
	}
	return nil
}

// SameState reports whether two snapshots are the same state of a key: both
// absent, or both present with the same revision and the same bytes (an
// equal revision number from another store's history is not the same state).
func SameState(a, b Snapshot) bool {
	if a.Exists != b.Exists {
		return false
	}
	return !a.Exists || a.Revision == b.Revision && bytes.Equal(a.Data, b.Data)
}

// Changes passes on what a watch sees, dropping every snapshot that is the
// same state as the last one passed on (at first, the snapshot the caller
// holds). A Source's Watch wraps its emit in one, so that re-reads after a
// reconnect or a health check emit nothing when nothing changed.
type Changes struct {
	last Snapshot
	emit func(Snapshot)
}

// NewChanges returns a Changes that starts from the caller's snapshot from.
func NewChanges(from Snapshot, emit func(Snapshot)) *Changes {
	return &Changes{last: from, emit: emit}
}

// Emit passes s on unless it is the same state as the last one; it reports
// whether it did.
func (c *Changes) Emit(s Snapshot) bool {
	if SameState(s, c.last) {
		return false
	}
	c.last = s
	c.emit(s)
	return true
}

// Last returns the last snapshot passed on (or the starting one).
func (c *Changes) Last() Snapshot { return c.last }

// ErrSilent is wrapped by the error of a watch whose connection check went
// unanswered (see Silence).
var ErrSilent = errors.New("rulesync: watch silent")

// Silence is the connection check of a watch that can stay quiet for good
// reasons: after one period in which nothing was heard, the watch checks its
// connection (an etcd progress request, a probe through a Redis
// subscription); when the next period passes without an answer either, the
// connection is dead however open it looks, and the watch ends so that the
// sync loop reconnects. Use C (a timer) or your own timeout, call Heard for
// anything that arrives, and Elapsed when a quiet period ends. It is not safe
// for concurrent use.
type Silence struct {
	period   time.Duration
	checking bool
	timer    *time.Timer
}

// NewSilence returns a check with the given quiet period.
func NewSilence(period time.Duration) *Silence { return &Silence{period: period} }

// Period returns the quiet period.
func (s *Silence) Period() time.Duration { return s.period }

// C returns a channel that receives when a quiet period ends; the timer
// starts with the first call. Stop releases it.
func (s *Silence) C() <-chan time.Time {
	if s.timer == nil {
		s.timer = time.NewTimer(s.period)
	}
	return s.timer.C
}

// Heard records that something arrived (an event, a check's answer): the
// connection works, and the quiet period starts over.
func (s *Silence) Heard() {
	s.checking = false
	s.reset()
}

// Checking reports whether a check is out and unanswered.
func (s *Silence) Checking() bool { return s.checking }

// Elapsed records that a quiet period ended with nothing heard. It returns
// nil when the watch should send a check now (the period starts over), and
// an error wrapping ErrSilent, naming what, when the check sent one period
// ago went unanswered.
func (s *Silence) Elapsed(what string) error {
	if s.checking {
		return fmt.Errorf("%s: no answer to a connection check within %s: %w", what, s.period, ErrSilent)
	}
	s.checking = true
	s.reset()
	return nil
}

// Stop releases the timer.
func (s *Silence) Stop() {
	if s.timer != nil {
		s.timer.Stop()
	}
}

func (s *Silence) reset() {
	if s.timer != nil {
		s.timer.Reset(s.period)
	}
}

// Secrets lists the credentials (passwords, tokens) that a Source must keep
// out of its errors. Its Redact makes a Source a Redactor:
//
//	func (s *Source) Redact(msg string) string { return s.secrets.Redact(msg) }
type Secrets []string

// Redact replaces every secret in msg with REDACTED.
func (s Secrets) Redact(msg string) string {
	for _, sec := range s {
		if sec != "" {
			msg = strings.ReplaceAll(msg, sec, "REDACTED")
		}
	}
	return msg
}

// Error returns err with every secret removed from its message, keeping its
// chain for errors.Is and errors.As; nil stays nil.
func (s Secrets) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := s.Redact(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, cause: err}
}
