package ruleapply

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/cluster"
	"github.com/rulesync/rulesync/engine/cluster/tokenserver"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/param"
)

// ClusterOption configures ClusterRules and BindTokenServer.
type ClusterOption func(*clusterConfig)

type clusterConfig struct {
	app        *App
	dsOpts     []datasource.Option
	serverOpts []tokenserver.Option
	logger     *slog.Logger
}

// Embedded embeds the token server in app, an application bound with
// BindApp. The server serves app's namespace (its name) from app's own flow
// and param datasources: the datasource that feeds the engine's managers
// feeds the server too, so that the application and its server can never
// read different rules (the NO_RULE_EXISTS of a rule that only one side has).
// BindTokenServer also makes the server the engine's token service for flow
// and param rules. For ClusterRules alone, only the sharing applies.
func Embedded(app *App) ClusterOption { return func(c *clusterConfig) { c.app = app } }

// EmbeddedIn is Embedded for an application that was not bound by BindApp:
// its engine e, its namespace (the application's name) and the bindings of
// its datasources, such as a startup file's (BindSource). The server serves
// namespace from the flow and param bindings among them; they stay their
// owner's to close.
func EmbeddedIn(e *engine.Engine, namespace string, bindings ...Binding) ClusterOption {
	app := AppOf(bindings...)
	app.name, app.e = namespace, e
	return Embedded(app)
}

// WithServerOptions passes options to the token server BindTokenServer
// creates (a listen host, a clock, a request limit on param values).
func WithServerOptions(opts ...tokenserver.Option) ClusterOption {
	return func(c *clusterConfig) { c.serverOpts = append(c.serverOpts, opts...) }
}

// WithClusterDataSourceOptions passes options to every datasource opened for
// the token server; each is named by its data id.
func WithClusterDataSourceOptions(opts ...datasource.Option) ClusterOption {
	return func(c *clusterConfig) { c.dsOpts = append(c.dsOpts, opts...) }
}

// WithClusterLogger sets the logger of the datasources and the server
// (slog.Default() by default).
func WithClusterLogger(l *slog.Logger) ClusterOption {
	return func(c *clusterConfig) {
		if l != nil {
			c.logger = l
		}
	}
}

