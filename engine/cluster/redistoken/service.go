// Package redistoken is a cluster token service that counts in Redis instead
// of asking a token server: every instance of an application checks and
// counts its cluster rules in shared Redis windows, with one Lua script per
// request so that check and count are one atomic step. It works with a
// standalone Redis, behind Sentinel (a failover client) and on Redis Cluster:
// all keys of one rule share a hash tag, {namespace:flowId}, so one request
// touches one slot.
//
// Thresholds come from the same cluster rules a token server would serve
// (flow rules and hot-param rules with clusterMode set, by flowId), with
// Sentinel's semantics: GLOBAL is the rule's count for the whole namespace;
// AVG_LOCAL is count x the live instances of the namespace, which each
// instance registers in a sorted set with a heartbeat (an instance counts
// itself until its first heartbeat succeeds). Hot-param values are told
// apart by their Java types, as a token server does. Prioritized flow
// requests may borrow from the next bucket (SHOULD_WAIT). Windows use Redis'
// clock (TIME), so instances with skewed clocks share one window. The
// server-side maxAllowedQps has no counterpart here.
//
// Each request is bounded by the service's timeout (20 ms by default, a
// token client's default) and its context. When Redis cannot answer in time,
// the methods return an error and the rule managers fall back as Sentinel
// does (a local check when fallbackToLocalWhenFail, else pass). The bound
// holds whatever the Redis client's options, since each call waits on a
// goroutine of its own; give the client ContextTimeoutEnabled (and short
// dial and read timeouts) so that a stuck Redis does not keep those
// goroutines for the client's own, longer timeouts.
package redistoken

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/cluster/internal/jvalue"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/param"
	"github.com/rulesync/rulesync/property"
)

// Defaults.
const (
	DefaultTimeout   = 20 * time.Millisecond
	DefaultPrefix    = "rulesync:cluster"
	DefaultNamespace = "default"
	DefaultHeartbeat = time.Second
	// DefaultMaxInflight bounds the requests waiting for Redis at once.
	DefaultMaxInflight = 1024
)

// Errors.
var (
	ErrInvalidConfig = errors.New("redistoken: invalid config")
	ErrTimeout       = errors.New("redistoken: Redis did not answer in time")
	ErrBusy          = errors.New("redistoken: too many requests waiting for Redis")
	ErrClosed        = errors.New("redistoken: service closed")
)

// Option configures a Service.
type Option func(*options)

type options struct {
	namespace      string
	prefix         string
	timeout        time.Duration
	heartbeat      time.Duration
	instance       string
	flowRules      *property.Property[[]flow.Rule]
	paramRules     *property.Property[[]param.Rule]
	exceedCount    float64
	maxOccupyRatio float64
	log            *slog.Logger
	maxInflight    int
}

// WithMaxInflight bounds the requests waiting for Redis at once
// (DefaultMaxInflight); past it, requests fail at once with ErrBusy.
func WithMaxInflight(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxInflight = n
		}
	}
}

// WithNamespace sets the namespace whose rules and windows the service uses
// ("default"); instances of one application share one.
func WithNamespace(ns string) Option { return func(o *options) { o.namespace = ns } }

// WithKeyPrefix sets the prefix of every key ("rulesync:cluster"). It must
// not contain braces, which would change the keys' hash slots.
func WithKeyPrefix(p string) Option { return func(o *options) { o.prefix = p } }

// WithTimeout bounds each request (DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.timeout = d
		}
	}
}

// WithHeartbeat sets how often the instance renews its membership of the
// namespace, for AVG_LOCAL thresholds (DefaultHeartbeat); an instance missing
// three heartbeats no longer counts.
func WithHeartbeat(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.heartbeat = d
		}
	}
}

// WithInstanceID names this instance in the namespace's member set (a random
// id by default).
func WithInstanceID(id string) Option { return func(o *options) { o.instance = id } }

// WithFlowRules takes the cluster flow rules from a property (the one the
// application's engine loads works: rules without clusterMode are ignored).
func WithFlowRules(p *property.Property[[]flow.Rule]) Option {
	return func(o *options) { o.flowRules = p }
}

// WithParamRules takes the cluster hot-param rules from a property.
func WithParamRules(p *property.Property[[]param.Rule]) Option {
	return func(o *options) { o.paramRules = p }
}

// WithExceedCount scales flow thresholds, as a token server's exceedCount
// does (1 by default).
func WithExceedCount(f float64) Option { return func(o *options) { o.exceedCount = f } }

