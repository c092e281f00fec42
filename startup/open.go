package startup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/rulesync/rulesync/codec"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/ruleapply"
)

// Handle is what Open started: every datasource of the file bound to the
// engine, and the sections' features. Close it to stop them all.
type Handle struct {
	e        *engine.Engine
	cfg      *Config
	bindings []ruleapply.Binding // in the order of cfg.DataSources
	closers  []io.Closer         // of the sections, in start order
	keys     []string            // the closers' section keys
	logger   *slog.Logger

	closeOnce sync.Once
	closeErr  error
}

// Status is one datasource's status as a Handle reports it.
type Status struct {
	datasource.Status // Name is the datasource's name in the file
	Backend           string
	RuleType          engine.Family
}

// OpenFile is Load followed by Open: it reads the startup file at path,
// checks it against the rule-type table and backends, opens every
// datasource and binds it to e.
func OpenFile(ctx context.Context, e *engine.Engine, path string, backends datasource.Backends, opts ...Option) (*Handle, error) {
	cfg, err := Load(path, backends, opts...)
	if err != nil {
		return nil, err
	}
	return Open(ctx, e, cfg, opts...)
}

// Open opens every datasource of cfg on its backend, binds each to its rule
// family's manager in e and starts it (the first reads run at once, each
// bounded by the file's initial-timeout), then starts the sections. ctx
// bounds the start only.
//
// A source that cannot be opened (a bad TLS file, say) fails Open, and
// whatever was started is closed again. A source that opens but cannot be
// read yet does not, unless WithStrictStart: its datasource logs the failure,
// starts empty (or from its snapshot) and keeps trying, and Status says so.
func Open(ctx context.Context, e *engine.Engine, cfg *Config, opts ...Option) (*Handle, error) {
	if e == nil || cfg == nil {
		return nil, errors.New("startup: Open needs an engine and a Config")
	}
	o := newOptions(opts)
	h := &Handle{e: e, cfg: cfg, bindings: make([]ruleapply.Binding, len(cfg.DataSources)), logger: o.logger}
	base := []datasource.Option{datasource.WithLogger(o.logger)}
	if cfg.SnapshotDir != "" {
		base = append(base, datasource.WithSnapshotDir(cfg.SnapshotDir))
	}
	if cfg.Resync > 0 {
		base = append(base, datasource.WithResync(cfg.Resync))
	}
	if cfg.InitialTimeout > 0 {
		base = append(base, datasource.WithInitialTimeout(cfg.InitialTimeout))
	}
	dsOpts := append(base, o.dsOpts...)

	// The first reads run side by side, so that one unreachable server costs
	// the start one initial timeout, not one per datasource.
	openErrs := make([]error, len(cfg.DataSources))
	startErrs := make([]error, len(cfg.DataSources))
	var wg sync.WaitGroup
	for i, d := range cfg.DataSources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.bindings[i], openErrs[i], startErrs[i] = bindOne(ctx, e, cfg, d, o, dsOpts)
		}()
	}
	wg.Wait()
	if err := errors.Join(openErrs...); err != nil {
		return nil, errors.Join(err, h.closeBindings())
	}
	if err := errors.Join(startErrs...); err != nil && o.strict {
		return nil, errors.Join(err, h.closeBindings())
	}
	for _, sc := range cfg.sections {
		c, err := sc.s.Start(ctx, h, sc.params.get().Clone())
		if err != nil {
			return nil, errors.Join(fmt.Errorf("startup: %s: %w", sc.s.Key, err), h.Close())
		}
		if c != nil {
			h.closers = append(h.closers, c)
			h.keys = append(h.keys, sc.s.Key)
		}
	}
	return h, nil
}

// bindOne opens d's source and binds it: an error in opening comes back as
// openErr, a failed first read as startErr (with the binding).
func bindOne(ctx context.Context, e *engine.Engine, cfg *Config, d DataSource, o options, dsOpts []datasource.Option) (b ruleapply.Binding, openErr, startErr error) {
	backend, err := cfg.backends.Lookup(d.Backend)
	if err != nil {
		return nil, fmt.Errorf("startup: datasource %s: %w", d.Name, err), nil
	}
	src, err := backend.Open(ctx, d.params.get().Clone())
	if err != nil {
		return nil, fmt.Errorf("startup: datasource %s: open %s source: %w", d.Name, d.Backend, err), nil
	}
	b, err = ruleapply.BindSource(ctx, e, d.RuleType, d.Name, src,
		ruleapply.WithAppLogger(o.logger), ruleapply.WithDataSourceOptions(dsOpts...))
	if b == nil {
		return nil, errors.Join(fmt.Errorf("startup: datasource %s: %w", d.Name, err), src.Close()), nil
	}
	if err != nil {
		return b, nil, fmt.Errorf("startup: datasource %s: %w", d.Name, err)
	}
	return b, nil, nil
}

