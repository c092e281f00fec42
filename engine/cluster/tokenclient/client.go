// Package tokenclient is a cluster token client: it asks a token server (this
// project's tokenserver or Java Sentinel's) for tokens over Sentinel's cluster
// protocol, for the cluster-mode flow and hot-param rules of an application.
//
// A Client is a flow.TokenService and a base.ParamTokenService:
//
//	c, err := tokenclient.New(tokenclient.WithServers("10.0.0.5:18730", "10.0.0.6:18730"),
//		tokenclient.WithNamespace("orders"))
//	...
//	e.Flow().SetTokenService(c)
//	e.Param().SetTokenService(c)
//
// The client keeps one connection, to the first server of its list that
// answers; when it is lost the client fails over to the next one at once,
// and it keeps trying to get back to a server earlier in the list. Each
// connection starts with a PING naming the namespace (so that the server
// counts it for AVG_LOCAL thresholds) and is pinged again periodically, which
// Sentinel's Java client does not do (its server closes connections idle for
// idleSeconds). Between attempts the client backs off exponentially with
// jitter.
//
// A request never waits longer than the request timeout (20 ms by default)
// or its context, whatever the server does: requests are queued to a writer
// goroutine and answers matched by xid, so a slow or dead server costs a
// caller its timeout and no more. Without a connection, on a timeout or any
// other failure the methods return an error, and the rule managers fall back
// as Sentinel does (a local check when fallbackToLocalWhenFail, else pass).
package tokenclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/cluster/wire"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/property"
)

// Defaults.
const (
	DefaultRequestTimeout = 20 * time.Millisecond // Sentinel's
	DefaultConnectTimeout = 10 * time.Second      // Sentinel's
	DefaultPingInterval   = 10 * time.Second
	DefaultPingTimeout    = 3 * time.Second
	DefaultBackoffInitial = 500 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultPrimaryRecheck = 30 * time.Second
	DefaultNamespace      = "default"
)

// Client states, with Sentinel's numbers (ClientConstants).
const (
	StateOff     = 0
	StatePending = 1
	StateStarted = 2
)

// Errors a request may fail with; the rule managers treat every error as a
// failed request.
var (
	ErrNotConnected   = errors.New("tokenclient: not connected to a token server")
	ErrTimeout        = errors.New("tokenclient: request timed out")
	ErrConnectionLost = errors.New("tokenclient: connection lost")
	ErrBusy           = errors.New("tokenclient: too many requests queued")
	ErrClosed         = errors.New("tokenclient: client closed")
	ErrInvalidConfig  = errors.New("tokenclient: invalid config")
)

// Config is what can change while the client runs, from WithConfig's property.
type Config struct {
	// Servers are the token servers' host:port, in order of preference.
	Servers []string `json:"servers"`
	// RequestTimeout bounds each request (0: DefaultRequestTimeout).
	RequestTimeout time.Duration `json:"requestTimeout"`
	// ConnectTimeout bounds a connection attempt, its first PING included
	// (0: DefaultConnectTimeout).
	ConnectTimeout time.Duration `json:"connectTimeout"`
}

// Validate reports the first invalid field of c.
func (c Config) Validate() error {
	for i, s := range c.Servers {
		host, port, err := net.SplitHostPort(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%w: servers[%d] %q: %v", ErrInvalidConfig, i, s, err)
		}
		n, err := strconv.Atoi(port)
		if host == "" || err != nil || n <= 0 || n > 65535 {
			return fmt.Errorf("%w: servers[%d] %q is not host:port with a port 1..65535", ErrInvalidConfig, i, s)
		}
	}
	if c.RequestTimeout < 0 {
		return fmt.Errorf("%w: requestTimeout %v < 0", ErrInvalidConfig, c.RequestTimeout)
	}
	if c.ConnectTimeout < 0 {
		return fmt.Errorf("%w: connectTimeout %v < 0", ErrInvalidConfig, c.ConnectTimeout)
	}
	return nil
}