// WithMaxOccupyRatio bounds what prioritized flow requests may borrow from
// the next bucket, as a share of the threshold (1 by default).
func WithMaxOccupyRatio(f float64) Option { return func(o *options) { o.maxOccupyRatio = f } }

// WithLogger sets the logger (slog.Default() by default).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// Service is the Redis-backed token service. It is a flow.TokenService and a
// base.ParamTokenService; its methods are safe for concurrent use.
type Service struct {
	rdb     goredis.UniversalClient
	opts    options
	log     *slog.Logger
	rules   atomic.Pointer[ruleIndex]
	members atomic.Int64 // live instances of the namespace, from the latest heartbeat

	mu        sync.Mutex // serializes rule loads
	flows     []flow.Rule
	params    []param.Rule
	conflicts []string

	cancels []func()
	stop    context.CancelFunc
	done    chan struct{}
	once    sync.Once

	// Calls to Redis run on goroutines of their own, at most cap(inflight)
	// at once, so that a caller waits no longer than the timeout even when
	// the client ignores context deadlines.
	inflight chan struct{}
	calls    sync.WaitGroup
	closeMu  sync.RWMutex // orders calls.Add before Close's Wait
	closed   bool
}

type ruleIndex struct {
	flows  map[int64]flowRule
	params map[int64]paramRule
}

type flowRule struct {
	key                  string
	count                float64
	global               bool
	bucketMs, intervalMs int64
}

type paramRule struct {
	keyPrefix            string
	count                float64
	global               bool
	items                jvalue.Items
	bucketMs, intervalMs int64
}

// New returns a service counting in rdb and starts its heartbeat. It does
// not wait for Redis: a Redis that cannot be reached only makes requests
// fail (and fall back) until it can.
func New(rdb goredis.UniversalClient, opts ...Option) (*Service, error) {
	o := options{namespace: DefaultNamespace, prefix: DefaultPrefix, timeout: DefaultTimeout, heartbeat: DefaultHeartbeat,
		exceedCount: 1, maxOccupyRatio: 1, log: slog.Default(), maxInflight: DefaultMaxInflight}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case rdb == nil:
		return nil, fmt.Errorf("%w: nil Redis client", ErrInvalidConfig)
	case strings.TrimSpace(o.namespace) == "" || strings.ContainsAny(o.namespace, "{}"):
		return nil, fmt.Errorf("%w: namespace %q must be non-blank and without braces", ErrInvalidConfig, o.namespace)
	case strings.ContainsAny(o.prefix, "{}"):
		return nil, fmt.Errorf("%w: key prefix %q must not contain braces", ErrInvalidConfig, o.prefix)
	case math.IsNaN(o.exceedCount) || o.exceedCount < 0 || math.IsNaN(o.maxOccupyRatio) || o.maxOccupyRatio < 0:
		return nil, fmt.Errorf("%w: exceedCount %v and maxOccupyRatio %v must be >= 0", ErrInvalidConfig, o.exceedCount, o.maxOccupyRatio)
	}
	if o.instance == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		o.instance = hex.EncodeToString(b[:])
	}
	s := &Service{rdb: rdb, opts: o, log: o.log, done: make(chan struct{}), inflight: make(chan struct{}, o.maxInflight)}
	if !contextTimeouts(rdb) {
		o.log.Warn("redistoken: the Redis client ignores context deadlines (ContextTimeoutEnabled is off): " +
			"requests still return within the timeout, but a stuck Redis holds their goroutines for the client's own timeouts")
	}
	s.members.Store(1)
	s.rules.Store(&ruleIndex{})
	if o.flowRules != nil {
		s.cancels = append(s.cancels, o.flowRules.Subscribe(s.SetFlowRules))
	}
	if o.paramRules != nil {
		s.cancels = append(s.cancels, o.paramRules.Subscribe(s.SetParamRules))
	}
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	go s.heartbeatLoop(ctx)
	return s, nil
}

// tag is the hash tag of a rule's keys: every key of one rule lands in one
// Redis Cluster slot.
func (s *Service) tag(flowID int64) string {
	return s.opts.prefix + ":{" + s.opts.namespace + ":" + strconv.FormatInt(flowID, 10) + "}"
}

func (s *Service) membersKey() string { return s.opts.prefix + ":{" + s.opts.namespace + "}:members" }

// SetFlowRules replaces the cluster flow rules (those with clusterMode set;
// invalid ones and duplicate flowIds are logged and skipped).
func (s *Service) SetFlowRules(rules []flow.Rule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flows = slices.Clone(rules)
	s.rebuildLocked()
}

// SetParamRules replaces the cluster hot-param rules.
func (s *Service) SetParamRules(rules []param.Rule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.params = slices.Clone(rules)
	s.rebuildLocked()
}