// Engine returns the engine the datasources are bound to.
func (h *Handle) Engine() *engine.Engine { return h.e }

// Section returns what the Start of the section key returned (nil, false
// when the file has no such key or Start returned nil): the feature it
// started, for its own methods (a dashboard agent's Addr, say; the
// section's documentation says what it is).
func (h *Handle) Section(key string) (io.Closer, bool) {
	for i, k := range h.keys {
		if k == key {
			return h.closers[i], true
		}
	}
	return nil, false
}

// Logger returns the logger Open was given (WithLogger), for a section's
// feature to log to.
func (h *Handle) Logger() *slog.Logger { return h.logger }

// Config returns the startup file the Handle was opened from.
func (h *Handle) Config() *Config { return h.cfg }

// Bindings returns the binding of every datasource, in the order of
// Config.DataSources: what a dashboard writes rules back through.
func (h *Handle) Bindings() []ruleapply.Binding {
	return append([]ruleapply.Binding(nil), h.bindings...)
}

// Binding returns the binding of the datasource named name in the file.
func (h *Handle) Binding(name string) (ruleapply.Binding, bool) {
	for i, d := range h.cfg.DataSources {
		if d.Name == name && h.bindings[i] != nil {
			return h.bindings[i], true
		}
	}
	return nil, false
}

// Status returns every datasource's status, in the order of
// Config.DataSources.
func (h *Handle) Status() []Status {
	out := make([]Status, 0, len(h.bindings))
	for i, b := range h.bindings {
		if b == nil {
			continue
		}
		d := h.cfg.DataSources[i]
		out = append(out, Status{Status: b.Status(), Backend: d.Backend, RuleType: d.RuleType.Name()})
	}
	return out
}

// Close stops the sections' features, then unbinds and closes every
// datasource. The engine keeps the rules it last loaded. Close is safe to
// call more than once.
func (h *Handle) Close() error {
	h.closeOnce.Do(func() {
		var errs []error
		for i := len(h.closers) - 1; i >= 0; i-- {
			errs = append(errs, h.closers[i].Close())
		}
		errs = append(errs, h.closeBindings())
		h.closeErr = errors.Join(errs...)
	})
	return h.closeErr
}

func (h *Handle) closeBindings() error {
	var errs []error
	for i := len(h.bindings) - 1; i >= 0; i-- {
		if h.bindings[i] != nil {
			errs = append(errs, h.bindings[i].Close())
		}
	}
	return errors.Join(errs...)
}

// ProbeResult is what one try of a datasource's source found.
type ProbeResult struct {
	DataSource DataSource
	// Err is why the source could not be opened or read, or its payload
	// not decoded at all; nil when it was read.
	Err error
	// Exists tells whether the source holds a payload (a missing one starts
	// empty).
	Exists   bool
	Revision string
	// Report is the decode report of the payload: rules accepted, rejected,
	// unknown keys.
	Report codec.Report
	// Took is how long the try took.
	Took time.Duration
}

// Probe tries every datasource of cfg once, side by side: it opens the
// source, reads it (bounded by initial-timeout, default 3s), decodes the
// payload with the rule type's codec and closes the source again. Nothing
// is bound to an engine.
func Probe(ctx context.Context, cfg *Config) []ProbeResult {
	out := make([]ProbeResult, len(cfg.DataSources))
	timeout := cfg.InitialTimeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	var wg sync.WaitGroup
	for i, d := range cfg.DataSources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			out[i] = probeOne(ctx, cfg, d, timeout)
			out[i].DataSource = d
			out[i].Took = time.Since(start)
		}()
	}
	wg.Wait()
	return out
}

func probeOne(ctx context.Context, cfg *Config, d DataSource, timeout time.Duration) ProbeResult {
	var r ProbeResult
	backend, err := cfg.backends.Lookup(d.Backend)
	if err != nil {
		r.Err = err
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	src, err := backend.Open(ctx, d.params.get().Clone())
	if err != nil {
		r.Err = fmt.Errorf("open: %w", err)
		return r
	}
	defer src.Close()
	snap, err := src.Read(ctx)
	if err != nil {
		r.Err = fmt.Errorf("read: %w", err)
		return r
	}
	r.Exists, r.Revision = snap.Exists, snap.Revision
	if !snap.Exists {
		return r
	}
	_, rep, err := d.RuleType.AnyCodec().Decode(snap.Data)
	r.Report = rep
	if err != nil {
		r.Err = err
	}
	return r
}
