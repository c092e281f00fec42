package tokenserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/cluster"
	"github.com/rulesync/rulesync/engine/cluster/internal/jvalue"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/internal/stat"
	"github.com/rulesync/rulesync/engine/param"
	"github.com/rulesync/rulesync/property"
)

// DefaultNamespace is always served.
const DefaultNamespace = cluster.DefaultNamespace

// DefaultMaxParamValues bounds the values each cluster param rule tracks:
// Sentinel keeps up to 4000 per bucket of a 10-bucket window.
const DefaultMaxParamValues = 40_000

// NamespaceRules are the rule properties of one namespace, as a RuleSupplier
// makes them. Only rules with clusterMode set count; the others are ignored,
// so one property can feed both the token server and an app's own engine.
type NamespaceRules struct {
	Flow  *property.Property[[]flow.Rule]  // nil: no cluster flow rules
	Param *property.Property[[]param.Rule] // nil: no cluster param rules
	// Close releases what the supplier opened for the namespace (a
	// datasource, say). The server calls it once, when the namespace leaves
	// the namespace set or the server closes. It may be nil.
	Close func()
}

// RuleSupplier makes the rule properties of a namespace when the namespace
// enters the namespace set. It is called from the namespace set's
// subscription (so on the goroutine that updated that property), never twice
// at once. An error leaves the namespace without rules; it is logged and
// reported in Status, and the supplier is asked again at the next change of
// the namespace set.
type RuleSupplier func(namespace string) (NamespaceRules, error)

// MemorySupplier is the default RuleSupplier: every namespace gets two empty
// properties, which the caller fills through Server.Rules.
func MemorySupplier(string) (NamespaceRules, error) {
	return NamespaceRules{Flow: property.New[[]flow.Rule](), Param: property.New[[]param.Rule]()}, nil
}

// Option configures a Server.
type Option func(*options)

type options struct {
	namespaces     *property.Property[[]string]
	supplier       RuleSupplier
	flowCfg        *property.Property[cluster.FlowConfig]
	transportCfg   *property.Property[cluster.TransportConfig]
	embedded       bool
	ownNamespace   string
	appName        string
	host           string
	clock          stat.Clock
	log            *slog.Logger
	maxParamValues int
}

// WithNamespaces makes the namespace set a property: when it changes, the
// rule properties of dropped namespaces are closed and new namespaces get
// theirs from the supplier. "default" is always served. Blank names are
// ignored. Without it the server serves "default" (and the embedded app's
// namespace) only.
func WithNamespaces(p *property.Property[[]string]) Option {
	return func(o *options) { o.namespaces = p }
}

// WithRuleSupplier sets how a namespace gets its rule properties
// (MemorySupplier by default).
func WithRuleSupplier(s RuleSupplier) Option {
	return func(o *options) {
		if s != nil {
			o.supplier = s
		}
	}
}

// WithFlowConfig takes the server's flow settings from a property. An invalid
// value is refused (logged, reported in Status.ConfigErrors) and the previous
// settings stay in force.
func WithFlowConfig(p *property.Property[cluster.FlowConfig]) Option {
	return func(o *options) { o.flowCfg = p }
}

// WithTransportConfig takes the port and idle timeout from a property. A new
// port takes effect at once on a started server: it listens on the new port
// and then closes the old listener and its connections (clients reconnect).
// An invalid value is refused and the previous one stays.
func WithTransportConfig(p *property.Property[cluster.TransportConfig]) Option {
	return func(o *options) { o.transportCfg = p }
}

// WithEmbedded marks the server as embedded in an application whose own
// namespace is namespace (Sentinel's embedded mode): the namespace is always
// served, and the application calls the server directly as its token service.
// As in Sentinel, the application's own calls do not count as a connected
// client for AVG_LOCAL thresholds.
func WithEmbedded(namespace string) Option {
	return func(o *options) { o.embedded, o.ownNamespace = true, strings.TrimSpace(namespace) }
}

