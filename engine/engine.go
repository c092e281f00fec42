package engine

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/rulesync/rulesync/engine/authority"
	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/degrade"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/gateway"
	"github.com/rulesync/rulesync/engine/internal/stat"
	"github.com/rulesync/rulesync/engine/param"
	"github.com/rulesync/rulesync/engine/system"
)

// BlockError is returned by Entry when a rule blocks a call; errors.As finds it
// and errors.Is(err, ErrBlocked) matches it.
type BlockError = base.BlockError

// ErrBlocked matches every *BlockError with errors.Is.
var ErrBlocked = base.ErrBlocked

// Engine checks calls against the rule families and keeps their statistics.
// It is safe for concurrent use.
type Engine struct {
	clock   stat.Clock
	log     *slog.Logger
	reg     *stat.Registry
	inbound *stat.Node

	authority *authority.Manager
	system    *system.Manager
	gateway   *gateway.Manager
	param     *param.Manager
	flow      *flow.Manager
	degrade   *degrade.Manager

	pool     sync.Pool
	fullOnce sync.Once
	closed   atomic.Bool
	coarse   *stat.CoarseClock // owned, stopped by Close
}

// New returns an engine with no rules loaded.
func New(opts ...Option) *Engine {
	cfg := config{clock: stat.SystemClock{}, logger: slog.Default()}
	for _, o := range opts {
		o(&cfg)
	}
	var coarse *stat.CoarseClock
	if cfg.coarseTick > 0 {
		coarse = stat.NewCoarseClock(cfg.coarseTick)
		cfg.clock = coarse
	}
	e := &Engine{
		coarse:  coarse,
		clock:   cfg.clock,
		log:     cfg.logger,
		reg:     stat.NewRegistry(cfg.maxResources),
		inbound: stat.NewNode(),
	}
	e.authority = authority.NewManager()
	// The sampler feeds load and CPU usage to system rules: it starts with
	// the first rule that needs them, and Close stops it.
	sysOpts := []system.Option{system.WithLogger(e.log), system.WithSamplingOnDemand()}
	if cfg.sampler != nil {
		sysOpts = append(sysOpts, system.WithSampler(cfg.sampler))
	}
	e.system = system.NewManager(e.clock, e.inbound, sysOpts...)
	e.gateway = gateway.NewManager(e.clock, gateway.WithLogger(e.log))
	e.param = param.NewManager(e.clock, param.WithLogger(e.log))
	e.flow = flow.NewManager(e.clock, e.reg)
	e.degrade = degrade.NewManager(e.clock)
	e.pool.New = func() any { return new(Entry) }
	return e
}

var defaultEngine = sync.OnceValue(func() *Engine { return New() })

// Default returns a process-wide engine with default options, created on first use.
func Default() *Engine { return defaultEngine() }

// Flow returns the flow rule manager.
func (e *Engine) Flow() *flow.Manager { return e.flow }

// System returns the system (adaptive protection) rule manager.
func (e *Engine) System() *system.Manager { return e.system }

// Degrade returns the degrade (circuit breaker) rule manager.
func (e *Engine) Degrade() *degrade.Manager { return e.degrade }

// Authority returns the authority (origin white/black list) rule manager.
func (e *Engine) Authority() *authority.Manager { return e.authority }

// Gateway returns the gateway rule manager.
func (e *Engine) Gateway() *gateway.Manager { return e.gateway }

// Param returns the hot-parameter rule manager.
func (e *Engine) Param() *param.Manager { return e.param }

// Clock returns the clock the engine reads.
func (e *Engine) Clock() Clock { return e.clock }

// Close stops the engine's background work: the system metrics sampler (which
// the first system rule on the load average or CPU usage started) and the
// coarse clock. Entry keeps working after Close, with the last sampled load and
// CPU usage (a system rule loaded after Close reads none), but an engine with a
// coarse clock then reads a clock that stands still, so close an engine only
// when its calls are over. Close is idempotent.
func (e *Engine) Close() error {
	if !e.closed.CompareAndSwap(false, true) {
		return nil
	}
	err := e.system.Close()
	if e.coarse != nil {
		e.coarse.Stop()
	}
	return err
}