func (s *Service) rebuildLocked() {
	ix := &ruleIndex{flows: map[int64]flowRule{}, params: map[int64]paramRule{}}
	var conflicts []string
	for i, r := range s.flows {
		if !r.ClusterMode {
			continue
		}
		if err := r.Validate(); err != nil || math.IsNaN(r.Count) {
			s.log.Warn("redistoken: cluster flow rule skipped", "index", i, "resource", r.Resource, "err", err)
			continue
		}
		c := r.ClusterConfig
		if _, dup := ix.flows[c.FlowID]; dup {
			conflicts = append(conflicts, fmt.Sprintf("flow rule %d (%q): flowId %d already used", i, r.Resource, c.FlowID))
			continue
		}
		ix.flows[c.FlowID] = flowRule{
			key:      s.tag(c.FlowID) + ":flow",
			count:    r.Count,
			global:   c.ThresholdType == flow.ThresholdGlobal,
			bucketMs: int64(c.WindowIntervalMs / c.SampleCount), intervalMs: int64(c.WindowIntervalMs),
		}
	}
	for i, r := range s.params {
		if !r.ClusterMode {
			continue
		}
		if err := r.Validate(); err != nil || math.IsNaN(r.Count) {
			s.log.Warn("redistoken: cluster param rule skipped", "index", i, "resource", r.Resource, "err", err)
			continue
		}
		c := r.ClusterConfig
		if _, dup := ix.params[c.FlowID]; dup {
			conflicts = append(conflicts, fmt.Sprintf("param rule %d (%q): flowId %d already used", i, r.Resource, c.FlowID))
			continue
		}
		items, dropped := jvalue.ParseItems(r)
		for _, err := range dropped {
			s.log.Warn("redistoken: exception item dropped", "index", i, "resource", r.Resource, "err", err)
		}
		ix.params[c.FlowID] = paramRule{
			keyPrefix: s.tag(c.FlowID) + ":param:",
			count:     r.Count,
			global:    c.ThresholdType == flow.ThresholdGlobal,
			items:     items,
			bucketMs:  int64(c.WindowIntervalMs / c.SampleCount), intervalMs: int64(c.WindowIntervalMs),
		}
	}
	for _, c := range conflicts {
		if !slices.Contains(s.conflicts, c) {
			s.log.Warn("redistoken: duplicate flowId, rule not served: " + c)
		}
	}
	s.conflicts = conflicts
	s.rules.Store(ix)
}

// Conflicts lists the rules skipped because an earlier rule has their flowId.
func (s *Service) Conflicts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.conflicts)
}

// Members is the number of live instances of the namespace at the latest
// heartbeat (1 before the first one succeeded).
func (s *Service) Members() int { return int(s.members.Load()) }

func (s *Service) scale(global bool) float64 {
	if global {
		return 1
	}
	return float64(max(s.members.Load(), 1))
}

// RequestToken checks and counts count tokens of the cluster flow rule
// flowID in Redis. It makes Service a flow.TokenService.
func (s *Service) RequestToken(ctx context.Context, flowID, count int64, prioritized bool) (base.TokenResult, error) {
	if flowID <= 0 || count <= 0 {
		return base.TokenResult{Status: base.TokenBadRequest}, nil
	}
	r, ok := s.rules.Load().flows[flowID]
	if !ok {
		return base.TokenResult{Status: base.TokenNoRuleExists}, nil
	}
	threshold := r.count * s.scale(r.global) * s.opts.exceedCount
	prio := "0"
	if prioritized {
		prio = "1"
	}
	res, err := s.run(ctx, flowScript, []string{r.key},
		fmtFloat(threshold), count, prio, r.bucketMs, r.intervalMs, fmtFloat(s.opts.maxOccupyRatio))
	if err != nil {
		return base.TokenResult{}, fmt.Errorf("redistoken: flow %d: %w", flowID, err)
	}
	if len(res) != 3 {
		return base.TokenResult{}, fmt.Errorf("redistoken: flow %d: unexpected answer %v", flowID, res)
	}
	return base.TokenResult{Status: base.TokenStatus(res[0]), Remaining: res[1], WaitMs: res[2]}, nil
}