// WithAppName sets the application name that Info reports.
func WithAppName(name string) Option { return func(o *options) { o.appName = name } }

// WithListenHost sets the host or IP to listen on ("" by default: every
// interface, as Sentinel does).
func WithListenHost(host string) Option { return func(o *options) { o.host = host } }

// WithClock sets the clock the counters read (stat.SystemClock by default).
func WithClock(c stat.Clock) Option {
	return func(o *options) {
		if c != nil {
			o.clock = c
		}
	}
}

// WithLogger sets the logger (slog.Default() by default).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// WithMaxParamValues bounds the values each cluster param rule tracks
// (DefaultMaxParamValues); the least recently used value is forgotten first.
func WithMaxParamValues(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxParamValues = n
		}
	}
}

// Server is a cluster token server: it grants tokens for the cluster flow and
// param rules of the namespaces it serves. It is a flow.TokenService and a
// base.ParamTokenService for an application that embeds it, and Start serves
// Sentinel's protocol over TCP to token clients, Go or Java. Its methods are
// safe for concurrent use.
type Server struct {
	opts  options
	clock stat.Clock
	log   *slog.Logger

	index   atomic.Pointer[index]
	flowCfg atomic.Pointer[cluster.FlowConfig]
	idle    atomic.Int64 // idle timeout in seconds

	// nsMu serializes namespace set changes; spaces is the namespaces in
	// force, with their subscriptions.
	nsMu   sync.Mutex
	spaces map[string]*namespace

	// rulesMu serializes what rule updates touch: each namespace's rules,
	// active, the index and the status.
	rulesMu   sync.Mutex
	active    map[string]*namespace
	nsStates  map[string]*nsState // per namespace: limiter and clients, kept across rebuilds
	conflicts []Conflict
	cfgErrs   []string

	clients clientRegistry
	tr      transport

	cancels   []func()
	closeOnce sync.Once
	closed    atomic.Bool
}

type namespace struct {
	name     string
	rules    NamespaceRules
	cancels  []func()
	flow     []flow.Rule
	param    []param.Rule
	rejected []base.Rejection
	notes    []string
	err      error
}

// nsState is what requests of one namespace share.
type nsState struct {
	name    string
	limiter *limiter
	clients *clientGroup
}

type index struct {
	flows  map[int64]*flowEntry
	params map[int64]*paramEntry
	spaces []string // served namespaces, sorted
}

type flowEntry struct {
	ns     *nsState
	rule   flow.Rule
	metric *flowMetric
}

type paramEntry struct {
	ns     *nsState
	rule   param.Rule
	items  jvalue.Items
	metric *paramMetric
}

// ErrClosed is returned by the methods of a closed server.
var ErrClosed = errors.New("tokenserver: server closed")

// New returns a server serving its namespaces. Namespaces, rules and configs
// from properties are subscribed at once. Call Start to serve TCP clients,
// and Close to release everything.
func New(opts ...Option) (*Server, error) {
	o := options{supplier: MemorySupplier, clock: stat.SystemClock{}, log: slog.Default(), maxParamValues: DefaultMaxParamValues}
	for _, opt := range opts {
		opt(&o)
	}
	s := &Server{
		opts:     o,
		clock:    o.clock,
		log:      o.log,
		spaces:   map[string]*namespace{},
		active:   map[string]*namespace{},
		nsStates: map[string]*nsState{},
	}
	s.clients.init()
	fc := cluster.DefaultFlowConfig()
	s.flowCfg.Store(&fc)
	tc := cluster.DefaultTransportConfig()
	s.tr.cfg = tc
	s.idle.Store(int64(tc.IdleSeconds))
	s.index.Store(&index{})

	if o.flowCfg != nil {
		s.cancels = append(s.cancels, o.flowCfg.Subscribe(s.applyFlowConfig))
	}
	if o.transportCfg != nil {
		s.cancels = append(s.cancels, o.transportCfg.Subscribe(s.applyTransportConfig))
	}
	if o.namespaces != nil {
		s.cancels = append(s.cancels, o.namespaces.Subscribe(s.applyNamespaces))
	}
	if _, set := s.namespacesValue(); !set {
		s.applyNamespaces(nil)
	}
	return s, nil
}

