package sections

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/cluster"
	"github.com/rulesync/rulesync/engine/cluster/tokenclient"
	"github.com/rulesync/rulesync/engine/cluster/tokenserver"
	"github.com/rulesync/rulesync/property"
	"github.com/rulesync/rulesync/ruleapply"
	"github.com/rulesync/rulesync/startup"
)

// ClusterKey is the top-level key of the cluster section.
const ClusterKey = "cluster"

// The roles of the cluster section's mode, as Java's ClusterStateManager
// names them.
const (
	ModeClient = "client"
	ModeServer = "server"
)

// clusterSettings are the keys of the cluster section.
type clusterSettings struct {
	Mode string `param:"mode,required" usage:"client (ask token servers for tokens) or server (embed a token server serving the app's namespace)"`

	Servers        []string      `param:"servers" usage:"client: the token servers, host:port, in order of preference"`
	Namespace      string        `param:"namespace" usage:"client: the namespace the client names (default: app)"`
	RequestTimeout time.Duration `param:"request-timeout" default:"20ms" usage:"client: how long a token request may take before the rule falls back (a bare number is milliseconds)"`

	Port          int     `param:"port" default:"18730" usage:"server: the TCP port token clients connect to (0 picks a free one)"`
	Host          string  `param:"host" usage:"server: the host or IP to listen on (default: every interface)"`
	MaxAllowedQPS float64 `param:"max-allowed-qps" default:"30000" usage:"server: the token requests per second answered per namespace"`
}

var (
	modes          = map[string]bool{ModeClient: true, ModeServer: true}
	clientSettings = []string{"servers", "namespace", "request-timeout"}
	serverSettings = []string{"port", "host", "max-allowed-qps"}
)

// ClusterOption configures the cluster section.
type ClusterOption func(*clusterOptions)

type clusterOptions struct {
	client []tokenclient.Option
	server []tokenserver.Option
	logger *slog.Logger
}

// WithTokenClientOptions passes options to the token client of mode client,
// before the file's settings (which override them): a ping interval, a
// backoff.
func WithTokenClientOptions(opts ...tokenclient.Option) ClusterOption {
	return func(o *clusterOptions) { o.client = append(o.client, opts...) }
}

// WithTokenServerOptions passes options to the token server of mode server,
// after the file's settings: a clock, a bound on param values.
func WithTokenServerOptions(opts ...tokenserver.Option) ClusterOption {
	return func(o *clusterOptions) { o.server = append(o.server, opts...) }
}

// WithClusterLogger sets the logger of the token client or server (by
// default the startup logger).
func WithClusterLogger(l *slog.Logger) ClusterOption {
	return func(o *clusterOptions) { o.logger = l }
}

// Cluster returns the section of cluster flow control: the key cluster,
// whose mode (required) is one of two roles.
//
// mode: client makes the engine ask token servers for the tokens of its
// cluster-mode flow and param rules (clusterMode true in the file's
// datasources), falling back as their clusterConfig says when no server
// answers. Settings: servers (required, host:port, in order of preference),
// namespace (default: app; the server counts a namespace's clients),
// request-timeout (default 20ms, Sentinel's).
//
// mode: server embeds a token server in the application: it serves the
// namespace app from the file's own flow and param-flow datasources (the
// rules the engine reads are the rules the server counts) and is the
// engine's token service, while token clients of other instances connect on
// port (default 18730). Settings: port, host (default: every interface),
// max-allowed-qps (default 30000). app must be set. The server serves no
// namespace but app's (and "default", empty): serving other applications'
// rules from a config center is BindTokenServer's, not a startup file's.
//
// A setting of the other mode is refused, so that a mode changed from the
// environment (RULESYNC_CLUSTER_MODE) does not silently drop settings.
// Handle.Close makes the engine stop using the token service, then closes
// it. Handle.Section(ClusterKey) returns a *TokenClient in mode client and
// a *ruleapply.TokenServer in mode server.
func Cluster(opts ...ClusterOption) startup.Section {
	var o clusterOptions
	for _, opt := range opts {
		opt(&o)
	}
	return startup.Section{
		Key:    ClusterKey,
		Params: datasource.ParamsOf(clusterSettings{}),
		Check:  checkCluster,
		Start: func(ctx context.Context, h *startup.Handle, p datasource.Params) (io.Closer, error) {
			return startCluster(ctx, h, p, o)
		},
	}
}

