package etcd

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/rulesync/rulesync/datasource"
)

// Source is one etcd key as a datasource.Source, datasource.WritableSource and
// datasource.Deleter. It is safe for concurrent use.
type Source struct {
	client  *clientv3.Client
	key     string
	owned   bool               // Close closes client
	secrets datasource.Secrets // Dial's password, redacted from messages
	log     *slog.Logger
	health  time.Duration
	closed  atomic.Bool
}

var (
	_ datasource.WritableSource = (*Source)(nil)
	_ datasource.Deleter        = (*Source)(nil)
	_ datasource.Redactor       = (*Source)(nil)
)

// Option configures a Source.
type Option func(*Source)

// WithLogger sets the logger for watch restarts and compaction recovery
// (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(s *Source) {
		if l != nil {
			s.log = l
		}
	}
}

// WithHealthCheck sets how long a watch may stay silent before the source
// asks its stream for a progress report; a report that does not come within
// another period ends Watch with an error, and the sync loop reconnects. This
// catches a stream that died without the client noticing (a client without
// gRPC keepalive, a frozen server), which would otherwise wait forever.
// Default 15s; d <= 0 keeps the default.
func WithHealthCheck(d time.Duration) Option {
	return func(s *Source) {
		if d > 0 {
			s.health = d
		}
	}
}

// New returns a Source for key on a client the caller owns: Close leaves the
// client open.
func New(client *clientv3.Client, key string, opts ...Option) (*Source, error) {
	if client == nil {
		return nil, errors.New("etcd: nil client")
	}
	if key == "" {
		return nil, errors.New("etcd: empty key")
	}
	s := &Source{client: client, key: key, log: slog.Default(), health: 15 * time.Second}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("source", "etcd", "key", key)
	return s, nil
}

// Config is what Dial needs to reach etcd. Its param tags name the
// parameters of Backend (a startup file's keys).
type Config struct {
	Endpoints []string `param:"endpoints,required" env:"ETCD_ENDPOINTS" usage:"etcd endpoints, comma-separated (http://host:2379)"`
	// Username and Password enable etcd's auth; both or neither.
	Username string `param:"username" usage:"user name (with password)"`
	Password string `param:"password,secret" usage:"password of the user"`
	// TLS, when set, is used for the client connection (https endpoints,
	// client certificates); otherwise TLSFiles, when any is set.
	TLS      *tls.Config
	TLSFiles datasource.TLSFiles `param:",inline"`
	// DialTimeout bounds the first connection (default 5s).
	DialTimeout time.Duration `param:"dial-timeout" usage:"bound on the first connection (default 5s)"`
	// KeepAliveTime is how long a silent connection waits before the client
	// pings the server (default 10s; etcd refuses pings more often than every
	// 5s by default). A ping unanswered for KeepAliveTimeout (default 5s) drops
	// the connection, so a watch on a partitioned or frozen server reconnects
	// instead of waiting forever.
	KeepAliveTime    time.Duration `param:"keepalive-time" usage:"ping a silent connection after this long (default 10s)"`
	KeepAliveTimeout time.Duration `param:"keepalive-timeout" usage:"drop a connection whose ping is unanswered this long (default 5s)"`
}

// String describes the configuration without its password.
func (c Config) String() string { return datasource.DescribeParams("etcd", c) }

// LogValue keeps the password out of structured logs.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// backendParams are the parameters of Backend: a Config and the key.
type backendParams struct {
	Config    `param:",inline"`
	Key       string `param:"key,required" usage:"the key holding the rules"`
	KeyPrefix string `param:"key-prefix" usage:"prefix of the keys named by data id (key = prefix + data id)"`
}

// Backend returns etcd's entry of a backend table. Every source it opens
// gets opts.
func Backend(opts ...Option) datasource.Backend {
	return datasource.Backend{
		Name:    "etcd",
		Summary: "one etcd key; watched from its revision, written with a transaction on its mod revision",
		Params:  datasource.ParamsOf(backendParams{}),
		Primary: "endpoints",
		Open: datasource.TypedOpen("etcd", backendParams{}, func(ctx context.Context, bp backendParams) (datasource.WritableSource, error) {
			return Dial(ctx, bp.Config, bp.Key, opts...)
		}),
		DataID: datasource.DataIDAt("key", "key-prefix"),
	}
}