func (c Config) withDefaults() Config {
	c.Servers = slices.Clone(c.Servers)
	for i := range c.Servers {
		c.Servers[i] = strings.TrimSpace(c.Servers[i])
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	return c
}

// Option configures a Client.
type Option func(*options)

type options struct {
	cfg            Config
	cfgProp        *property.Property[Config]
	namespace      string
	pingInterval   time.Duration
	pingTimeout    time.Duration
	backoffInitial time.Duration
	backoffMax     time.Duration
	primaryRecheck time.Duration
	log            *slog.Logger
	queue          int
}

// WithServers sets the token servers (host:port), in order of preference.
func WithServers(addrs ...string) Option {
	return func(o *options) { o.cfg.Servers = addrs }
}

// WithConfig takes the servers and timeouts from a property; its value, once
// set, wins over WithServers, WithRequestTimeout and WithConnectTimeout. A
// change of the servers reconnects; an invalid value is refused (logged) and
// the previous one stays.
func WithConfig(p *property.Property[Config]) Option {
	return func(o *options) { o.cfgProp = p }
}

// WithNamespace sets the namespace the client names in its PINGs (by default
// "default"; Sentinel uses the application name).
func WithNamespace(ns string) Option { return func(o *options) { o.namespace = strings.TrimSpace(ns) } }

// WithRequestTimeout bounds each request (DefaultRequestTimeout).
func WithRequestTimeout(d time.Duration) Option {
	return func(o *options) { o.cfg.RequestTimeout = d }
}

// WithConnectTimeout bounds each connection attempt (DefaultConnectTimeout).
func WithConnectTimeout(d time.Duration) Option {
	return func(o *options) { o.cfg.ConnectTimeout = d }
}

// WithPing sets how often the client pings its server and how long it waits
// for the answer before it gives the connection up (DefaultPingInterval,
// DefaultPingTimeout). Keep the interval below the server's idleSeconds.
func WithPing(interval, timeout time.Duration) Option {
	return func(o *options) {
		if interval > 0 {
			o.pingInterval = interval
		}
		if timeout > 0 {
			o.pingTimeout = timeout
		}
	}
}

// WithBackoff sets the wait between rounds of failed connection attempts:
// initial after the first round, doubling up to max, each with jitter
// (DefaultBackoffInitial, DefaultBackoffMax).
func WithBackoff(initial, max time.Duration) Option {
	return func(o *options) {
		if initial > 0 {
			o.backoffInitial = initial
		}
		if max > 0 {
			o.backoffMax = max
		}
	}
}

// WithPrimaryRecheck sets how often a client connected to a server other
// than the first of its list tries the servers before it
// (DefaultPrimaryRecheck); 0 or less never goes back.
func WithPrimaryRecheck(d time.Duration) Option { return func(o *options) { o.primaryRecheck = d } }

// WithLogger sets the logger (slog.Default() by default).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// Client is a token client. Its methods are safe for concurrent use.
type Client struct {
	opts options
	log  *slog.Logger
	cfg  atomic.Pointer[Config]
	cur  atomic.Pointer[conn]
	xids wire.XIDs

	state     atomic.Int32
	connected atomic.Int32 // clients of the namespace, from the latest PING answer
	server    atomic.Pointer[string]

	reconfig  chan struct{}
	ctx       context.Context // ends at Close
	stop      context.CancelFunc
	closing   <-chan struct{}
	done      chan struct{}
	wg        sync.WaitGroup // goroutines besides run: probes, draining connections
	cancelCfg func()
	closeOnce sync.Once
}

// New returns a client and starts connecting in the background. It fails
// only on an invalid configuration.
func New(opts ...Option) (*Client, error) {
	o := options{
		namespace:      DefaultNamespace,
		pingInterval:   DefaultPingInterval,
		pingTimeout:    DefaultPingTimeout,
		backoffInitial: DefaultBackoffInitial,
		backoffMax:     DefaultBackoffMax,
		primaryRecheck: DefaultPrimaryRecheck,
		log:            slog.Default(),
		queue:          4096,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.namespace == "" {
		return nil, fmt.Errorf("%w: blank namespace", ErrInvalidConfig)
	}
	if err := o.cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{
		opts:     o,
		log:      o.log,
		reconfig: make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	c.ctx, c.stop = context.WithCancel(context.Background())
	c.closing = c.ctx.Done()
	cfg := o.cfg.withDefaults()
	c.cfg.Store(&cfg)
	if o.cfgProp != nil {
		c.cancelCfg = o.cfgProp.Subscribe(c.applyConfig)
	}
	go c.run()
	return c, nil
}

func (c *Client) applyConfig(cfg Config) {
	if err := cfg.Validate(); err != nil {
		c.log.Error("tokenclient: config refused, the previous one stays", "err", err)
		return
	}
	cfg = cfg.withDefaults()
	c.cfg.Store(&cfg)
	select {
	case c.reconfig <- struct{}{}:
	default:
	}
}

// Close stops the client: the connection closes, pending requests fail with
// ErrClosed, and later requests fail at once. It waits for the client's
// goroutines and is idempotent.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		if c.cancelCfg != nil {
			c.cancelCfg()
		}
		c.stop()
	})
	<-c.done
	c.wg.Wait()
	return nil
}

