package consul

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/rulesync/rulesync/datasource"
)

// Source is one Consul key as a datasource.Source, datasource.WritableSource
// and datasource.Deleter. It is safe for concurrent use.
type Source struct {
	client  *api.Client
	key     string
	idle    func() // closes the idle connections of a client Dial made
	secrets datasource.Secrets
	log     *slog.Logger
	wait    time.Duration // WaitTime of a blocking query
	gap     time.Duration // least time between queries that brought nothing
	timeout time.Duration // bound of every request that does not block
	life    context.Context
	stop    context.CancelFunc
	closed  atomic.Bool
}

var (
	_ datasource.WritableSource = (*Source)(nil)
	_ datasource.Deleter        = (*Source)(nil)
	_ datasource.Redactor       = (*Source)(nil)
)

// ErrPermissionDenied is wrapped by the error of a request Consul refused to
// the source's ACL token (HTTP 403, or a refused operation in a
// transaction). The message names the permission that is missing, never
// the token's secret.
var ErrPermissionDenied = errors.New("consul: permission denied")

// MaxWaitTime is the longest blocking query Consul serves.
const MaxWaitTime = 10 * time.Minute

// Option configures a Source.
type Option func(*Source)

// WithLogger sets the logger for what only the source sees: an index that
// went backwards, a missing key a consistent read did not confirm (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(s *Source) {
		if l != nil {
			s.log = l
		}
	}
}

// WithWaitTime sets how long one blocking query waits for a change (Consul's
// wait parameter, at most MaxWaitTime). The query's own deadline is this plus
// the sixteenth Consul may add plus WithRequestTimeout, so a server that
// stopped answering is given up within that time and the sync loop
// reconnects. Default 30s; d <= 0 keeps it.
func WithWaitTime(d time.Duration) Option {
	return func(s *Source) {
		if d > 0 {
			s.wait = min(d, MaxWaitTime)
		}
	}
}

// WithMinQueryInterval sets the least time between the starts of two
// blocking queries when the first returned without a change (a timeout, a
// wake-up for another key), so that a loop of such returns cannot hammer
// Consul. A return with a change is followed by the next query at once.
// Default 100ms; d <= 0 keeps it.
func WithMinQueryInterval(d time.Duration) Option {
	return func(s *Source) {
		if d > 0 {
			s.gap = d
		}
	}
}

// WithRequestTimeout bounds each request that does not block (Read, Write,
// Delete), so that a frozen server cannot hold the caller forever. Default
// 10s; d <= 0 keeps it.
func WithRequestTimeout(d time.Duration) Option {
	return func(s *Source) {
		if d > 0 {
			s.timeout = d
		}
	}
}

// New returns a Source for key on a client the caller owns: Close leaves the
// client alone. A leading "/" of key is dropped (Consul's reads accept it,
// its writes do not).
func New(client *api.Client, key string, opts ...Option) (*Source, error) {
	if client == nil {
		return nil, errors.New("consul: nil client")
	}
	key = NormalizeKey(key)
	if key == "" {
		return nil, errors.New("consul: empty key")
	}
	s := &Source{client: client, key: key, log: slog.Default(), wait: 30 * time.Second,
		gap: 100 * time.Millisecond, timeout: 10 * time.Second}
	for _, o := range opts {
		o(s)
	}
	s.life, s.stop = context.WithCancel(context.Background())
	s.log = s.log.With("source", "consul", "key", key)
	return s, nil
}

// NormalizeKey returns key as Consul stores it: without leading slashes.
func NormalizeKey(key string) string { return strings.TrimLeft(key, "/") }

// Key returns the key the source reads, normalised.
func (s *Source) Key() string { return s.key }

// Read returns the key's current value with a consistent read (answered by
// the leader once its state is up to date); a missing key is
// Snapshot{Exists: false}.
func (s *Source) Read(ctx context.Context) (datasource.Snapshot, error) {
	snap, _, err := s.get(ctx, 0)
	return snap, err
}

// get reads the key and returns the index Consul gave the answer. Index 0 is
// a consistent read bounded by the request timeout; any other index is a
// blocking query from it, bounded by the wait time.
func (s *Source) get(ctx context.Context, index uint64) (datasource.Snapshot, uint64, error) {
	if s.closed.Load() {
		return datasource.Snapshot{}, 0, datasource.ErrClosed
	}
	q := &api.QueryOptions{RequireConsistent: index == 0, WaitIndex: index}
	bound := s.timeout
	if index > 0 {
		q.WaitTime = s.wait
		bound += s.wait + s.wait/16
	}
	ctx, cancel := s.bound(ctx, bound)
	defer cancel()
	p, meta, err := s.client.KV().Get(s.key, q.WithContext(ctx))
	if err != nil {
		return datasource.Snapshot{}, 0, s.errorf("read", err)
	}
	var snap datasource.Snapshot
	if p != nil {
		snap = datasource.Snapshot{Data: p.Value, Revision: formatIndex(p.ModifyIndex), Exists: true}
	}
	return snap, meta.LastIndex, nil
}

