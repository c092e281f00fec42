package engine

import (
	"log/slog"
	"time"

	"github.com/rulesync/rulesync/engine/internal/stat"
	"github.com/rulesync/rulesync/engine/system"
)

// Option configures an Engine.
type Option func(*config)

type config struct {
	clock        stat.Clock
	coarseTick   time.Duration
	logger       *slog.Logger
	maxResources int
	sampler      system.Sampler
}

// WithClock sets the clock the engine and its rule families read; tests pass a
// *ManualClock. The default is SystemClock.
func WithClock(c Clock) Option {
	return func(cfg *config) {
		if c != nil {
			cfg.clock = c
		}
	}
}

// WithCoarseClock makes the engine read a clock that a goroutine refreshes
// every tick instead of the system clock: each Entry and Exit then reads time
// with one atomic load, at the cost of up to one tick of lag and a goroutine
// waking every tick until Close. It overrides WithClock.
func WithCoarseClock(tick time.Duration) Option {
	return func(cfg *config) { cfg.coarseTick = max(tick, time.Microsecond) }
}

// WithLogger sets the logger for the engine's rare events (the resource limit
// reached). The default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(cfg *config) {
		if l != nil {
			cfg.logger = l
		}
	}
}

// WithMaxResources bounds how many distinct resources get statistics (default
// DefaultMaxResources). Calls on resources past the bound are still checked
// against rules that do not need the resource's own statistics, but are not counted.
func WithMaxResources(n int) Option {
	return func(cfg *config) { cfg.maxResources = n }
}

// WithSystemSampler sets where system rules read the load average and CPU
// usage (default: the /proc sampler of package system). Tests pass a fake.
func WithSystemSampler(s system.Sampler) Option {
	return func(cfg *config) {
		if s != nil {
			cfg.sampler = s
		}
	}
}

type entryOptKind uint8

const (
	optInbound entryOptKind = iota + 1
	optCount
	optPrioritized
	optArgs
	optAt
	optOrigin
)

// EntryOption adjusts one Entry. It is a small value rather than a closure so
// that passing options does not allocate.
type EntryOption struct {
	kind entryOptKind
	n    int64
	args []any
	s    string
}

// Inbound marks the call as inbound traffic, which system rules and the
// engine's inbound statistics cover.
func Inbound() EntryOption { return EntryOption{kind: optInbound} }

// WithCount acquires n tokens instead of 1 (n < 1 is treated as 1).
func WithCount(n int64) EntryOption { return EntryOption{kind: optCount, n: n} }

// Prioritized lets a call that a QPS flow rule would block wait for room in the
// next statistics bucket (up to 500 ms) instead.
func Prioritized() EntryOption { return EntryOption{kind: optPrioritized} }

// WithArgs passes the call's arguments for hot-parameter rules.
func WithArgs(args ...any) EntryOption { return EntryOption{kind: optArgs, args: args} }

// Origin names the caller of this one call, for limitApp and authority
// rules, in place of the origin WithOrigin put in the context. Middleware that
// reads the caller from each request uses it: unlike WithOrigin it allocates
// no context. An empty origin leaves the context's in force.
func Origin(origin string) EntryOption { return EntryOption{kind: optOrigin, s: origin} }

// At makes Entry use nanos, a reading of the engine's clock (Engine.Clock),
// instead of reading the clock itself. A caller that makes several entries for
// one request (a gateway: the route, then each matching API group) reads the
// clock once and passes the reading to each: on virtual machines a clock read
// can cost as much as a rule check.
func At(nanos int64) EntryOption { return EntryOption{kind: optAt, n: nanos} }

// ExitOption adjusts one Exit.
type ExitOption struct {
	err   error
	nanos int64
	at    bool
}

// WithError records the business error the call ended with; a nil err records a
// success. Degrade rules count these errors.
func WithError(err error) ExitOption { return ExitOption{err: err} }

// ExitAt makes Exit use nanos, a reading of the engine's clock, as the end of
// the call instead of reading the clock itself (see At).
func ExitAt(nanos int64) ExitOption { return ExitOption{nanos: nanos, at: true} }
