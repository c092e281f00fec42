package dashboard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/ruleapply"
)

// Agent is what a Sentinel dashboard sees of an application: the command
// server that answers the dashboard's commands and the heartbeat that makes
// the application show in it. Create it with New, Start it, Close it.
type Agent struct {
	e    *engine.Engine
	app  string
	cfg  config
	log  *slog.Logger
	cmds map[string]handler
	seen seenTable

	mu      sync.Mutex
	started bool
	closed  bool
	ln      net.Listener
	srv     *http.Server
	serveWG sync.WaitGroup
	beats   []*heartbeat
	cancel  context.CancelFunc
}

// ErrConfig is wrapped by New's errors.
var ErrConfig = errors.New("dashboard: invalid configuration")

// New returns an agent for app's engine e. app is the name the dashboard
// lists the application under (Sentinel's project.name). Nothing listens
// until Start.
func New(e *engine.Engine, app string, opts ...Option) (*Agent, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if e == nil {
		return nil, fmt.Errorf("%w: no engine", ErrConfig)
	}
	if strings.TrimSpace(app) == "" {
		return nil, fmt.Errorf("%w: the application name is blank (the dashboard refuses such heartbeats)", ErrConfig)
	}
	if cfg.appType != AppNormal && cfg.appType != AppGateway {
		return nil, fmt.Errorf("%w: application type %d (want AppNormal or AppGateway)", ErrConfig, cfg.appType)
	}
	if _, _, err := net.SplitHostPort(cfg.listen); err != nil {
		return nil, fmt.Errorf("%w: listen address %q: %v", ErrConfig, cfg.listen, err)
	}
	for i, p := range cfg.allow {
		if !p.IsValid() {
			return nil, fmt.Errorf("%w: allowed client %d is neither an IP address nor a prefix", ErrConfig, i)
		}
	}
	if cfg.advertiseIP != "" {
		if _, err := netip.ParseAddr(cfg.advertiseIP); err != nil {
			return nil, fmt.Errorf("%w: advertised IP %q: the dashboard wants an IP literal", ErrConfig, cfg.advertiseIP)
		}
	}
	var targets []target
	for _, d := range cfg.dashboards {
		for _, s := range strings.Split(d, ",") {
			if strings.TrimSpace(s) == "" {
				continue
			}
			t, err := parseTarget(s)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrConfig, err)
			}
			targets = append(targets, t)
		}
	}
	if cfg.hostname == "" {
		cfg.hostname, _ = os.Hostname()
	}
	a := &Agent{e: e, app: app, cfg: cfg, log: cfg.logger}
	a.cmds = a.commands()
	for _, t := range targets {
		a.beats = append(a.beats, &heartbeat{a: a, t: t})
	}
	return a, nil
}

// commands is the command table: Sentinel's command names and their handlers.
func (a *Agent) commands() map[string]handler {
	m := map[string]handler{
		"getRules": func(r *request) response {
			rt, ok := typeOf(r)
			if !ok {
				return failure(http.StatusBadRequest, "invalid type")
			}
			return a.getRules(rt, r)
		},
		"setRules": func(r *request) response {
			rt, ok := typeOf(r)
			if !ok {
				return failure(http.StatusBadRequest, "invalid type")
			}
			return a.setRules(rt, r)
		},
		"getParamFlowRules": func(r *request) response { return a.getRules(ruleapply.Param, r) },
		"setParamFlowRules": func(r *request) response { return a.setRules(ruleapply.Param, r) },
		"metric":            a.metric,
		"clusterNode":       a.clusterNode,
		"jsonTree":          a.jsonTree,
		"version":           func(*request) response { return ok(a.cfg.version) },
		"basicInfo": func(*request) response {
			return ok(fmt.Sprintf(`{"appName":%q,"appType":%d,"version":%q,"rulesync":true}`, a.app, a.cfg.appType, a.cfg.version))
		},
		"api": a.api,
	}
	if a.cfg.appType == AppGateway {
		m["gateway/getRules"] = func(r *request) response { return a.getRules(ruleapply.GatewayFlow, r) }
		m["gateway/updateRules"] = func(r *request) response { return a.setRules(ruleapply.GatewayFlow, r) }
		m["gateway/getApiDefinitions"] = func(r *request) response { return a.getRules(ruleapply.GatewayAPI, r) }
		m["gateway/updateApiDefinitions"] = func(r *request) response { return a.setRules(ruleapply.GatewayAPI, r) }
	}
	a.cfg.cluster.register(a, m)
	return m
}