// RequestParamToken checks and counts count tokens for each of params under
// the cluster param rule flowID, in one script on the rule's slot. Values
// are told apart by their Java types (see wire.JavaValue); values the
// protocol could not carry are skipped. It makes Service a
// base.ParamTokenService.
func (s *Service) RequestParamToken(ctx context.Context, flowID, count int64, params []any) (base.TokenResult, error) {
	if flowID <= 0 || count <= 0 || len(params) == 0 {
		return base.TokenResult{Status: base.TokenBadRequest}, nil
	}
	r, ok := s.rules.Load().params[flowID]
	if !ok {
		return base.TokenResult{Status: base.TokenNoRuleExists}, nil
	}
	scale := s.scale(r.global)
	keys := make([]string, 0, len(params))
	args := make([]any, 0, 3+len(params))
	args = append(args, count, r.bucketMs, r.intervalMs)
	for _, p := range params {
		k, ok := jvalue.Of(p)
		if !ok {
			continue
		}
		keys = append(keys, r.keyPrefix+valueKey(k))
		args = append(args, fmtFloat(r.items.Threshold(k, r.count)*scale))
	}
	if len(keys) == 0 {
		return base.TokenResult{Status: base.TokenBadRequest}, nil
	}
	res, err := s.run(ctx, paramScript, keys, args...)
	if err != nil {
		return base.TokenResult{}, fmt.Errorf("redistoken: param flow %d: %w", flowID, err)
	}
	if len(res) != 2 {
		return base.TokenResult{}, fmt.Errorf("redistoken: param flow %d: unexpected answer %v", flowID, res)
	}
	return base.TokenResult{Status: base.TokenStatus(res[0]), Remaining: res[1]}, nil
}

type scriptResult struct {
	res []int64
	err error
}

var timers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// run runs a script and waits for it at most the timeout (or ctx).
func (s *Service) run(ctx context.Context, sc *goredis.Script, keys []string, args ...any) ([]int64, error) {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case s.inflight <- struct{}{}:
	default:
		s.closeMu.RUnlock()
		return nil, ErrBusy
	}
	s.calls.Add(1)
	s.closeMu.RUnlock()
	cctx, cancel := context.WithTimeout(ctx, s.opts.timeout)
	ch := make(chan scriptResult, 1)
	go func() {
		defer s.calls.Done()
		defer func() { <-s.inflight }()
		defer cancel()
		res, err := sc.Run(cctx, s.rdb, keys, args...).Int64Slice()
		ch <- scriptResult{res, err}
	}()
	t := timers.Get().(*time.Timer)
	t.Reset(s.opts.timeout)
	defer func() {
		t.Stop()
		timers.Put(t)
	}()
	select {
	case r := <-ch:
		return r.res, r.err
	case <-t.C:
		return nil, ErrTimeout
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// contextTimeouts reports whether the client honours context deadlines on
// its reads and writes (go-redis' ContextTimeoutEnabled), when it can tell.
func contextTimeouts(rdb goredis.UniversalClient) bool {
	switch c := rdb.(type) {
	case *goredis.Client:
		return c.Options().ContextTimeoutEnabled
	case *goredis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *goredis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return true
}

// valueKey names a value in a key: its type letter and value, long strings
// by their SHA-256.
func valueKey(k jvalue.Key) string {
	if len(k.S) > 64 {
		sum := sha256.Sum256([]byte(k.S))
		return "x:" + hex.EncodeToString(sum[:])
	}
	return k.String()
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func (s *Service) heartbeatLoop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.opts.heartbeat)
	defer t.Stop()
	ttl := 3 * s.opts.heartbeat.Milliseconds()
	failing := false
	for {
		hctx, cancel := context.WithTimeout(ctx, max(s.opts.heartbeat, time.Second))
		n, err := heartbeatScript.Run(hctx, s.rdb, []string{s.membersKey()}, s.opts.instance, ttl).Int64()
		cancel()
		switch {
		case err == nil:
			s.members.Store(max(n, 1))
			if failing {
				s.log.Info("redistoken: heartbeat back", "members", n)
			}
			failing = false
		case ctx.Err() == nil && !failing:
			s.log.Warn("redistoken: heartbeat failed, keeping the last member count", "err", err, "members", s.members.Load())
			failing = true
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close stops the heartbeat, leaves the namespace's member set (best effort)
// and the rule subscriptions, and waits for requests still waiting for
// Redis (bounded by the client's own timeouts). It does not close the Redis
// client.
func (s *Service) Close() error {
	s.once.Do(func() {
		s.closeMu.Lock()
		s.closed = true
		s.closeMu.Unlock()
		for _, c := range s.cancels {
			c()
		}
		s.stop()
		<-s.done
		s.calls.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = leaveScript.Run(ctx, s.rdb, []string{s.membersKey()}, s.opts.instance).Err()
	})
	return nil
}

var (
	_ flow.TokenService      = (*Service)(nil)
	_ base.ParamTokenService = (*Service)(nil)
)
