package nacos

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nacos-group/nacos-sdk-go/v2/clients/config_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/rulesync/rulesync/datasource"
)

// DefaultGroup is the group of a data id when none is given, as in Spring
// Cloud Alibaba (Sentinel's dashboard samples use "SENTINEL_GROUP").
const DefaultGroup = "DEFAULT_GROUP"

// ErrAuth is wrapped by the errors of a server that refused the credentials.
var ErrAuth = errors.New("nacos: credentials refused")

// createOnly is the CasMd5 of a write that must not find the config: it is
// not an MD5, so it matches no stored config, and Nacos creates a config that
// does not exist whatever the CasMd5.
const createOnly = "rulesync-create-only"

// Source is one Nacos config (namespace, group, data id) as a
// datasource.WritableSource. It is safe for concurrent use; Watch runs one at a
// time.
type Source struct {
	client        config_client.IConfigClient
	group, dataID string
	where         string // server and data id, for errors
	owned         bool
	cacheDir      string // removed on Close when Dial created it
	secrets       datasource.Secrets
	log           *slog.Logger
	health        time.Duration
	timeout       time.Duration // the client's, for reads while it connects
	user          string        // the client's, for errors

	firstCall  sync.Once // see call
	listenOnce sync.Once
	listenErr  error
	mu         sync.Mutex
	sink       chan string   // the running Watch's notifications, nil when none runs
	sinkDone   chan struct{} // closed when that Watch ends
	closed     atomic.Bool
}

var (
	_ datasource.WritableSource = (*Source)(nil)
	_ datasource.Redactor       = (*Source)(nil)
)

// Option configures a Source.
type Option func(*Source)

// WithLogger sets the logger for the source's own lines, all at debug level
// (default slog.Default()). The SDK's log goes through SetSDKLogger.
func WithLogger(l *slog.Logger) Option {
	return func(s *Source) {
		if l != nil {
			s.log = l
		}
	}
}

// WithHealthCheck sets how long a watch may stay quiet before the source reads
// the config to check the connection and catch a change whose notification
// never came (default 10s; one read per period). A failed read ends Watch, and
// the datasource reconnects and reads the value again.
func WithHealthCheck(d time.Duration) Option {
	return func(s *Source) {
		if d > 0 {
			s.health = d
		}
	}
}

// New returns a Source for the config dataID of group ("" = DefaultGroup) in
// the client's namespace, on a client the caller owns: Close leaves it open.
// The client must have been created with constant.WithDisableUseSnapShot(true)
// (a stale local copy must never pass for the server's value), and may serve
// at most one Source per group and data id: the SDK keeps one listener per
// config and client.
func New(client config_client.IConfigClient, group, dataID string, opts ...Option) (*Source, error) {
	if client == nil {
		return nil, errors.New("nacos: nil client")
	}
	if dataID == "" {
		return nil, errors.New("nacos: empty data id")
	}
	if strings.HasPrefix(dataID, "cipher-") {
		return nil, fmt.Errorf("nacos: data id %q: cipher- data ids are decrypted by the SDK, so their md5 never matches the server's and they cannot be written with compare-and-set", dataID)
	}
	if group == "" {
		group = DefaultGroup
	}
	where, timeout, user := "nacos", 3*time.Second, ""
	if c, ok := client.(interface {
		GetClientConfig() (constant.ClientConfig, error)
		GetServerConfig() ([]constant.ServerConfig, error)
	}); ok {
		cc, err := c.GetClientConfig()
		if err == nil && !cc.DisableUseSnapShot {
			return nil, errors.New("nacos: the client reads its local snapshot when the server fails: create it with constant.WithDisableUseSnapShot(true)")
		}
		if sc, err := c.GetServerConfig(); err == nil && len(sc) > 0 {
			where += " " + serverList(sc)
		}
		user = cc.Username
		if cc.TimeoutMs > 0 {
			timeout = time.Duration(cc.TimeoutMs) * time.Millisecond
		}
		if cc.NamespaceId != "" {
			where += fmt.Sprintf(" namespace %q", cc.NamespaceId)
		}
	}
	s := &Source{client: client, group: group, dataID: dataID, log: slog.Default(), health: 10 * time.Second, timeout: timeout, user: user}
	for _, o := range opts {
		o(s)
	}
	s.where = fmt.Sprintf("%s group %q data id %q", where, group, dataID)
	s.log = s.log.With("source", "nacos", "group", group, "data_id", dataID)
	return s, nil
}

