package ruleapply

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/rulesync/rulesync/codec"
	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/authority"
	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/degrade"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/gateway"
	"github.com/rulesync/rulesync/engine/param"
	"github.com/rulesync/rulesync/engine/system"
)

// SourceFactory opens the source that holds one payload, named by its data id
// (a Nacos dataId, an etcd key, a file name: the factory decides).
type SourceFactory func(ctx context.Context, dataID string) (datasource.Source, error)

// Families bound by BindApp. FamilyGatewayAPI is the API-definition payload of a gateway.
const FamilyGatewayAPI base.Family = "gw-api-group"

// DataID returns the Sentinel dashboard's data id for a family of app:
// {app}-flow-rules, {app}-degrade-rules, {app}-system-rules,
// {app}-authority-rules, {app}-param-rules, {app}-gateway-flow-rules,
// {app}-gateway-api-rules.
func DataID(app string, f base.Family) string {
	switch f {
	case base.FamilyFlow:
		return app + "-flow-rules"
	case base.FamilyDegrade:
		return app + "-degrade-rules"
	case base.FamilySystem:
		return app + "-system-rules"
	case base.FamilyAuthority:
		return app + "-authority-rules"
	case base.FamilyParam:
		return app + "-param-rules"
	case base.FamilyGateway:
		return app + "-gateway-flow-rules"
	case FamilyGatewayAPI:
		return app + "-gateway-api-rules"
	}
	return app + "-" + string(f)
}

// AppOption configures BindApp.
type AppOption func(*appConfig)

type appConfig struct {
	ids     map[base.Family]string
	skip    map[base.Family]bool
	gateway bool
	dsOpts  []datasource.Option
	logger  *slog.Logger
}

// WithDataID overrides the data id of one family.
func WithDataID(f base.Family, id string) AppOption {
	return func(c *appConfig) { c.ids[f] = id }
}

// Without leaves families unbound.
func Without(fs ...base.Family) AppOption {
	return func(c *appConfig) {
		for _, f := range fs {
			c.skip[f] = true
		}
	}
}

// WithGateway also binds the gateway flow rules and API definitions.
func WithGateway() AppOption { return func(c *appConfig) { c.gateway = true } }

// WithDataSourceOptions passes options to every datasource BindApp creates; the
// datasource name is set to the data id.
func WithDataSourceOptions(opts ...datasource.Option) AppOption {
	return func(c *appConfig) { c.dsOpts = append(c.dsOpts, opts...) }
}

// WithAppLogger sets the logger of the bindings.
func WithAppLogger(l *slog.Logger) AppOption { return func(c *appConfig) { c.logger = l } }

// App is the set of datasources bound to one engine for one application. The
// datasources are writable when their sources are: dashboards and tools write
// rules back through them.
type App struct {
	Flow       *datasource.DataSource[[]flow.Rule]
	Degrade    *datasource.DataSource[[]degrade.Rule]
	System     *datasource.DataSource[[]system.Rule]
	Authority  *datasource.DataSource[[]authority.Rule]
	Param      *datasource.DataSource[[]param.Rule]
	Gateway    *datasource.DataSource[[]gateway.Rule]
	GatewayAPI *datasource.DataSource[[]gateway.APIDefinition]

	closers []func() error
}

// BindApp creates and starts one datasource per rule family of app, each from
// factory(dataID), and binds it to e's manager. A family whose payload is
// missing starts empty and keeps watching. On error, whatever was started is
// closed again.
func BindApp(ctx context.Context, e *engine.Engine, app string, factory SourceFactory, opts ...AppOption) (*App, error) {
	cfg := appConfig{ids: map[base.Family]string{}, skip: map[base.Family]bool{}, logger: slog.Default()}
	for _, o := range opts {
		o(&cfg)
	}
	a := &App{}
	var err error
	id := func(f base.Family) string {
		if v, ok := cfg.ids[f]; ok {
			return v
		}
		return DataID(app, f)
	}
	want := func(f base.Family) bool { return err == nil && !cfg.skip[f] }
	if want(base.FamilyFlow) {
		a.Flow, err = bindFamily(ctx, a, &cfg, factory, id(base.FamilyFlow), converter.Flow(), e.Flow())
	}
	if want(base.FamilyDegrade) {
		a.Degrade, err = bindFamily(ctx, a, &cfg, factory, id(base.FamilyDegrade), converter.Degrade(), e.Degrade())
	}
	if want(base.FamilySystem) {
		a.System, err = bindFamily(ctx, a, &cfg, factory, id(base.FamilySystem), converter.System(), e.System())
	}
	if want(base.FamilyAuthority) {
		a.Authority, err = bindFamily(ctx, a, &cfg, factory, id(base.FamilyAuthority), converter.Authority(), e.Authority())
	}
	if want(base.FamilyParam) {
		a.Param, err = bindFamily(ctx, a, &cfg, factory, id(base.FamilyParam), converter.Param(), e.Param())
	}
	if cfg.gateway {
		if want(FamilyGatewayAPI) {
			a.GatewayAPI, err = bindFamily(ctx, a, &cfg, factory, id(FamilyGatewayAPI), converter.APIDefinitions(), APIDefinitions(e.Gateway()))
		}
		if want(base.FamilyGateway) {
			a.Gateway, err = bindFamily(ctx, a, &cfg, factory, id(base.FamilyGateway), converter.GatewayFlow(), e.Gateway())
		}
	}
	if err != nil {
		return nil, errors.Join(err, a.Close())
	}
	return a, nil
}

// APIDefinitions returns the Loader of m's API definitions (the gateway manager
// loads its rules with Load and its API groups with LoadAPIs), for Bind.
func APIDefinitions(m *gateway.Manager) Loader[gateway.APIDefinition] { return apiLoader{m} }

type apiLoader struct{ m *gateway.Manager }

func (l apiLoader) Load(defs []gateway.APIDefinition) base.LoadReport { return l.m.LoadAPIs(defs) }

func bindFamily[R any](ctx context.Context, a *App, cfg *appConfig, factory SourceFactory, dataID string, codec codec.Codec[[]R], m Loader[R]) (*datasource.DataSource[[]R], error) {
	src, err := factory(ctx, dataID)
	if err != nil {
		return nil, fmt.Errorf("ruleapply: open source %q: %w", dataID, err)
	}
	opts := append([]datasource.Option{datasource.WithName(dataID)}, cfg.dsOpts...)
	ds := datasource.New(src, codec, opts...)
	unbind := Bind(ds.Property(), m, WithName(dataID), WithLogger(cfg.logger))
	a.closers = append(a.closers, func() error { unbind(); return ds.Close() })
	if err := ds.Start(ctx); err != nil {
		return nil, fmt.Errorf("ruleapply: start %q: %w", dataID, err)
	}
	return ds, nil
}

// Close unbinds and closes every datasource of the app. The engine keeps the
// rules it last loaded.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}