// Dial connects to etcd with cfg and returns a Source for key that owns its
// client: Close closes it.
func Dial(ctx context.Context, cfg Config, key string, opts ...Option) (*Source, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	if (cfg.Username == "") != (cfg.Password == "") {
		return nil, errors.New("etcd: username and password go together")
	}
	if key == "" {
		return nil, errors.New("etcd: empty key")
	}
	timeout := cfg.DialTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("etcd: dial %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	keepAlive, keepAliveTimeout := cfg.KeepAliveTime, cfg.KeepAliveTimeout
	if keepAlive <= 0 {
		keepAlive = 10 * time.Second
	}
	if keepAliveTimeout <= 0 {
		keepAliveTimeout = 5 * time.Second
	}
	tlsCfg := cfg.TLS
	if tlsCfg == nil {
		var err error
		if tlsCfg, err = cfg.TLSFiles.Config(); err != nil {
			return nil, fmt.Errorf("etcd: %w", err)
		}
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:            cfg.Endpoints,
		Username:             cfg.Username,
		Password:             cfg.Password,
		TLS:                  tlsCfg,
		DialTimeout:          timeout,
		DialKeepAliveTime:    keepAlive,
		DialKeepAliveTimeout: keepAliveTimeout,
		// The SDK's own zap logging is noisy and bypasses slog; errors reach us anyway.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd: dial %s: %w", strings.Join(cfg.Endpoints, ","), datasource.Secrets{cfg.Password}.Error(err))
	}
	s, err := New(client, key, opts...)
	if err != nil {
		client.Close()
		return nil, err
	}
	s.owned, s.secrets = true, datasource.Secrets{cfg.Password}
	return s, nil
}

// Key returns the etcd key the source reads.
func (s *Source) Key() string { return s.key }

// Read returns the key's current value; a missing key is Snapshot{Exists: false}.
func (s *Source) Read(ctx context.Context) (datasource.Snapshot, error) {
	snap, _, err := s.get(ctx)
	return snap, err
}

// get reads the key and also returns the store revision the read saw, from
// which a watch continues without a gap.
func (s *Source) get(ctx context.Context) (datasource.Snapshot, int64, error) {
	if s.closed.Load() {
		return datasource.Snapshot{}, 0, datasource.ErrClosed
	}
	resp, err := s.client.Get(ctx, s.key)
	if err != nil {
		return datasource.Snapshot{}, 0, s.errorf("read", err)
	}
	if len(resp.Kvs) == 0 {
		return datasource.Snapshot{}, resp.Header.Revision, nil
	}
	return snapshotOf(resp.Kvs[0]), resp.Header.Revision, nil
}

func snapshotOf(kv *mvccpb.KeyValue) datasource.Snapshot {
	return datasource.Snapshot{Data: kv.Value, Revision: formatRev(kv.ModRevision), Exists: true}
}

// Watch emits every change of the key after from until ctx ends (returning
// ctx.Err()) or the watch fails (returning an error for the sync loop to
// reconnect). It first reads the key: when from's revision belongs to this
// store's history it resumes right after it, replaying what happened since;
// otherwise (no revision, a missing key, a revision from another cluster or a
// restored backup) it emits the current value if it differs from from and
// watches on from the read.
func (s *Source) Watch(ctx context.Context, from datasource.Snapshot, emit func(datasource.Snapshot)) error {
	if s.closed.Load() {
		return datasource.ErrClosed
	}
	cur, storeRev, err := s.get(ctx)
	if err != nil {
		return err
	}
	changes := datasource.NewChanges(from, emit)
	next := storeRev + 1
	if rev, ok := resumable(from, cur, storeRev); ok {
		next = rev + 1
	} else {
		changes.Emit(cur)
	}
	for {
		var err error
		if next, err = s.watchFrom(ctx, next, changes); err != nil {
			return err
		}
	}
}

// resumable reports whether a watch can replay the key's history from from's
// revision: the revision must lie in this store's past and not before the key's
// current version, and the key must exist (a deletion after from would not be
// replayed by a store that never had from's value).
func resumable(from, cur datasource.Snapshot, storeRev int64) (int64, bool) {
	if !from.Exists || !cur.Exists {
		return 0, false
	}
	rev, err := parseRev(from.Revision)
	if err != nil || rev > storeRev {
		return 0, false
	}
	curRev, err := parseRev(cur.Revision)
	if err != nil || curRev < rev {
		return 0, false
	}
	if curRev == rev && !bytes.Equal(cur.Data, from.Data) {
		return 0, false // same number, other history (a restored or foreign snapshot)
	}
	return rev, true
}

// watchFrom runs one watch stream from revision rev. It returns the revision to
// continue from after a compaction was handled, or an error that ends Watch.
func (s *Source) watchFrom(ctx context.Context, rev int64, changes *datasource.Changes) (int64, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Require a leader: a member cut off from its cluster would otherwise keep
	// the stream open and silent. The progress requests below must carry the
	// same context, which names the stream they go to.
	wctx = clientv3.WithRequireLeader(wctx)
	ch := s.client.Watch(wctx, s.key, clientv3.WithRev(rev))
	silence := datasource.NewSilence(s.health)
	defer silence.Stop()
	for {
		var resp clientv3.WatchResponse
		var ok bool
		select {
		case resp, ok = <-ch:
		case <-silence.C():
			if err := silence.Elapsed(fmt.Sprintf("etcd: watch of %q (progress request)", s.key)); err != nil {
				return 0, err
			}
			// The progress request is queued on the stream; its answer, or
			// the stream's failure, comes through ch.
			if err := s.client.RequestProgress(wctx); err != nil {
				if ctx.Err() != nil {
					return 0, ctx.Err()
				}
				return 0, s.errorf("progress request", err)
			}
			continue
		}
		if !ok {
			break
		}
		silence.Heard()
		if resp.IsProgressNotify() {
			continue
		}
		if resp.CompactRevision != 0 || errors.Is(resp.Err(), rpctypes.ErrCompacted) {
			// History from rev is gone: the current value is the truth.
			s.log.Info("etcd history compacted; re-reading key", "from", rev, "compacted", resp.CompactRevision)
			snap, storeRev, err := s.get(ctx)
			if err != nil {
				return 0, err
			}
			changes.Emit(snap)
			return storeRev + 1, nil
		}
		if err := resp.Err(); err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, s.errorf("watch", err)
		}
		for _, ev := range resp.Events {
			var snap datasource.Snapshot
			if ev.Type == clientv3.EventTypeDelete {
				snap = datasource.Snapshot{}
			} else {
				snap = snapshotOf(ev.Kv)
			}
			rev = ev.Kv.ModRevision + 1
			changes.Emit(snap)
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if s.closed.Load() {
		return 0, datasource.ErrClosed
	}
	return 0, fmt.Errorf("etcd: watch of %q closed by the client", s.key)
}

// Write stores data if the key's mod revision equals expect: "" means the key
// must not exist, datasource.AnyRevision writes unconditionally. A mismatch
// returns an error wrapping datasource.ErrConflict.
func (s *Source) Write(ctx context.Context, data []byte, expect string) (datasource.Snapshot, error) {
	if s.closed.Load() {
		return datasource.Snapshot{}, datasource.ErrClosed
	}
	put := clientv3.OpPut(s.key, string(data))
	var (
		rev int64
		err error
	)
	if expect == datasource.AnyRevision {
		var resp *clientv3.PutResponse
		if resp, err = s.client.Put(ctx, s.key, string(data)); err == nil {
			rev = resp.Header.Revision
		}
	} else {
		rev, err = s.txn(ctx, expect, put)
	}
	if err != nil {
		return datasource.Snapshot{}, err
	}
	return datasource.Snapshot{Data: append([]byte(nil), data...), Revision: formatRev(rev), Exists: true}, nil
}

// Delete removes the key if its mod revision equals expect (datasource.AnyRevision:
// unconditionally). Deleting a missing key with AnyRevision is not an error.
func (s *Source) Delete(ctx context.Context, expect string) error {
	if s.closed.Load() {
		return datasource.ErrClosed
	}
	if expect == datasource.AnyRevision {
		if _, err := s.client.Delete(ctx, s.key); err != nil {
			return s.errorf("delete", err)
		}
		return nil
	}
	_, err := s.txn(ctx, expect, clientv3.OpDelete(s.key))
	return err
}

// txn runs op if the key is still at revision expect and returns the store
// revision of the transaction.
func (s *Source) txn(ctx context.Context, expect string, op clientv3.Op) (int64, error) {
	var cmp clientv3.Cmp
	if expect == "" {
		cmp = clientv3.Compare(clientv3.CreateRevision(s.key), "=", 0)
	} else {
		want, err := parseRev(expect)
		if err != nil {
			// Not an etcd revision (from another source, say): it cannot match.
			return 0, fmt.Errorf("etcd: key %q: expected revision %q is not an etcd mod revision: %w", s.key, expect, datasource.ErrConflict)
		}
		cmp = clientv3.Compare(clientv3.ModRevision(s.key), "=", want)
	}
	resp, err := s.client.Txn(ctx).If(cmp).Then(op).Else(clientv3.OpGet(s.key, clientv3.WithKeysOnly())).Commit()
	if err != nil {
		return 0, s.errorf("write", err)
	}
	if !resp.Succeeded {
		cur := ""
		if rr := resp.Responses[0].GetResponseRange(); rr != nil && len(rr.Kvs) > 0 {
			cur = formatRev(rr.Kvs[0].ModRevision)
		}
		return 0, fmt.Errorf("etcd: key %q: expected revision %q, stored %q: %w", s.key, expect, cur, datasource.ErrConflict)
	}
	return resp.Header.Revision, nil
}

// Close stops further use; it closes the client only when Dial created it.
func (s *Source) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.owned {
		if err := s.client.Close(); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("etcd: close: %w", err)
		}
	}
	return nil
}

func (s *Source) errorf(op string, err error) error {
	if s.closed.Load() && errors.Is(err, context.Canceled) {
		return datasource.ErrClosed
	}
	return fmt.Errorf("etcd: %s %q: %w", op, s.key, s.secrets.Error(err))
}

// Redact implements datasource.Redactor: it removes the password Dial was
// given from msg. The SDK does not quote it today; this keeps it that way.
func (s *Source) Redact(msg string) string { return s.secrets.Redact(msg) }

func formatRev(r int64) string { return strconv.FormatInt(r, 10) }

func parseRev(s string) (int64, error) {
	r, err := strconv.ParseInt(s, 10, 64)
	if err != nil || r <= 0 {
		return 0, fmt.Errorf("etcd: bad revision %q", s)
	}
	return r, nil
}