// Group returns the config's group.
func (s *Source) Group() string { return s.group }

// DataID returns the config's data id.
func (s *Source) DataID() string { return s.dataID }

func (s *Source) param() vo.ConfigParam { return vo.ConfigParam{DataId: s.dataID, Group: s.group} }

// Read returns the config from the server; a missing config is
// Snapshot{Exists: false}. The revision is the content's MD5 in hex, as Nacos
// computes it. The SDK allows each process 5 reads per second per config
// (listeners included); past that Read waits and tries again until ctx ends.
// While the SDK connects (at first, or after a lost connection), and when the
// server says the config is being written, it tries again for up to the
// client's timeout.
func (s *Source) Read(ctx context.Context) (datasource.Snapshot, error) {
	connecting := time.Now().Add(s.timeout)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		if s.closed.Load() {
			return datasource.Snapshot{}, datasource.ErrClosed
		}
		var content string
		var err error
		s.call(func() { content, err = s.client.GetConfig(s.param()) })
		if err == nil {
			return snapshotOf(content), nil
		}
		msg := err.Error()
		limited := strings.Contains(msg, "ConfigQueryRequest is limited")
		// "data being modified": the server answers a read that meets a
		// write of the same config with code 400; it passes at once.
		transient := strings.Contains(msg, "client not connected") || strings.Contains(msg, "data being modified")
		if !limited && !(transient && time.Now().Before(connecting)) {
			return datasource.Snapshot{}, s.errorf("read", err)
		}
		if limited {
			s.log.Debug("the SDK's read limit (5 per second per config in a process) is reached; waiting", "wait", wait)
		}
		select {
		case <-ctx.Done():
			if limited {
				return datasource.Snapshot{}, fmt.Errorf("%s: read: the SDK's limit of 5 reads per second: %w", s.where, ctx.Err())
			}
			return datasource.Snapshot{}, fmt.Errorf("%s: read: %s: %w", s.where, s.secrets.Redact(msg), ctx.Err())
		case <-time.After(wait/2 + rand.N(wait)):
		}
	}
}

// snapshotOf maps a config's content to a snapshot: Nacos refuses empty
// content, so "" is a missing (or deleted) config.
func snapshotOf(content string) datasource.Snapshot {
	if content == "" {
		return datasource.Snapshot{}
	}
	return datasource.Snapshot{Data: []byte(content), Revision: Revision([]byte(content)), Exists: true}
}

// Revision is the revision of a payload: its MD5 in lower-case hex, which is
// what Nacos stores and compares for a compare-and-set.
func Revision(data []byte) string {
	sum := md5.Sum(data)
	return hex.EncodeToString(sum[:])
}

// confirmAfter: the SDK runs each listener call in a goroutine of its own, so
// two notifications close together may arrive in either order; a read this
// long after the last of them settles which is current.
const confirmAfter = 200 * time.Millisecond

