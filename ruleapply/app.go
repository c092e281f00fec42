package ruleapply

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
)

// SourceFactory opens the source that holds one payload, named by its data id
// (a Nacos dataId, an etcd key, a file name: the factory decides). A factory
// that has no place for a data id at all (a command line given a flow rules
// file and no param rules file, say) returns an error wrapping ErrNoSource,
// and the rule type is left unbound; any other error fails the binding.
type SourceFactory func(ctx context.Context, dataID string) (datasource.Source, error)

// ErrNoSource is wrapped by a SourceFactory's error to say that it has no
// source for a data id, so the rule type is to be left unbound.
var ErrNoSource = errors.New("ruleapply: no source for this data id")

// AppOption configures BindApp.
type AppOption func(*appConfig)

type appConfig struct {
	ids     map[engine.Family]string
	skip    map[engine.Family]bool
	gateway bool
	dsOpts  []datasource.Option
	logger  *slog.Logger
}

// WithDataID overrides the data id of one rule type.
func WithDataID(f engine.Family, id string) AppOption {
	return func(c *appConfig) { c.ids[f] = id }
}

// Without leaves rule types unbound.
func Without(fs ...engine.Family) AppOption {
	return func(c *appConfig) {
		for _, f := range fs {
			c.skip[f] = true
		}
	}
}

// WithGateway also binds the rule types of gateway apps: gateway flow rules
// and API definitions.
func WithGateway() AppOption { return func(c *appConfig) { c.gateway = true } }

// WithDataSourceOptions passes options to every datasource BindApp creates; the
// datasource name is set to the data id.
func WithDataSourceOptions(opts ...datasource.Option) AppOption {
	return func(c *appConfig) { c.dsOpts = append(c.dsOpts, opts...) }
}

// WithAppLogger sets the logger of the bindings.
func WithAppLogger(l *slog.Logger) AppOption { return func(c *appConfig) { c.logger = l } }

// App is the set of datasources bound to one engine for one application, one
// per rule type. The datasources are writable when their sources are:
// dashboards and tools write rules back through them (see Binding.Write).
type App struct {
	name     string
	e        *engine.Engine
	bindings []Binding
}

// BindApp creates and starts one datasource per rule type of app that feeds
// an engine manager (the rule-type table's TargetEngine types, gateway types
// only WithGateway), each from factory(dataID), and binds it to e's manager.
// A rule type whose payload is missing starts empty and keeps watching; one
// the factory has no source for (ErrNoSource) stays unbound. On error,
// whatever was started is closed again.
func BindApp(ctx context.Context, e *engine.Engine, app string, factory SourceFactory, opts ...AppOption) (*App, error) {
	cfg := appConfig{ids: map[engine.Family]string{}, skip: map[engine.Family]bool{}, logger: slog.Default()}
	for _, o := range opts {
		o(&cfg)
	}
	a := &App{name: app, e: e}
	for _, rt := range ruleTypes {
		if rt.Target() != TargetEngine || cfg.skip[rt.Name()] || rt.Gateway() && !cfg.gateway {
			continue
		}
		id, ok := cfg.ids[rt.Name()]
		if !ok {
			id = rt.DataID(app)
		}
		src, err := factory(ctx, id)
		if errors.Is(err, ErrNoSource) {
			cfg.logger.Info("rulesync: no source for this rule type; left unbound", "app", app, "data_id", id)
			continue
		}
		if err != nil {
			return nil, errors.Join(fmt.Errorf("ruleapply: open source %q: %w", id, err), a.Close())
		}
		b, err := rt.bind(ctx, bindSpec{e: e, src: src, name: id, dsOpts: cfg.dsOpts, logger: cfg.logger})
		if b != nil {
			a.bindings = append(a.bindings, b)
		}
		if err != nil {
			return nil, errors.Join(err, a.Close())
		}
	}
	return a, nil
}

// BindSource creates a datasource of rule type rt on src, named name, binds
// it to e's manager and starts it: one datasource of a startup file, whose
// rule type is known by name only. Of the AppOptions it uses those that
// concern one datasource (WithDataSourceOptions, WithAppLogger).
//
// When the first read fails (the source is down and there is no snapshot),
// BindSource returns the binding together with the error: the datasource
// keeps trying in the background (see datasource.DataSource.Start), so the
// caller decides whether to go on without those rules. Close the binding in
// either case.
func BindSource(ctx context.Context, e *engine.Engine, rt RuleType, name string, src datasource.Source, opts ...AppOption) (Binding, error) {
	if rt == nil || src == nil || e == nil {
		return nil, errors.New("ruleapply: BindSource needs an engine, a rule type and a source")
	}
	cfg := appConfig{ids: map[engine.Family]string{}, skip: map[engine.Family]bool{}, logger: slog.Default()}
	for _, o := range opts {
		o(&cfg)
	}
	return rt.bind(ctx, bindSpec{e: e, src: src, name: name, dsOpts: cfg.dsOpts, logger: cfg.logger})
}

// Name is the application's name, as BindApp was given it.
func (a *App) Name() string { return a.name }

// Binding returns the binding of one rule type, if BindApp bound it.
func (a *App) Binding(f engine.Family) (Binding, bool) {
	for _, b := range a.bindings {
		if b.RuleType().Name() == f {
			return b, true
		}
	}
	return nil, false
}

// Bindings returns every binding, in the order of the rule-type table.
func (a *App) Bindings() []Binding { return append([]Binding(nil), a.bindings...) }