// RequestToken asks the server for count tokens of the cluster flow rule
// flowID. It makes Client a flow.TokenService.
func (c *Client) RequestToken(ctx context.Context, flowID, count int64, prioritized bool) (base.TokenResult, error) {
	if flowID <= 0 || count <= 0 || count > math.MaxInt32 {
		return base.TokenResult{Status: base.TokenBadRequest}, nil
	}
	cn := c.cur.Load()
	if cn == nil {
		return base.TokenResult{}, ErrNotConnected
	}
	xid := c.xids.Next()
	resp, err := cn.roundTrip(ctx, c.cfg.Load().RequestTimeout, outFrame{xid: xid, flowID: flowID, count: int32(count), prio: prioritized})
	if err != nil {
		return base.TokenResult{}, err
	}
	return result(resp), nil
}

// RequestParamToken asks the server for count tokens for each of params
// under the cluster param rule flowID. Values go with their Java types
// (wire.JavaValue); values the protocol cannot carry are left out, as
// Sentinel's client leaves them out. A request whose values do not fit one
// frame is not sent: it fails with wire.ErrFrameTooLarge. It makes Client a
// base.ParamTokenService.
func (c *Client) RequestParamToken(ctx context.Context, flowID, count int64, params []any) (base.TokenResult, error) {
	if flowID <= 0 || count <= 0 || count > math.MaxInt32 || len(params) == 0 {
		return base.TokenResult{Status: base.TokenBadRequest}, nil
	}
	vals := make([]any, 0, len(params))
	for _, p := range params {
		if v, ok := wire.JavaValue(p); ok {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return base.TokenResult{}, fmt.Errorf("%w: none of %d values (%T first)", wire.ErrUnsupportedParam, len(params), params[0])
	}
	cn := c.cur.Load()
	if cn == nil {
		return base.TokenResult{}, ErrNotConnected
	}
	xid := c.xids.Next()
	frame, err := wire.AppendRequest(nil, &wire.Request{XID: xid, Type: wire.TypeParamFlow, FlowID: flowID, Count: int32(count), Params: vals})
	if err != nil {
		return base.TokenResult{}, err
	}
	resp, err := cn.roundTrip(ctx, c.cfg.Load().RequestTimeout, outFrame{xid: xid, buf: frame})
	if err != nil {
		return base.TokenResult{}, err
	}
	return result(resp), nil
}

func result(r wire.Response) base.TokenResult {
	return base.TokenResult{Status: base.TokenStatus(r.Status), Remaining: int64(r.Remaining), WaitMs: int64(r.WaitMs)}
}

// State is the client's state, for Sentinel's `cluster/client/fetchConfig`.
type State struct {
	// ClientState is 0 off, 1 pending (connecting), 2 started (connected).
	ClientState int `json:"clientState"`
	// ServerHost and ServerPort are the server connected to, or else the
	// first configured one.
	ServerHost     string   `json:"serverHost"`
	ServerPort     int      `json:"serverPort"`
	RequestTimeout int64    `json:"requestTimeout"` // ms
	ConnectTimeout int64    `json:"connectTimeout"` // ms
	Namespace      string   `json:"namespace"`
	Servers        []string `json:"servers"`
	// ConnectedCount is the server's count of the namespace's clients at the
	// latest PING, 0 before one was answered.
	ConnectedCount int `json:"connectedCount"`
}

// State returns the client's state.
func (c *Client) State() State {
	cfg := c.cfg.Load()
	st := State{
		ClientState:    int(c.state.Load()),
		RequestTimeout: cfg.RequestTimeout.Milliseconds(),
		ConnectTimeout: cfg.ConnectTimeout.Milliseconds(),
		Namespace:      c.opts.namespace,
		Servers:        slices.Clone(cfg.Servers),
		ConnectedCount: int(c.connected.Load()),
	}
	addr := ""
	if p := c.server.Load(); p != nil && st.ClientState == StateStarted {
		addr = *p
	} else if len(cfg.Servers) > 0 {
		addr = cfg.Servers[0]
	}
	if host, port, err := net.SplitHostPort(addr); err == nil {
		st.ServerHost = host
		st.ServerPort, _ = strconv.Atoi(port)
	}
	return st
}

var (
	_ flow.TokenService      = (*Client)(nil)
	_ base.ParamTokenService = (*Client)(nil)
)

// run connects, holds the connection, and reconnects until Close. After a
// lost connection it tries the next server of the list first (then the
// others, wrapping around), so that a server that cannot even be dialled
// does not delay the failover by a connect timeout; the recheck in hold
// brings it back to a preferred server.
func (c *Client) run() {
	defer close(c.done)
	failures, startAt := 0, 0
	for {
		if c.isClosing() {
			return
		}
		cfg := c.cfg.Load()
		if len(cfg.Servers) == 0 {
			c.state.Store(StateOff)
			select {
			case <-c.closing:
				return
			case <-c.reconfig:
				continue
			}
		}
		c.state.Store(StatePending)
		cn, idx := c.connectAny(cfg, cfg.Servers, startAt%len(cfg.Servers))
		if cn == nil {
			c.state.Store(StateOff)
			failures, startAt = failures+1, 0
			if !c.sleep(c.backoff(failures)) {
				return
			}
			continue
		}
		since := time.Now()
		last := idx
		for cn != nil {
			last = idx
			cn, idx = c.hold(cn, idx, cfg)
		}
		startAt = last + 1
		if !slices.Equal(c.cfg.Load().Servers, cfg.Servers) {
			startAt = 0
		}
		// A server that accepts and then drops connections at once must not
		// make the client spin.
		if time.Since(since) < time.Second {
			failures++
			if !c.sleep(c.backoff(failures)) {
				return
			}
		} else {
			failures = 0
		}
	}
}

func (c *Client) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// backoff is the wait after the n-th failed round: initial x 2^(n-1) up to
// max, jittered over its upper half.
func (c *Client) backoff(n int) time.Duration {
	d := c.opts.backoffInitial
	for i := 1; i < n && d < c.opts.backoffMax; i++ {
		d *= 2
	}
	d = min(d, c.opts.backoffMax)
	return d/2 + rand.N(d/2+1)
}

// sleep waits d, less on a config change; false when the client closes.
func (c *Client) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.closing:
		return false
	case <-c.reconfig:
		return true
	case <-t.C:
		return true
	}
}

