package ruleapply

import (
	"log/slog"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/property"
)

// Loader is a rule manager: every family's Manager in the engine is a
// Loader of its rule list (e.Flow() is a Loader[[]flow.Rule]).
type Loader[T any] interface {
	Load(v T) engine.LoadReport
}

// BindOption configures Bind.
type BindOption func(*bindConfig)

type bindConfig struct {
	logger   *slog.Logger
	name     string
	onReport func(engine.LoadReport)
}

// WithLogger logs each load's rejections (and a summary at debug level).
func WithLogger(l *slog.Logger) BindOption { return func(c *bindConfig) { c.logger = l } }

// WithName names the binding in logs, e.g. the datasource name.
func WithName(name string) BindOption { return func(c *bindConfig) { c.name = name } }

// WithReportHandler is called with the manager's report after every load.
func WithReportHandler(fn func(engine.LoadReport)) BindOption {
	return func(c *bindConfig) { c.onReport = fn }
}

// Bind loads every value of p into m, starting with the current one, until the
// returned unbind is called. Unbinding leaves the manager's rules as they are.
func Bind[T any](p *property.Property[T], m Loader[T], opts ...BindOption) (unbind func()) {
	cfg := bindConfig{logger: slog.Default()}
	for _, o := range opts {
		o(&cfg)
	}
	return p.Subscribe(func(rules T) {
		rep := m.Load(rules)
		for _, rj := range rep.Rejected {
			cfg.logger.Warn("rulesync: rule rejected by manager", "binding", cfg.name, "index", rj.Index, "resource", rj.Resource, "reason", rj.Reason)
		}
		cfg.logger.Debug("rulesync: rules loaded", "binding", cfg.name, "loaded", rep.Loaded, "kept", rep.Kept, "duplicates", rep.Duplicates, "rejected", len(rep.Rejected))
		if cfg.onReport != nil {
			cfg.onReport(rep)
		}
	})
}