// bound is ctx limited to d and ended by Close.
func (s *Source) bound(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, d)
	stop := context.AfterFunc(s.life, cancel)
	return ctx, func() { stop(); cancel() }
}

// Watch emits every change of the key until ctx ends (returning ctx.Err())
// or a request fails (returning the error: the sync loop backs off with
// jitter, reads the key again and watches on). It reads the key first,
// emitting it when it differs from from, then follows it with blocking
// queries from the index of the last answer, as Consul documents: an index
// that goes backwards (the servers' state was restored or rebuilt) ends the
// watch, so that the next one starts from a fresh read at index 0; an index
// below 1 is taken as 1, so no query after the first is a non-blocking one;
// a return without a change emits nothing, and the next query waits for
// WithMinQueryInterval. A missing key blocks on the index Consul answers
// with and is emitted when it appears. A query that finds a key missing that
// was there is confirmed with a consistent read before it is emitted: right
// after an election a leader can answer a blocking query from a state store
// it has not replayed yet.
func (s *Source) Watch(ctx context.Context, from datasource.Snapshot, emit func(datasource.Snapshot)) error {
	snap, index, err := s.get(ctx, 0)
	if err != nil {
		return err
	}
	changes := datasource.NewChanges(from, emit)
	changes.Emit(snap)
	index = max(index, 1)
	for {
		began := time.Now()
		snap, next, err := s.get(ctx, index)
		if err != nil {
			return err
		}
		if next < index {
			s.log.Info("consul index went backwards; reading the key afresh", "from", index, "to", next)
			return fmt.Errorf("consul: watch of %q: index went backwards from %d to %d (the servers' state was restored or rebuilt)", s.key, index, next)
		}
		if !snap.Exists && changes.Last().Exists {
			if snap, _, err = s.get(ctx, 0); err != nil {
				return err
			}
			if snap.Exists {
				s.log.Info("a blocking query found the key missing; a consistent read did not confirm it", "index", next)
			}
		}
		index = max(next, 1)
		if changes.Emit(snap) {
			continue
		}
		if wait := s.gap - time.Since(began); wait > 0 {
			// A little jitter keeps many sources woken by the same write
			// from querying in lockstep.
			wait += rand.N(s.gap/10 + 1)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-s.life.Done():
				t.Stop()
				return datasource.ErrClosed
			case <-t.C:
			}
		}
	}
}

// Write stores data if the key's ModifyIndex equals expect: "" means the key
// must not exist (a check-and-set at index 0), datasource.AnyRevision writes
// unconditionally. It runs as a one-operation transaction, whose answer
// carries the new ModifyIndex. A mismatch returns an error wrapping
// datasource.ErrConflict; a payload over Consul's request limit (512 KiB
// with the value in base64, so about 384 KiB of data) datasource.ErrTooLarge.
func (s *Source) Write(ctx context.Context, data []byte, expect string) (datasource.Snapshot, error) {
	op := &api.KVTxnOp{Verb: api.KVSet, Key: s.key, Value: data}
	if expect != datasource.AnyRevision {
		idx, err := s.expected(expect)
		if err != nil {
			return datasource.Snapshot{}, err
		}
		op.Verb, op.Index = api.KVCAS, idx
	}
	p, err := s.txn(ctx, "write", expect, op)
	if err != nil {
		return datasource.Snapshot{}, err
	}
	if p.ModifyIndex == 0 {
		return datasource.Snapshot{}, fmt.Errorf("consul: write %q: the answer carries no ModifyIndex", s.key)
	}
	return datasource.Snapshot{Data: append([]byte(nil), data...), Revision: formatIndex(p.ModifyIndex), Exists: true}, nil
}

// Delete removes the key if its ModifyIndex equals expect: a check of the
// index and a delete-cas in one transaction (a delete-cas alone succeeds on
// a missing key). expect "" succeeds only when the key does not exist, and
// datasource.AnyRevision deletes unconditionally (a missing key is no error).
func (s *Source) Delete(ctx context.Context, expect string) error {
	ops := []*api.KVTxnOp{{Verb: api.KVDelete, Key: s.key}}
	switch expect {
	case datasource.AnyRevision:
	case "":
		ops[0].Verb = api.KVCheckNotExists
	default:
		idx, err := s.expected(expect)
		if err != nil {
			return err
		}
		ops = []*api.KVTxnOp{{Verb: api.KVCheckIndex, Key: s.key, Index: idx}, {Verb: api.KVDeleteCAS, Key: s.key, Index: idx}}
	}
	_, err := s.txn(ctx, "delete", expect, ops...)
	return err
}

