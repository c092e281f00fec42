package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rulesync/rulesync/datasource"
)

// Source is one Redis key plus its change channel, as a datasource.Source,
// datasource.WritableSource and datasource.Deleter. It is safe for concurrent use.
type Source struct {
	client  goredis.UniversalClient
	key     string
	channel string
	owned   bool
	secrets datasource.Secrets // redacted from errors, only known when Dial built the client
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

// WithLogger sets the logger for subscription events (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(s *Source) {
		if l != nil {
			s.log = l
		}
	}
}

// WithHealthCheck sets how long a subscription may stay silent before Watch
// checks it. The check publishes a probe on a channel of the source's own
// (never on the rules channel, which Java apps parse) and waits for it to
// come back through the subscription: a probe that does not come back
// within another period ends Watch with an error, and the sync loop
// subscribes afresh. This catches a dead connection, but also a live one
// that no longer hears the writers: a subscription left on a master that
// Sentinel replaced while it kept running, or on a Cluster node cut off from
// the cluster bus. When the probe comes back, Watch re-reads the key, which
// catches a change whose message never came (in a Cluster the key's node can
// restart empty without the subscription noticing). A user whose ACL refuses
// the probe channel (the rules channel followed by ":rulesync-probe:" and a
// random token) is checked with PING instead, which proves the connection
// alive but not that the writers still reach it; grant such a user the
// channel pattern "<channel>:rulesync-probe:*" as well. Default 15s.
func WithHealthCheck(d time.Duration) Option {
	return func(s *Source) {
		if d > 0 {
			s.health = d
		}
	}
}

// New returns a Source for key and channel on a client the caller owns: Close
// leaves the client open.
func New(client goredis.UniversalClient, key, channel string, opts ...Option) (*Source, error) {
	if client == nil {
		return nil, errors.New("redis: nil client")
	}
	if key == "" {
		return nil, errors.New("redis: empty key")
	}
	if channel == "" {
		return nil, errors.New("redis: empty channel")
	}
	s := &Source{client: client, key: key, channel: channel, log: slog.Default(), health: 15 * time.Second}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("source", "redis", "key", key, "channel", channel)
	return s, nil
}

// Dial creates a client from opts (one address: standalone; MasterName set:
// Sentinel; several addresses: Cluster), checks it with PING, and returns a
// Source that owns the client: Close closes it.
func Dial(ctx context.Context, opts *goredis.UniversalOptions, key, channel string, sopts ...Option) (*Source, error) {
	if opts == nil || len(opts.Addrs) == 0 {
		return nil, errors.New("redis: no addresses")
	}
	client := goredis.NewUniversalClient(opts)
	secrets := datasource.Secrets{opts.Password, opts.SentinelPassword}
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("redis: dial %s: %w", strings.Join(opts.Addrs, ","), secrets.Error(err))
	}
	s, err := New(client, key, channel, sopts...)
	if err != nil {
		client.Close()
		return nil, err
	}
	s.owned, s.secrets = true, secrets
	return s, nil
}

// Key returns the Redis key holding the rules.
func (s *Source) Key() string { return s.key }

// Channel returns the channel on which changes are published.
func (s *Source) Channel() string { return s.channel }

// Read GETs the key; a missing key is Snapshot{Exists: false}.
func (s *Source) Read(ctx context.Context) (datasource.Snapshot, error) {
	if s.closed.Load() {
		return datasource.Snapshot{}, datasource.ErrClosed
	}
	data, err := s.client.Get(ctx, s.key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return datasource.Snapshot{}, nil
	}
	if err != nil {
		return datasource.Snapshot{}, s.errorf("read", err)
	}
	return datasource.ContentSnapshot(data), nil
}

// Watch subscribes to the channel and emits each published payload that
// differs from the last one it holds (from, at first), until ctx ends (it
// returns ctx.Err()) or the connection fails (an error for the sync loop to
// re-read and re-watch). Every subscription confirmation, the first included,
// and every probe of a silent subscription (WithHealthCheck) trigger a fresh
// GET of the key.
func (s *Source) Watch(ctx context.Context, from datasource.Snapshot, emit func(datasource.Snapshot)) error {
	if s.closed.Load() {
		return datasource.ErrClosed
	}
	ps := s.client.Subscribe(ctx)
	defer ps.Close()
	// The rules channel first and alone: an ACL user may be allowed that
	// channel only, and one refused channel fails the whole SUBSCRIBE.
	if err := ps.Subscribe(ctx, s.channel); err != nil {
		return s.errorf("subscribe", err)
	}
	probe := s.channel + ":rulesync-probe:" + probeToken()
	if err := ps.Subscribe(ctx, probe); err != nil {
		return s.errorf("subscribe", err)
	}
	useProbe := true
	// A blocked read ignores context cancellation: closing the subscription
	// is what unblocks it.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer stop()

	changes := datasource.NewChanges(from, emit)
	reread := func() error {
		snap, err := s.Read(ctx)
		if err != nil {
			return err
		}
		changes.Emit(snap)
		return nil
	}
	silence := datasource.NewSilence(s.health)
	for {
		msg, err := ps.ReceiveTimeout(ctx, s.health)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if s.closed.Load() {
				return datasource.ErrClosed
			}
			if useProbe && noPermission(err) {
				// The user may not use the probe channel: fall back to a
				// ping, which proves the connection alive but not that the
				// writers' messages still reach it.
				s.log.Warn("no permission for the probe channel; checking the subscription with PING", "probe", probe, "err", s.secrets.Error(err))
				useProbe = false
				silence.Heard()
				continue
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return s.errorf("subscription", err)
			}
			if err := silence.Elapsed(fmt.Sprintf("redis: subscription to %q (probe or ping)", s.channel)); err != nil {
				return err
			}
			if useProbe {
				err := s.sendProbe(ctx, probe)
				if noPermission(err) {
					s.log.Warn("no permission to publish the probe; checking the subscription with PING", "probe", probe, "err", s.secrets.Error(err))
					useProbe = false
				} else if err != nil {
					return err
				}
			}
			if !useProbe {
				if err := ps.Ping(ctx); err != nil {
					return s.errorf("ping subscription", err)
				}
			}
			continue
		}
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind != "subscribe" || m.Channel != s.channel {
				continue
			}
			// (Re)subscribed: anything published while we were not listening
			// is only visible at the key.
			s.log.Debug("subscribed; re-reading key")
			if err := reread(); err != nil {
				return err
			}
		case *goredis.Message:
			if m.Channel != s.channel && m.Channel != probe {
				continue
			}
			silence.Heard()
			if m.Channel == probe || m.Payload == "" {
				// A probe came back: the subscription hears what is published
				// now, so re-read the key, which a lost message may have left
				// unseen. An empty message is a deletion, or a key set to "":
				// only the key can tell.
				if err := reread(); err != nil {
					return err
				}
				continue
			}
			changes.Emit(datasource.ContentSnapshot([]byte(m.Payload)))
		case *goredis.Pong:
			// The answer to the fallback ping: the connection is alive, so
			// re-read the key, which a lost message may have left unseen.
			silence.Heard()
			if err := reread(); err != nil {
				return err
			}
		}
	}
}