// DataSourceOf returns the datasource that BindApp bound for rule type t, or
// nil when t is not bound: ruleapply.DataSourceOf(app, ruleapply.Flow).
func DataSourceOf[T any](a *App, t *Type[T]) *datasource.DataSource[T] {
	b, ok := a.Binding(t.Name())
	if !ok {
		return nil
	}
	tb, ok := b.(*binding[T])
	if !ok {
		return nil // another implementation of Binding, given to AppOf
	}
	return tb.ds
}

// Close unbinds and closes every datasource of the app. The engine keeps the
// rules it last loaded.
func (a *App) Close() error {
	var errs []error
	for i := len(a.bindings) - 1; i >= 0; i-- {
		errs = append(errs, a.bindings[i].Close())
	}
	a.bindings = nil
	return errors.Join(errs...)
}

// Binding is one datasource bound to an engine's manager, seen through its
// rule type: the face that a dashboard or a startup file needs, values seen
// as any (the rule type's T, e.g. []flow.Rule).
type Binding interface {
	// RuleType is the rule type of the bound datasource.
	RuleType() RuleType
	// Name is the datasource's name (its data id under BindApp).
	Name() string
	// Status is the datasource's status.
	Status() datasource.Status
	// Value is the value in force: the datasource's, as the manager loaded it.
	Value() any
	// Write validates v, stores it with compare-and-set against the revision
	// last seen, and applies it (datasource.DataSource.Write).
	Write(ctx context.Context, v any) error
	// Update reads, changes and stores with compare-and-set, retrying on
	// conflict (datasource.Update).
	Update(ctx context.Context, fn func(cur any) (any, error)) error
	// Current returns the value in force and the compare-and-set token of
	// the payload last seen, read together (datasource.DataSource.Current).
	Current() (v any, token string)
	// WriteIf validates v and stores it only if the source still holds the
	// payload token names, then applies it; it returns the revision stored
	// (datasource.DataSource.WriteIf).
	WriteIf(ctx context.Context, v any, token string) (string, error)
	// Close unbinds the manager and closes the datasource.
	Close() error
}

// bindSpec is what BindApp (and later the startup config) hands a rule type
// to open and bind one datasource. Without an engine (e nil), or for a type
// with no engine manager, the datasource is opened and bound to nothing: the
// caller subscribes to its property (a token server does).
type bindSpec struct {
	e      *engine.Engine
	src    datasource.Source
	name   string
	dsOpts []datasource.Option
	logger *slog.Logger
}

func (t *Type[T]) bind(ctx context.Context, s bindSpec) (Binding, error) {
	opts := append([]datasource.Option{datasource.WithName(s.name)}, s.dsOpts...)
	ds := datasource.New(s.src, t.codec(), opts...)
	unbind := func() {}
	if s.e != nil && t.load != nil {
		unbind = Bind(ds.Property(), t.Loader(s.e), WithName(s.name), WithLogger(s.logger))
	}
	b := &binding[T]{t: t, ds: ds, unbind: unbind}
	if err := ds.Start(ctx); err != nil {
		return b, fmt.Errorf("ruleapply: start %q: %w", s.name, err)
	}
	return b, nil
}

type binding[T any] struct {
	t      *Type[T]
	ds     *datasource.DataSource[T]
	unbind func()
}

func (b *binding[T]) RuleType() RuleType        { return b.t }
func (b *binding[T]) Name() string              { return b.ds.Name() }
func (b *binding[T]) Status() datasource.Status { return b.ds.Status() }

func (b *binding[T]) Value() any {
	v, _ := b.ds.Property().Get()
	return v
}

func (b *binding[T]) Write(ctx context.Context, v any) error {
	tv, err := typed[T](v)
	if err != nil {
		return fmt.Errorf("ruleapply: %s: %w", b.t.name, err)
	}
	return b.ds.Write(ctx, tv)
}

func (b *binding[T]) Current() (any, string) { return b.ds.Current() }

func (b *binding[T]) WriteIf(ctx context.Context, v any, token string) (string, error) {
	tv, err := typed[T](v)
	if err != nil {
		return "", fmt.Errorf("ruleapply: %s: %w", b.t.name, err)
	}
	return b.ds.WriteIf(ctx, tv, token)
}

func (b *binding[T]) Update(ctx context.Context, fn func(cur any) (any, error)) error {
	return datasource.Update(ctx, b.ds, func(cur T) (T, error) {
		next, err := fn(cur)
		if err != nil {
			var zero T
			return zero, err
		}
		tv, err := typed[T](next)
		if err != nil {
			return tv, fmt.Errorf("ruleapply: %s: %w", b.t.name, err)
		}
		return tv, nil
	})
}

func (b *binding[T]) Close() error {
	b.unbind()
	return b.ds.Close()
}

// FactoryFor returns a SourceFactory that opens each data id on backend b
// with the parameters p (the connection: server address, credentials,
// prefixes), so that BindApp can bind an app's rule types on any backend of
// a table: BindApp(ctx, e, "myapp", FactoryFor(etcd.Backend(), params)).
func FactoryFor(b datasource.Backend, p datasource.Params) SourceFactory {
	return func(ctx context.Context, dataID string) (datasource.Source, error) {
		q := p.Clone()
		if b.DataID != nil {
			q = b.DataID(q, dataID)
		}
		return datasource.Backends{b}.Open(ctx, b.Name, q)
	}
}