func checkCluster(cfg *startup.Config, p datasource.Params) []datasource.ParamProblem {
	var s clusterSettings
	if err := datasource.DecodeParams(p, &s); err != nil {
		return []datasource.ParamProblem{{Reason: err.Error()}}
	}
	if pr, ok := oneOf(p, "mode", modes); !ok {
		return []datasource.ParamProblem{pr}
	}
	mode := normal(s.Mode)
	var list []datasource.ParamProblem
	other := serverSettings
	if mode == ModeServer {
		other = clientSettings
	}
	for _, k := range other {
		if _, ok := p[k]; ok {
			list = append(list, datasource.ParamProblem{Param: k, Reason: fmt.Sprintf("a setting of the other mode: mode is %s", mode)})
		}
	}
	switch mode {
	case ModeClient:
		if len(s.Servers) == 0 {
			list = append(list, datasource.ParamProblem{Param: "servers", Missing: true, Reason: "missing: the token servers a client asks (host:port, in order of preference)"})
		} else if err := (tokenclient.Config{Servers: s.Servers}).Validate(); err != nil {
			list = append(list, datasource.ParamProblem{Param: "servers", Reason: strings.TrimPrefix(err.Error(), tokenclient.ErrInvalidConfig.Error()+": ")})
		}
		if _, ok := p["request-timeout"]; ok && s.RequestTimeout <= 0 {
			list = append(list, datasource.ParamProblem{Param: "request-timeout", Reason: fmt.Sprintf("%q: must be positive", p["request-timeout"])})
		}
		if strings.TrimSpace(s.Namespace) == "" && strings.TrimSpace(cfg.App) == "" {
			list = append(list, datasource.ParamProblem{Reason: "a token client names its namespace: set app, or namespace here"})
		}
	case ModeServer:
		if s.Port < 0 || s.Port > 65535 {
			list = append(list, datasource.ParamProblem{Param: "port", Reason: fmt.Sprintf("%d is not 0..65535", s.Port)})
		}
		if _, ok := p["max-allowed-qps"]; ok && s.MaxAllowedQPS < 0 {
			list = append(list, datasource.ParamProblem{Param: "max-allowed-qps", Reason: fmt.Sprintf("%v: must be >= 0", s.MaxAllowedQPS)})
		}
		if strings.TrimSpace(cfg.App) == "" {
			list = append(list, datasource.ParamProblem{Reason: "an embedded token server serves the application's namespace: set app"})
		}
	}
	return list
}

func startCluster(ctx context.Context, h *startup.Handle, p datasource.Params, o clusterOptions) (io.Closer, error) {
	s := clusterSettings{Port: cluster.DefaultTransportConfig().Port, MaxAllowedQPS: cluster.DefaultFlowConfig().MaxAllowedQps}
	if err := datasource.DecodeParams(p, &s); err != nil {
		return nil, err
	}
	logger := o.logger
	if logger == nil {
		logger = h.Logger()
	}
	if normal(s.Mode) == ModeServer {
		return startServer(ctx, h, s, o, logger)
	}
	ns := strings.TrimSpace(s.Namespace)
	if ns == "" {
		ns = h.Config().App
	}
	opts := append([]tokenclient.Option{tokenclient.WithLogger(logger)}, o.client...)
	opts = append(opts, tokenclient.WithServers(s.Servers...), tokenclient.WithNamespace(ns))
	if s.RequestTimeout > 0 {
		opts = append(opts, tokenclient.WithRequestTimeout(s.RequestTimeout))
	}
	c, err := tokenclient.New(opts...)
	if err != nil {
		return nil, err
	}
	e := h.Engine()
	e.Flow().SetTokenService(c)
	e.Param().SetTokenService(c)
	return &TokenClient{Client: c, e: e}, nil
}

// TokenClient is what the cluster section of mode client started, as
// Handle.Section("cluster") returns it: the engine's token client (its
// State tells whether it is connected, and to which server).
type TokenClient struct {
	*tokenclient.Client
	e *engine.Engine
}

// Close makes the engine check cluster rules without a token service again
// (as their fallback says), then closes the client.
func (t *TokenClient) Close() error {
	t.e.Flow().SetTokenService(nil)
	t.e.Param().SetTokenService(nil)
	return t.Client.Close()
}

// noConfigSources leaves the token server's configs and other namespaces'
// rules to their defaults: the file's settings give the former, the app's
// datasources its rules.
func noConfigSources(context.Context, string) (datasource.Source, error) {
	return nil, ruleapply.ErrNoSource
}

func startServer(ctx context.Context, h *startup.Handle, s clusterSettings, o clusterOptions, logger *slog.Logger) (io.Closer, error) {
	app := h.Config().App
	transport := cluster.DefaultTransportConfig()
	transport.Port = s.Port
	flowCfg := cluster.DefaultFlowConfig()
	flowCfg.MaxAllowedQps = s.MaxAllowedQPS
	srvOpts := []tokenserver.Option{
		tokenserver.WithTransportConfig(propertyOf(transport)),
		tokenserver.WithFlowConfig(propertyOf(flowCfg)),
	}
	if s.Host != "" {
		srvOpts = append(srvOpts, tokenserver.WithListenHost(s.Host))
	}
	srvOpts = append(srvOpts, o.server...)
	// The server runs until Handle.Close, not until ctx (which bounds the
	// start only) ends: BindTokenServer ties its listener to the context.
	ts, err := ruleapply.BindTokenServer(context.WithoutCancel(ctx), app, noConfigSources,
		ruleapply.EmbeddedIn(h.Engine(), app, h.Bindings()...),
		ruleapply.WithServerOptions(srvOpts...), ruleapply.WithClusterLogger(logger))
	if err != nil {
		return nil, fmt.Errorf("token server: %w", err)
	}
	return ts, nil
}

// propertyOf is a property holding v, for a setting that does not change.
func propertyOf[T any](v T) *property.Property[T] {
	return property.New(property.WithInitial(v))
}