// expected parses expect as a ModifyIndex; "" is index 0 (must not exist).
func (s *Source) expected(expect string) (uint64, error) {
	if expect == "" {
		return 0, nil
	}
	idx, err := parseIndex(expect)
	if err != nil {
		// Not a Consul index (from another source, say): it cannot match.
		return 0, fmt.Errorf("consul: key %q: expected revision %q is not a Consul ModifyIndex: %w", s.key, expect, datasource.ErrConflict)
	}
	return idx, nil
}

// txn runs ops as one transaction and returns the entry the first answers
// with.
func (s *Source) txn(ctx context.Context, what, expect string, ops ...*api.KVTxnOp) (*api.KVPair, error) {
	if s.closed.Load() {
		return nil, datasource.ErrClosed
	}
	ctx, cancel := s.bound(ctx, s.timeout)
	defer cancel()
	txn := make(api.TxnOps, len(ops))
	for i, op := range ops {
		txn[i] = &api.TxnOp{KV: op}
	}
	ok, resp, _, err := s.client.Txn().Txn(txn, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, s.errorf(what, err)
	}
	if !ok {
		var whats []string
		for _, e := range resp.Errors {
			whats = append(whats, e.What)
		}
		msg := s.secrets.Redact(strings.Join(whats, "; "))
		if denied, ok := describeDenial(msg); ok {
			return nil, fmt.Errorf("consul: %s %q: %s: %w", what, s.key, denied, ErrPermissionDenied)
		}
		if expect == "" {
			return nil, fmt.Errorf("consul: %s %q: the key exists, expected none (%s): %w", what, s.key, msg, datasource.ErrConflict)
		}
		return nil, fmt.Errorf("consul: %s %q: expected ModifyIndex %s (%s): %w", what, s.key, expect, msg, datasource.ErrConflict)
	}
	if len(resp.Results) == 0 || resp.Results[0].KV == nil {
		return &api.KVPair{}, nil // deletes and checks answer with no entry
	}
	return resp.Results[0].KV, nil
}

// Close stops further use and ends a running Watch; it closes the idle
// connections of a client Dial made and leaves a caller's client alone.
func (s *Source) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stop()
	if s.idle != nil {
		s.idle()
	}
	return nil
}

// errorf describes a failed request: a refusal says which permission is
// missing, an oversized payload wraps datasource.ErrTooLarge, and no
// message carries a token.
func (s *Source) errorf(op string, err error) error {
	if s.closed.Load() && errors.Is(err, context.Canceled) {
		return datasource.ErrClosed
	}
	var se api.StatusError
	msg := err.Error()
	if errors.As(err, &se) {
		msg = strings.TrimSpace(se.Body)
	}
	if denied, ok := describeDenial(msg); ok {
		return fmt.Errorf("consul: %s %q: %s: %w", op, s.key, s.secrets.Redact(denied), ErrPermissionDenied)
	}
	if se.Code == http.StatusRequestEntityTooLarge || strings.Contains(msg, "too large") {
		return fmt.Errorf("consul: %s %q: %s: %w", op, s.key, s.secrets.Redact(msg), datasource.ErrTooLarge)
	}
	return fmt.Errorf("consul: %s %q: %w", op, s.key, s.secrets.Error(err))
}

// describeDenial returns the part of a Consul answer that says why it
// refused the token, in Consul's words: "Permission denied: token with
// AccessorID '...' lacks permission 'key:write' on "rules/a"" (Consul names
// the token's accessor, never its secret), or "ACL not found" for a token
// it does not know. It reports false for any other answer.
func describeDenial(msg string) (string, bool) {
	if i := strings.Index(msg, "Permission denied"); i >= 0 {
		return msg[i:], true
	}
	if strings.Contains(msg, "ACL not found") {
		return "ACL not found: the token is not known to Consul", true
	}
	return "", false
}

// Redact implements datasource.Redactor: it removes the token Dial was given
// from msg. Consul names tokens by accessor, never by secret; this keeps it
// that way for anything else that might quote one.
func (s *Source) Redact(msg string) string { return s.secrets.Redact(msg) }

func formatIndex(i uint64) string { return strconv.FormatUint(i, 10) }

// parseIndex reads a ModifyIndex as Write and Delete get it in expect: a
// positive decimal without sign or leading zero.
func parseIndex(s string) (uint64, error) {
	i, err := strconv.ParseUint(s, 10, 64)
	if err != nil || i == 0 || formatIndex(i) != s {
		return 0, fmt.Errorf("consul: bad ModifyIndex %q", s)
	}
	return i, nil
}