// connectAny tries servers in order from index from, wrapping around, and
// returns the first connection that answers its PING, with its index.
func (c *Client) connectAny(cfg *Config, servers []string, from int) (*conn, int) {
	for k := range servers {
		i := (from + k) % len(servers)
		addr := servers[i]
		cn, err := c.connect(cfg, addr)
		if err == nil {
			return cn, i
		}
		if c.isClosing() {
			return nil, -1
		}
		c.log.Warn("tokenclient: cannot connect to token server", "server", addr, "err", err)
	}
	return nil, -1
}

// connect dials addr and waits for the answer to its first PING.
func (c *Client) connect(cfg *Config, addr string) (*conn, error) {
	ctx, cancel := context.WithTimeout(c.ctx, cfg.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	cn := newConn(c, nc, addr)
	if err := cn.ping(); err != nil {
		cn.close(err)
		return nil, err
	}
	select {
	case n := <-cn.pong:
		c.connected.Store(n)
		return cn, nil
	case <-cn.done:
		cn.close(nil)
		return nil, cn.err()
	case <-ctx.Done():
		cn.close(ctx.Err())
		return nil, fmt.Errorf("no PING answer: %w", ctx.Err())
	}
}

// hold serves requests on cn until it is lost, the config changes its
// servers, the client closes, or a server earlier in the list answers: then
// it returns that connection (nil otherwise).
func (c *Client) hold(cn *conn, idx int, cfg *Config) (*conn, int) {
	c.cur.Store(cn)
	c.server.Store(&cn.addr)
	c.state.Store(StateStarted)
	c.log.Info("tokenclient: connected", "server", cn.addr, "namespace", c.opts.namespace, "connected", c.connected.Load())
	var next *conn
	defer func() {
		c.cur.CompareAndSwap(cn, nil)
		if next == nil {
			cn.close(ErrConnectionLost) // already failed; wait for its goroutines
		}
	}()
	ping := time.NewTicker(c.opts.pingInterval)
	defer ping.Stop()
	var pingDeadline <-chan time.Time
	var pingTimer *time.Timer
	defer func() {
		if pingTimer != nil {
			pingTimer.Stop()
		}
	}()
	var recheck <-chan time.Time
	if idx > 0 && c.opts.primaryRecheck > 0 {
		t := time.NewTicker(c.opts.primaryRecheck)
		defer t.Stop()
		recheck = t.C
	}
	var probe chan probeResult
	defer func() {
		if probe != nil {
			// A probe still out: whatever it connects to is not needed.
			c.wg.Add(1)
			go func(p chan probeResult) {
				defer c.wg.Done()
				if r := <-p; r.cn != nil {
					r.cn.close(ErrClosed)
				}
			}(probe)
		}
	}()
	for {
		select {
		case <-c.closing:
			cn.fail(ErrClosed)
			return nil, -1
		case <-cn.done:
			c.state.Store(StatePending)
			c.log.Warn("tokenclient: connection lost", "server", cn.addr, "err", cn.err())
			return nil, -1
		case <-c.reconfig:
			next := c.cfg.Load()
			if !slices.Equal(next.Servers, cfg.Servers) {
				c.log.Info("tokenclient: servers changed, reconnecting", "servers", next.Servers)
				cn.fail(ErrConnectionLost)
				return nil, -1
			}
			cfg = next
		case <-ping.C:
			if pingDeadline != nil {
				continue // the previous one is still out
			}
			if err := cn.ping(); err != nil {
				continue // a full queue: the next tick tries again; a dead connection shows in done
			}
			pingTimer = time.NewTimer(c.opts.pingTimeout)
			pingDeadline = pingTimer.C
		case n := <-cn.pong:
			c.connected.Store(n)
			if pingTimer != nil {
				pingTimer.Stop()
			}
			pingDeadline = nil
		case <-pingDeadline:
			c.log.Warn("tokenclient: no PING answer, giving the connection up", "server", cn.addr, "timeout", c.opts.pingTimeout)
			cn.fail(fmt.Errorf("%w: no PING answer within %v", ErrConnectionLost, c.opts.pingTimeout))
			pingDeadline = nil
		case <-recheck:
			if probe == nil {
				probe = make(chan probeResult, 1)
				c.wg.Add(1)
				go func(p chan probeResult, servers []string) {
					defer c.wg.Done()
					n, i := c.connectAny(cfg, servers, 0)
					p <- probeResult{n, i}
				}(probe, slices.Clone(cfg.Servers[:idx]))
			}
		case p := <-probe:
			probe = nil
			if p.cn == nil {
				continue
			}
			if c.isClosing() {
				p.cn.close(ErrClosed)
				continue
			}
			c.log.Info("tokenclient: back to a preferred server", "server", p.cn.addr, "from", cn.addr)
			c.cur.Store(p.cn)
			// Requests in flight on the old connection still get their answers.
			c.wg.Add(1)
			go func(old *conn, grace time.Duration) {
				defer c.wg.Done()
				t := time.NewTimer(grace)
				defer t.Stop()
				select {
				case <-t.C:
				case <-c.closing:
				}
				old.close(ErrConnectionLost)
			}(cn, cfg.RequestTimeout+50*time.Millisecond)
			next = p.cn
			return p.cn, p.idx
		}
	}
}

type probeResult struct {
	cn  *conn
	idx int
}