func (s *Server) namespacesValue() ([]string, bool) {
	if s.opts.namespaces == nil {
		return nil, false
	}
	return s.opts.namespaces.Get()
}

// applyFlowConfig validates and applies a new flow config.
func (s *Server) applyFlowConfig(c cluster.FlowConfig) {
	if err := c.Validate(); err != nil {
		s.configError(err)
		return
	}
	s.flowCfg.Store(&c)
	s.rulesMu.Lock()
	for _, st := range s.nsStates {
		st.limiter.reshape(c)
	}
	s.rulesMu.Unlock()
	s.log.Info("tokenserver: flow config applied", "config", c)
}

func (s *Server) configError(err error) {
	s.log.Error("tokenserver: config refused, the previous one stays", "err", err)
	s.rulesMu.Lock()
	s.cfgErrs = append(s.cfgErrs, err.Error())
	if len(s.cfgErrs) > 16 {
		s.cfgErrs = s.cfgErrs[len(s.cfgErrs)-16:]
	}
	s.rulesMu.Unlock()
}

// normalizeNamespaces trims, drops blanks and duplicates, and adds the
// namespaces always served.
func (s *Server) normalizeNamespaces(names []string) []string {
	out := []string{DefaultNamespace}
	if s.opts.embedded && s.opts.ownNamespace != "" {
		out = append(out, s.opts.ownNamespace)
	}
	for _, n := range names {
		if t := strings.TrimSpace(n); t != "" {
			out = append(out, t)
		} else {
			s.log.Warn("tokenserver: blank namespace ignored")
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// applyNamespaces makes the served namespaces those of names.
func (s *Server) applyNamespaces(names []string) {
	s.nsMu.Lock()
	defer s.nsMu.Unlock()
	if s.closed.Load() {
		return
	}
	want := s.normalizeNamespaces(names)
	for name, ns := range s.spaces {
		if !slices.Contains(want, name) {
			s.dropNamespace(ns)
		}
	}
	for _, name := range want {
		if ns, ok := s.spaces[name]; ok && ns.err == nil {
			continue
		}
		s.addNamespace(name)
	}
	s.log.Info("tokenserver: namespaces served", "namespaces", want)
}

// addNamespace asks the supplier for the namespace's properties and
// subscribes to them. Called with nsMu held.
func (s *Server) addNamespace(name string) {
	if old, ok := s.spaces[name]; ok { // a failed supplier call: retry
		s.dropNamespace(old)
	}
	ns := &namespace{name: name}
	rules, err := s.opts.supplier(name)
	if err != nil {
		ns.err = err
		s.log.Error("tokenserver: rule supplier failed, namespace has no rules", "namespace", name, "err", err)
	}
	ns.rules = rules
	s.spaces[name] = ns
	s.rulesMu.Lock()
	s.active[name] = ns
	s.stateFor(name)
	s.rebuildLocked()
	s.rulesMu.Unlock()
	// Subscribing calls back at once with the current value: not under rulesMu.
	if rules.Flow != nil {
		ns.cancels = append(ns.cancels, rules.Flow.Subscribe(func(rs []flow.Rule) { s.onFlowRules(ns, rs) }))
	}
	if rules.Param != nil {
		ns.cancels = append(ns.cancels, rules.Param.Subscribe(func(rs []param.Rule) { s.onParamRules(ns, rs) }))
	}
}

// dropNamespace unsubscribes, forgets and closes a namespace. Called with
// nsMu held.
func (s *Server) dropNamespace(ns *namespace) {
	for _, c := range ns.cancels {
		c()
	}
	ns.cancels = nil
	delete(s.spaces, ns.name)
	s.rulesMu.Lock()
	delete(s.active, ns.name)
	s.rebuildLocked()
	s.rulesMu.Unlock()
	if ns.rules.Close != nil {
		ns.rules.Close()
	}
}

func (s *Server) stateFor(name string) *nsState {
	st, ok := s.nsStates[name]
	if !ok {
		st = &nsState{name: name, limiter: newLimiter(*s.flowCfg.Load()), clients: s.clients.group(name)}
		s.nsStates[name] = st
	}
	return st
}

func (s *Server) onFlowRules(ns *namespace, rules []flow.Rule) {
	keep, _, rejected := clusterOnly("flow", rules, func(r flow.Rule) (bool, string, float64, error) {
		return r.ClusterMode, r.Resource, r.Count, r.Validate()
	})
	s.setRules(ns, "flow", rejected, nil, func() { ns.flow = keep })
}

func (s *Server) onParamRules(ns *namespace, rules []param.Rule) {
	keep, index, rejected := clusterOnly("param", rules, func(r param.Rule) (bool, string, float64, error) {
		return r.ClusterMode, r.Resource, r.Count, r.Validate()
	})
	var notes []string
	for k, r := range keep {
		if _, dropped := jvalue.ParseItems(r); len(dropped) > 0 {
			for _, err := range dropped {
				notes = append(notes, fmt.Sprintf("param rule %d (%q): exception item dropped: %v", index[k], r.Resource, err))
			}
		}
	}
	s.setRules(ns, "param", rejected, notes, func() { ns.param, ns.notes = keep, notes })
}

// clusterOnly keeps the cluster-mode rules that are valid (and whose count is
// a number: Validate lets NaN through for local rules, where it never
// passes, but a token server would compare against it), and returns the
// invalid ones as rejections of family kind; index holds each kept rule's
// index in rules.
func clusterOnly[T any](kind string, rules []T, view func(T) (cluster bool, resource string, count float64, err error)) (keep []T, index []int, rejected []base.Rejection) {
	for i, r := range rules {
		cluster, resource, count, err := view(r)
		if !cluster {
			continue
		}
		if err != nil || math.IsNaN(count) {
			reason := "count is NaN"
			if err != nil {
				reason = err.Error()
			}
			rejected = append(rejected, base.Rejection{Index: i, Resource: resource, Reason: kind + ": " + reason})
			continue
		}
		keep = append(keep, r)
		index = append(index, i)
	}
	return keep, index, rejected
}

// setRules publishes one family's rules of ns (set stores them) unless ns
// was dropped meanwhile, replaces that family's rejections, logs them and the
// notes, and rebuilds what the server serves.
func (s *Server) setRules(ns *namespace, kind string, rejected []base.Rejection, notes []string, set func()) {
	s.rulesMu.Lock()
	defer s.rulesMu.Unlock()
	if s.active[ns.name] != ns {
		return // dropped meanwhile
	}
	set()
	ns.rejected = append(slices.DeleteFunc(ns.rejected, func(r base.Rejection) bool { return strings.HasPrefix(r.Reason, kind+": ") }), rejected...)
	for _, r := range rejected {
		s.log.Warn("tokenserver: cluster "+kind+" rule rejected", "namespace", ns.name, "rule", r.String())
	}
	for _, n := range notes {
		s.log.Warn("tokenserver: "+n, "namespace", ns.name)
	}
	s.rebuildLocked()
}

// Conflict is a cluster rule whose flowId another rule already holds: flow
// ids are unique across the namespaces of a server (flow and param rules each
// have their own ids), so the second rule is not served.
type Conflict struct {
	Kind      string `json:"kind"` // "flow" or "param"
	FlowID    int64  `json:"flowId"`
	Namespace string `json:"namespace"` // of the rule not served
	Resource  string `json:"resource"`
	HeldBy    string `json:"heldBy"` // the namespace whose rule is served
}

func (c Conflict) String() string {
	return fmt.Sprintf("%s rule %q of namespace %q: flowId %d is held by namespace %q", c.Kind, c.Resource, c.Namespace, c.FlowID, c.HeldBy)
}

type claim[R any] struct {
	ns   *namespace
	rule R
}

// rebuildLocked publishes a new index from the rules of the active
// namespaces. A flowId claimed twice stays with the namespace that holds it
// now; a new one goes to the namespace first by name (and within it, to its
// first rule); every other claim is a Conflict. Counters are kept for every
// flowId whose window did not change.
func (s *Server) rebuildLocked() {
	old := s.index.Load()
	names := make([]string, 0, len(s.active))
	for n := range s.active {
		names = append(names, n)
	}
	slices.Sort(names)
	flows := map[int64][]claim[flow.Rule]{}
	params := map[int64][]claim[param.Rule]{}
	for _, n := range names {
		ns := s.active[n]
		for _, r := range ns.flow {
			flows[r.ClusterConfig.FlowID] = append(flows[r.ClusterConfig.FlowID], claim[flow.Rule]{ns, r})
		}
		for _, r := range ns.param {
			params[r.ClusterConfig.FlowID] = append(params[r.ClusterConfig.FlowID], claim[param.Rule]{ns, r})
		}
	}
	next := &index{flows: make(map[int64]*flowEntry, len(flows)), params: make(map[int64]*paramEntry, len(params)), spaces: names}
	var conflicts []Conflict
	for id, cl := range flows {
		win := 0
		if prev := old.flows[id]; prev != nil {
			if i := slices.IndexFunc(cl, func(c claim[flow.Rule]) bool { return c.ns.name == prev.ns.name }); i >= 0 {
				win = i
			}
		}
		w := cl[win]
		e := &flowEntry{ns: s.stateFor(w.ns.name), rule: w.rule}
		cc := w.rule.ClusterConfig
		if prev := old.flows[id]; prev != nil && prev.metric.sampleCount == cc.SampleCount && prev.metric.intervalMs == int64(cc.WindowIntervalMs) {
			e.metric = prev.metric
		} else {
			e.metric = newFlowMetric(cc.SampleCount, cc.WindowIntervalMs)
		}
		next.flows[id] = e
		for i, c := range cl {
			if i != win {
				conflicts = append(conflicts, Conflict{Kind: "flow", FlowID: id, Namespace: c.ns.name, Resource: c.rule.Resource, HeldBy: w.ns.name})
			}
		}
	}
	for id, cl := range params {
		win := 0
		if prev := old.params[id]; prev != nil {
			if i := slices.IndexFunc(cl, func(c claim[param.Rule]) bool { return c.ns.name == prev.ns.name }); i >= 0 {
				win = i
			}
		}
		w := cl[win]
		items, _ := jvalue.ParseItems(w.rule)
		e := &paramEntry{ns: s.stateFor(w.ns.name), rule: w.rule, items: items}
		cc := w.rule.ClusterConfig
		if prev := old.params[id]; prev != nil && prev.metric.sampleCount == cc.SampleCount && prev.metric.intervalMs == int64(cc.WindowIntervalMs) {
			e.metric = prev.metric
		} else {
			e.metric = newParamMetric(cc.SampleCount, cc.WindowIntervalMs, s.opts.maxParamValues)
		}
		next.params[id] = e
		for i, c := range cl {
			if i != win {
				conflicts = append(conflicts, Conflict{Kind: "param", FlowID: id, Namespace: c.ns.name, Resource: c.rule.Resource, HeldBy: w.ns.name})
			}
		}
	}
	slices.SortFunc(conflicts, func(a, b Conflict) int {
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		if a.FlowID != b.FlowID {
			if a.FlowID < b.FlowID {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Namespace, b.Namespace)
	})
	for _, c := range conflicts {
		if !slices.Contains(s.conflicts, c) {
			s.log.Warn("tokenserver: duplicate flowId, rule not served", "conflict", c.String())
		}
	}
	s.conflicts = conflicts
	s.index.Store(next)
}

// Rules returns the rule properties of a served namespace, as its supplier
// made them (with MemorySupplier, Update them to load rules).
func (s *Server) Rules(namespace string) (NamespaceRules, bool) {
	s.nsMu.Lock()
	defer s.nsMu.Unlock()
	ns, ok := s.spaces[namespace]
	if !ok {
		return NamespaceRules{}, false
	}
	return ns.rules, true
}

// RequestToken grants count tokens of the cluster flow rule flowID
// (Sentinel's DefaultTokenService.requestToken). It never returns an error;
// the status says what happened. It makes Server a flow.TokenService.
func (s *Server) RequestToken(_ context.Context, flowID, count int64, prioritized bool) (base.TokenResult, error) {
	if flowID <= 0 || count <= 0 {
		return base.TokenResult{Status: base.TokenBadRequest}, nil
	}
	e := s.index.Load().flows[flowID]
	if e == nil {
		return base.TokenResult{Status: base.TokenNoRuleExists}, nil
	}
	now := s.clock.NowMs()
	cfg := s.flowCfg.Load()
	if !e.ns.limiter.tryPass(now, cfg.MaxAllowedQps) {
		return base.TokenResult{Status: base.TokenTooManyRequest}, nil
	}
	threshold := e.rule.Count
	if e.rule.ClusterConfig.ThresholdType != flow.ThresholdGlobal {
		threshold *= float64(e.ns.clients.count())
	}
	threshold *= cfg.ExceedCount
	st, rem, wait := e.metric.acquire(now, count, prioritized, threshold, cfg.MaxOccupyRatio)
	return base.TokenResult{Status: base.TokenStatus(st), Remaining: rem, WaitMs: wait}, nil
}

// RequestParamToken grants count tokens to each of params under the cluster
// param rule flowID (Sentinel's requestParamToken). Values are compared with
// their Java types (see wire.JavaValue); values the protocol cannot carry are
// skipped, and a request left without values is a bad request. It makes
// Server a base.ParamTokenService.
func (s *Server) RequestParamToken(_ context.Context, flowID, count int64, params []any) (base.TokenResult, error) {
	if flowID <= 0 || count <= 0 || len(params) == 0 {
		return base.TokenResult{Status: base.TokenBadRequest}, nil
	}
	e := s.index.Load().params[flowID]
	if e == nil {
		return base.TokenResult{Status: base.TokenNoRuleExists}, nil
	}
	var small [4]jvalue.Key
	keys := small[:0]
	for _, p := range params {
		if k, ok := jvalue.Of(p); ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return base.TokenResult{Status: base.TokenBadRequest}, nil
	}
	now := s.clock.NowMs()
	cfg := s.flowCfg.Load()
	if !e.ns.limiter.tryPass(now, cfg.MaxAllowedQps) {
		return base.TokenResult{Status: base.TokenTooManyRequest}, nil
	}
	scale := 1.0
	if e.rule.ClusterConfig.ThresholdType != flow.ThresholdGlobal {
		scale = float64(e.ns.clients.count())
	}
	st, rem := e.metric.acquire(now, count, keys, func(k jvalue.Key) float64 {
		return e.items.Threshold(k, e.rule.Count) * scale
	})
	return base.TokenResult{Status: base.TokenStatus(st), Remaining: rem}, nil
}

// Close stops serving: the listener and every connection close, the
// subscriptions end, and every namespace's Close runs. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		for _, c := range s.cancels {
			c()
		}
		s.tr.stop()
		s.nsMu.Lock()
		s.closed.Store(true)
		for _, ns := range s.spaces {
			s.dropNamespace(ns)
		}
		s.nsMu.Unlock()
	})
	return nil
}

var (
	_ flow.TokenService      = (*Server)(nil)
	_ base.ParamTokenService = (*Server)(nil)
	_ net.Addr               = (*net.TCPAddr)(nil)
)