// Watch emits each change of the config until ctx ends (returning ctx.Err())
// or a read fails (an error: the datasource reconnects). It registers the
// source's listener, then reads the config, so that a change made since the
// caller's read is not lost. Notifications carry the new content and are
// emitted as they come; when two come within confirmAfter, or one comes during
// a read, a read settles which is current. After WithHealthCheck's period of
// quiet it reads again.
//
// The SDK tells the server about a new listener on its next listen round, up
// to 5 s after ListenConfig, with the md5 of the source's last read; the
// server then reports a change made since. So a change in the first 5 s of a
// source's first Watch reaches it up to 5 s late (or at the first quiet read).
func (s *Source) Watch(ctx context.Context, from datasource.Snapshot, emit func(datasource.Snapshot)) error {
	if s.closed.Load() {
		return datasource.ErrClosed
	}
	sink, done := make(chan string, 64), make(chan struct{})
	s.mu.Lock()
	if s.sink != nil {
		s.mu.Unlock()
		return fmt.Errorf("%s: watch: another Watch of this source is running", s.where)
	}
	s.sink, s.sinkDone = sink, done
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.sink, s.sinkDone = nil, nil
		s.mu.Unlock()
		close(done)
	}()
	// One listener for the source's life: the SDK keeps the first listener
	// registered for a config, and a cancel racing with its own refresh can
	// bring an old one back. Registering again after a reconnect is a no-op.
	s.listenOnce.Do(func() {
		p := s.param()
		p.OnChange = s.notified
		s.listenErr = s.client.ListenConfig(p)
	})
	if s.listenErr != nil {
		return s.errorf("listen", s.listenErr)
	}

	changes := datasource.NewChanges(from, emit)
	confirm := time.NewTimer(0) // the first read, right after registering
	defer confirm.Stop()
	quiet := time.NewTimer(s.health)
	defer quiet.Stop()
	var last time.Time
	read := func() error {
		snap, err := s.Read(ctx)
		if err != nil {
			return err
		}
		if len(sink) > 0 {
			// A notification came during the read, and either may be newer.
			confirm.Reset(confirmAfter)
			return nil
		}
		if changes.Emit(snap) {
			// A change no notification brought (yet), or one that settles
			// notifications that came out of order.
			s.log.Debug("a read found a change", "revision", snap.Revision, "exists", snap.Exists)
		}
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case content := <-sink:
			changes.Emit(snapshotOf(content))
			if now := time.Now(); now.Sub(last) < confirmAfter {
				confirm.Reset(confirmAfter)
			}
			last = time.Now()
			quiet.Reset(s.health)
			continue
		case <-confirm.C:
		case <-quiet.C:
		}
		if err := read(); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		quiet.Reset(s.health)
	}
}

// notified is the SDK's listener. Each call runs in a goroutine of its own,
// which waits until the running Watch takes the content.
func (s *Source) notified(_, _, _, content string) {
	s.mu.Lock()
	sink, done := s.sink, s.sinkDone
	s.mu.Unlock()
	if sink == nil {
		return // no Watch runs: the next one reads the config first
	}
	select {
	case sink <- content:
	case <-done:
	}
}

// Write publishes data if the config's MD5 still equals expect: "" means the
// config must not exist, datasource.AnyRevision writes unconditionally. Nacos
// makes the compare itself (CasMd5); a mismatch returns an error wrapping
// datasource.ErrConflict. Nacos refuses empty content, so empty data is
// written as "[]", the empty rule list.
func (s *Source) Write(ctx context.Context, data []byte, expect string) (datasource.Snapshot, error) {
	if s.closed.Load() {
		return datasource.Snapshot{}, datasource.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return datasource.Snapshot{}, fmt.Errorf("%s: write: %w", s.where, err)
	}
	if len(data) == 0 {
		data = []byte("[]")
	}
	if !utf8.Valid(data) {
		// The SDK sends content as a JSON string: other bytes would be
		// stored changed, and the revision would never match.
		return datasource.Snapshot{}, fmt.Errorf("%s: write: content is not valid UTF-8: %w", s.where, datasource.ErrInvalid)
	}
	p := s.param()
	p.Content = string(data)
	switch expect {
	case datasource.AnyRevision:
	case "":
		p.CasMd5 = createOnly
	default:
		p.CasMd5 = expect
	}
	var ok bool
	var err error
	s.call(func() { ok, err = s.client.PublishConfig(p) })
	switch {
	case err != nil && casFailed(err.Error()):
		want := fmt.Sprintf("revision %.12s", expect)
		if expect == "" {
			want = "no config"
		}
		return datasource.Snapshot{}, fmt.Errorf("%s: expected %s, the server holds another: %w", s.where, want, datasource.ErrConflict)
	case err != nil:
		return datasource.Snapshot{}, s.errorf("write", err)
	case !ok:
		return datasource.Snapshot{}, fmt.Errorf("%s: write: refused by the server", s.where)
	}
	data = append([]byte(nil), data...)
	snap := datasource.Snapshot{Data: data, Revision: Revision(data), Exists: true}
	if expect == "" {
		return snap, s.verifyCreate(ctx, snap)
	}
	return snap, nil
}