func newClusterConfig(opts []ClusterOption) clusterConfig {
	c := clusterConfig{logger: slog.Default()}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// ClusterRules returns the rule supplier of a token server whose namespaces'
// rules come from factory. For a namespace ns entering the server's namespace
// set it opens and starts one datasource per cluster rule type, under the
// data ids of the rule-type table (Flow.DataID(ns), "{ns}-flow-rules", and
// Param.DataID(ns), "{ns}-param-rules", the data ids of Java Sentinel's
// cluster demos), and the server closes them when it drops the namespace or
// closes. A namespace whose rules are missing starts empty and keeps
// watching; one whose source cannot be read yet is logged and keeps retrying
// in the background; only a factory error (the factory cannot open that data
// id at all) fails the supplier, and a data id it has no source for
// (ErrNoSource) leaves that rule type out. With Embedded(app), the
// namespace named app.Name() is served from app's own datasources, which
// stay app's to close.
//
// ctx bounds the initial read of each datasource (with the datasource's
// initial timeout); the datasources run until the server closes them.
func ClusterRules(ctx context.Context, factory SourceFactory, opts ...ClusterOption) tokenserver.RuleSupplier {
	cfg := newClusterConfig(opts)
	return func(ns string) (tokenserver.NamespaceRules, error) {
		var shared struct {
			flow  *datasource.DataSource[[]flow.Rule]
			param *datasource.DataSource[[]param.Rule]
		}
		if cfg.app != nil && ns == cfg.app.name {
			shared.flow = DataSourceOf(cfg.app, Flow)
			shared.param = DataSourceOf(cfg.app, Param)
		}
		var nr tokenserver.NamespaceRules
		var opened []Binding
		closeAll := func() {
			for _, b := range opened {
				if err := b.Close(); err != nil {
					cfg.logger.Warn("rulesync: closing a namespace's datasource", "namespace", ns, "datasource", b.Name(), "err", err)
				}
			}
		}
		if shared.flow != nil {
			nr.Flow = shared.flow.Property()
		} else {
			b, err := openClusterRules(ctx, cfg, factory, Flow, ns)
			if err != nil {
				return tokenserver.NamespaceRules{}, err
			}
			if b != nil {
				opened = append(opened, b)
				nr.Flow = b.ds.Property()
			}
		}
		if shared.param != nil {
			nr.Param = shared.param.Property()
		} else {
			b, err := openClusterRules(ctx, cfg, factory, Param, ns)
			if err != nil {
				closeAll()
				return tokenserver.NamespaceRules{}, err
			}
			if b != nil {
				opened = append(opened, b)
				nr.Param = b.ds.Property()
			}
		}
		if len(opened) > 0 {
			var once sync.Once
			nr.Close = func() { once.Do(closeAll) }
		}
		return nr, nil
	}
}

// openClusterRules opens and starts the datasource of one cluster rule type
// of namespace ns; nil when the factory has no source for it.
func openClusterRules[T any](ctx context.Context, cfg clusterConfig, factory SourceFactory, t *Type[T], ns string) (*binding[T], error) {
	id := t.DataID(ns)
	src, err := factory(ctx, id)
	if errors.Is(err, ErrNoSource) {
		cfg.logger.Info("rulesync: no source for this namespace's rules; left out", "namespace", ns, "data_id", id)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ruleapply: namespace %q: open source %q: %w", ns, id, err)
	}
	b, err := t.bind(ctx, bindSpec{src: src, name: id, dsOpts: cfg.dsOpts, logger: cfg.logger})
	if err != nil {
		// The datasource keeps trying in the background: the namespace gets
		// its rules once the source answers.
		cfg.logger.Warn("rulesync: namespace rules not loaded yet; retrying in the background", "namespace", ns, "data_id", id, "err", err)
	}
	return b.(*binding[T]), nil
}

// TokenServer is a cluster token server whose configuration and rules come
// from datasources, as BindTokenServer binds them. Its config bindings write
// back, like an App's: the namespace set, transport and flow configs.
type TokenServer struct {
	srv      *tokenserver.Server
	bindings []Binding
	app      *App
	close    sync.Once
	closeErr error
}

// BindTokenServer starts a token server named name (its application name:
// the Sentinel dashboard keys a server's configs by it) whose every setting
// comes from factory, under the data ids of the rule-type table:
//
//   - ServerNamespaceSet, "{name}-cs-namespace-set": the namespaces served
//     ("default" always is);
//   - ServerTransport, "{name}-cs-transport-config": the port and idle
//     timeout (Sentinel's defaults when missing: port 18730);
//   - ServerFlow, "{name}-cs-flow-config": exceedCount, maxOccupyRatio and
//     the request limit;
//   - each served namespace's flow and param rules, as ClusterRules opens
//     them.
//
// A config the factory has no source for (ErrNoSource) keeps its defaults.
// With Embedded(app) the server is embedded in app (tokenserver.WithEmbedded
// with app's name): it serves app's namespace from app's own datasources and
// becomes the token service of app's engine until Close. The server listens
// before BindTokenServer returns; on error, whatever was started is closed.
func BindTokenServer(ctx context.Context, name string, factory SourceFactory, opts ...ClusterOption) (*TokenServer, error) {
	cfg := newClusterConfig(opts)
	ts := &TokenServer{app: cfg.app}
	srvOpts := []tokenserver.Option{tokenserver.WithAppName(name), tokenserver.WithLogger(cfg.logger),
		tokenserver.WithRuleSupplier(ClusterRules(ctx, factory, opts...))}
	if cfg.app != nil {
		srvOpts = append(srvOpts, tokenserver.WithEmbedded(cfg.app.name))
	}
	for _, rt := range []RuleType{ServerNamespaceSet, ServerTransport, ServerFlow} {
		id := rt.DataID(name)
		src, err := factory(ctx, id)
		if errors.Is(err, ErrNoSource) {
			cfg.logger.Info("rulesync: no source for this token server config; defaults apply", "data_id", id)
			continue
		}
		if err != nil {
			return nil, errors.Join(fmt.Errorf("ruleapply: open source %q: %w", id, err), ts.closeBindings())
		}
		b, err := rt.bind(ctx, bindSpec{src: src, name: id, dsOpts: cfg.dsOpts, logger: cfg.logger})
		if b != nil {
			ts.bindings = append(ts.bindings, b)
		}
		if err != nil {
			return nil, errors.Join(err, ts.closeBindings())
		}
		switch b := b.(type) {
		case *binding[[]string]:
			srvOpts = append(srvOpts, tokenserver.WithNamespaces(b.ds.Property()))
		case *binding[cluster.TransportConfig]:
			srvOpts = append(srvOpts, tokenserver.WithTransportConfig(b.ds.Property()))
		case *binding[cluster.FlowConfig]:
			srvOpts = append(srvOpts, tokenserver.WithFlowConfig(b.ds.Property()))
		}
	}
	srv, err := tokenserver.New(append(srvOpts, cfg.serverOpts...)...)
	if err != nil {
		return nil, errors.Join(err, ts.closeBindings())
	}
	ts.srv = srv
	if err := srv.Start(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("ruleapply: token server %q: %w", name, err), ts.Close())
	}
	if cfg.app != nil && cfg.app.e != nil {
		cfg.app.e.Flow().SetTokenService(srv)
		cfg.app.e.Param().SetTokenService(srv)
	}
	return ts, nil
}

// Server returns the token server (for Addr, Info, Status, and as a token
// service).
func (s *TokenServer) Server() *tokenserver.Server { return s.srv }

// Binding returns the binding of one of the server's config types
// (engine.FamilyServerNamespaceSet, FamilyServerTransport, FamilyServerFlow),
// if it was bound: a dashboard changes the server's config through it.
func (s *TokenServer) Binding(f engine.Family) (Binding, bool) {
	for _, b := range s.bindings {
		if b.RuleType().Name() == f {
			return b, true
		}
	}
	return nil, false
}

// Bindings returns the config bindings, in the order of the rule-type table.
func (s *TokenServer) Bindings() []Binding { return append([]Binding(nil), s.bindings...) }

// Close stops the server (an embedded one stops being its engine's token
// service first), closes every namespace's datasources and then the config
// bindings. It is idempotent.
func (s *TokenServer) Close() error {
	s.close.Do(func() {
		if s.app != nil && s.app.e != nil && s.srv != nil {
			s.app.e.Flow().SetTokenService(nil)
			s.app.e.Param().SetTokenService(nil)
		}
		var errs []error
		if s.srv != nil {
			errs = append(errs, s.srv.Close())
		}
		errs = append(errs, s.closeBindings())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func (s *TokenServer) closeBindings() error {
	var errs []error
	for i := len(s.bindings) - 1; i >= 0; i-- {
		errs = append(errs, s.bindings[i].Close())
	}
	s.bindings = nil
	return errors.Join(errs...)
}