// noPermission reports whether err is Redis refusing a command to an ACL
// user.
func noPermission(err error) bool {
	var rerr goredis.Error
	return errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "NOPERM")
}

// sendProbe publishes a probe for a silent subscription to hear. The publish
// gets one health-check period: a frozen server must not hold Watch longer.
func (s *Source) sendProbe(ctx context.Context, probe string) error {
	pctx, cancel := context.WithTimeout(ctx, s.health)
	defer cancel()
	if err := s.client.Publish(pctx, probe, "probe").Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return s.errorf("probe subscription", err)
	}
	return nil
}

// probeToken makes each Watch's probe channel its own, so that sources on the
// same rules channel do not answer each other's probes.
func probeToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Write stores data at the key and publishes it on the channel, in one
// MULTI/EXEC, if the stored payload's revision equals expect: "" means the key
// must not exist, datasource.AnyRevision skips the check. A mismatch, or a
// change by someone else between the check and EXEC, returns an error wrapping
// datasource.ErrConflict.
func (s *Source) Write(ctx context.Context, data []byte, expect string) (datasource.Snapshot, error) {
	if s.closed.Load() {
		return datasource.Snapshot{}, datasource.ErrClosed
	}
	err := s.cas(ctx, expect, func(p goredis.Pipeliner) {
		p.Set(ctx, s.key, data, 0)
		p.Publish(ctx, s.channel, data)
	})
	if err != nil {
		return datasource.Snapshot{}, err
	}
	return datasource.ContentSnapshot(append([]byte(nil), data...)), nil
}

// Delete removes the key and publishes an empty message, in one MULTI/EXEC, if
// the stored revision equals expect (datasource.AnyRevision: unconditionally).
func (s *Source) Delete(ctx context.Context, expect string) error {
	if s.closed.Load() {
		return datasource.ErrClosed
	}
	return s.cas(ctx, expect, func(p goredis.Pipeliner) {
		p.Del(ctx, s.key)
		p.Publish(ctx, s.channel, "")
	})
}

// cas queues ops in MULTI/EXEC after checking, under WATCH, that the key is
// still at revision expect.
func (s *Source) cas(ctx context.Context, expect string, ops func(goredis.Pipeliner)) error {
	queue := func(p goredis.Pipeliner) error { ops(p); return nil }
	if expect == datasource.AnyRevision {
		if _, err := s.client.TxPipelined(ctx, queue); err != nil {
			return s.errorf("write", err)
		}
		return nil
	}
	err := s.client.Watch(ctx, func(tx *goredis.Tx) error {
		cur, err := tx.Get(ctx, s.key).Bytes()
		stored := ""
		switch {
		case errors.Is(err, goredis.Nil):
		case err != nil:
			return s.errorf("read", err)
		default:
			stored = datasource.ContentRevision(cur)
		}
		if stored != expect {
			return fmt.Errorf("redis: key %q: expected revision %.12q, stored %.12q: %w", s.key, expect, stored, datasource.ErrConflict)
		}
		_, err = tx.TxPipelined(ctx, queue)
		return err
	}, s.key)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, goredis.TxFailedErr):
		return fmt.Errorf("redis: key %q changed during the transaction: %w", s.key, datasource.ErrConflict)
	case errors.Is(err, datasource.ErrConflict):
		return err
	default:
		return s.errorf("write", err)
	}
}

// Close stops further use; it closes the client only when Dial created it.
func (s *Source) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.owned {
		if err := s.client.Close(); err != nil {
			return fmt.Errorf("redis: close: %w", err)
		}
	}
	return nil
}

func (s *Source) errorf(op string, err error) error {
	if s.closed.Load() && errors.Is(err, goredis.ErrClosed) {
		return datasource.ErrClosed
	}
	return fmt.Errorf("redis: %s %q: %w", op, s.key, s.secrets.Error(err))
}

// Redact implements datasource.Redactor: it removes the passwords Dial was
// given from msg.
func (s *Source) Redact(msg string) string { return s.secrets.Redact(msg) }