// verifyCreate reads a config that a create-only write made. Nacos with its
// embedded storage (standalone, Derby) checks that a config is absent and
// inserts it in two steps: of two writers that create it at once, the one
// whose insert fails is told it succeeded too (2.3.2's addConfigInfo ignores
// the failed transaction). So a create counts only once the server holds its
// content; other content is ErrConflict. The price: when another writer
// changed the config within the moment between our create and this read, a
// create that did succeed is reported as a conflict.
func (s *Source) verifyCreate(ctx context.Context, want datasource.Snapshot) error {
	deadline := time.Now().Add(s.timeout)
	for {
		got, err := s.Read(ctx)
		if err != nil {
			return fmt.Errorf("%s: write: created, but could not read it back: %w", s.where, err)
		}
		switch {
		case got.Exists && got.Revision == want.Revision:
			return nil
		case got.Exists:
			return fmt.Errorf("%s: expected no config; the server accepted the create but holds revision %.12s: another writer created it at the same moment: %w", s.where, got.Revision, datasource.ErrConflict)
		case time.Now().After(deadline):
			return fmt.Errorf("%s: write: created, but the server does not serve it after %v", s.where, s.timeout)
		}
		// The server serves reads from a cache that it refreshes within
		// 100 ms of a write.
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: write: created, but not read back: %w", s.where, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// call runs an SDK request, the source's first one alone: the SDK starts a
// client's connection on its first request and races with requests made
// while it does (RpcClient.Start writes the connection that Request reads).
func (s *Source) call(request func()) {
	ran := false
	s.firstCall.Do(func() { request(); ran = true })
	if !ran {
		request()
	}
}

// casFailed recognises Nacos's answer to a compare-and-set whose md5 is not
// the stored one; the SDK keeps only its message. Nacos 2.x answers
// "Cas publish fail,server md5 may have changed." over gRPC (", server" over
// HTTP; "Cas publish tag config fail..." and "...beta config..." for tags and
// beta publishing).
func casFailed(msg string) bool {
	return strings.Contains(msg, "Cas publish") && strings.Contains(msg, "md5 may have changed")
}

// Close stops further use. It closes the client, and removes the SDK's cache
// directory, only when Dial created them.
func (s *Source) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	_ = s.client.CancelListenConfig(s.param())
	if s.owned {
		// A listen round under way when the listener was cancelled puts it
		// back (the SDK stores its copy of each config's state at the end of
		// a round): once more, after that round.
		s.settleListenLoop()
		_ = s.client.CancelListenConfig(s.param())
		s.settleListenLoop()
		s.client.CloseClient()
		unregisterSecrets(s.secrets)
	}
	if s.cacheDir != "" {
		if err := os.RemoveAll(s.cacheDir); err != nil {
			return fmt.Errorf("nacos: close: %w", err)
		}
	}
	return nil
}

// settleListenLoop prepares CloseClient, whose Shutdown removes the client's
// connection from a process-wide map without the lock that every request
// takes to look it up (rpc_client.go in v2.3.5), while the client's listen
// loop may have just looked it up. With the listener cancelled the loop looks
// no more; one request of our own, on a config the SDK does not rate-limit
// (its limit is per config), then takes that lock after the loop's last
// look-up, which orders the two. It waits up to a second (a dead server).
func (s *Source) settleListenLoop() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = s.client.GetConfig(vo.ConfigParam{DataId: s.dataID + ".rulesync-close", Group: s.group})
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
}

func (s *Source) errorf(op string, err error) error {
	msg := s.secrets.Redact(err.Error())
	if strings.Contains(msg, "user not found") || strings.Contains(msg, "authorization failed") || strings.Contains(msg, "ccess denied") {
		who := "anonymous access"
		if s.user != "" {
			who = fmt.Sprintf("user %q", s.user)
		}
		return fmt.Errorf("%s: %s: the server refused %s (check username and password; it says %q): %w", s.where, op, who, msg, ErrAuth)
	}
	return fmt.Errorf("%s: %s: %w", s.where, op, s.secrets.Error(err))
}

// Redact implements datasource.Redactor: it removes the password and secret
// key Dial was given from msg.
func (s *Source) Redact(msg string) string { return s.secrets.Redact(msg) }