// api lists the commands, as Java's api command does.
func (a *Agent) api(*request) response {
	names := make([]string, 0, len(a.cmds))
	for n := range a.cmds {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteByte('[')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"url":"/%s","desc":""}`, n)
	}
	b.WriteByte(']')
	return ok(b.String())
}

// Start listens on the command address, starts keeping the engine's
// per-second history, and starts the heartbeats (the first one after the
// heartbeat delay). It returns once the server listens; the heartbeats never
// block the application, whatever the dashboards do. ctx bounds Start only.
func (a *Agent) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.closed:
		return errClosed
	case a.started:
		return errors.New("dashboard: agent already started")
	}
	allow := a.cfg.allow
	if !a.cfg.allowSet {
		allow = a.defaultAllow(ctx)
	}
	ln := a.cfg.listener
	if ln == nil {
		var lc net.ListenConfig
		var err error
		if ln, err = lc.Listen(ctx, "tcp", a.cfg.listen); err != nil {
			return fmt.Errorf("dashboard: command server: %w", err)
		}
	}
	a.e.KeepHistory(a.cfg.history)
	a.ln = ln
	var l net.Listener = &allowList{Listener: ln, allow: allow, log: a.log}
	l = &limitListener{Listener: l, sem: make(chan struct{}, a.cfg.maxConcurrent)}
	a.srv = &http.Server{
		Handler:           a,
		ReadHeaderTimeout: a.cfg.ioTimeout,
		ReadTimeout:       a.cfg.ioTimeout,
		WriteTimeout:      a.cfg.ioTimeout,
		IdleTimeout:       time.Second,
		MaxHeaderBytes:    a.cfg.maxData + 8<<10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	a.serveWG.Add(1)
	go func() {
		defer a.serveWG.Done()
		_ = a.srv.Serve(l) // ends with ErrServerClosed at Close
	}()
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	for _, hb := range a.beats {
		a.serveWG.Add(1)
		go func() {
			defer a.serveWG.Done()
			hb.run(hctx)
		}()
	}
	a.started = true
	prefixes := make([]string, len(allow))
	for i, p := range allow {
		prefixes[i] = p.String()
	}
	a.log.Info("dashboard: command server listening", "addr", ln.Addr().String(), "app", a.app, "allowed_clients", strings.Join(prefixes, ","), "dashboards", len(a.beats))
	return nil
}

// defaultAllow is loopback plus the addresses of the dashboards' hosts.
func (a *Agent) defaultAllow(ctx context.Context) []netip.Prefix {
	allow := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, hb := range a.beats {
		host := hb.t.host
		if ip, err := netip.ParseAddr(host); err == nil {
			allow = append(allow, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		ips, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
		cancel()
		if err != nil {
			a.log.Warn("dashboard: cannot resolve a dashboard's host; its commands will be refused unless WithAllowedClients allows it", "host", host, "err", err)
			continue
		}
		for _, ip := range ips {
			allow = append(allow, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
		}
	}
	return allow
}

// Addr returns the command server's address, nil before Start.
func (a *Agent) Addr() net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ln == nil {
		return nil
	}
	return a.ln.Addr()
}

// port is the bound command port, 0 before Start.
func (a *Agent) port() int {
	if addr, ok := a.Addr().(*net.TCPAddr); ok {
		return addr.Port
	}
	return 0
}

// Close stops the heartbeats and the command server (connections in flight
// are closed) and waits for their goroutines. It is idempotent.
func (a *Agent) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	srv, cancel := a.srv, a.cancel
	if !a.started && a.cfg.listener != nil {
		_ = a.cfg.listener.Close() // handed over, never served
	}
	a.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	var err error
	if srv != nil {
		err = srv.Close()
	}
	a.serveWG.Wait()
	return err
}
