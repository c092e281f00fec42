package sections

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rulesync/rulesync/dashboard"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/internal/suggest"
	"github.com/rulesync/rulesync/ruleapply"
	"github.com/rulesync/rulesync/startup"
)

// DashboardKey is the top-level key of the dashboard section.
const DashboardKey = "dashboard"

// dashboardSettings are the keys of the dashboard section, named after
// Spring Cloud Alibaba's spring.cloud.sentinel.transport.* where it has one.
type dashboardSettings struct {
	Server            []string      `param:"server,required" usage:"the dashboards to send heartbeats to, host:port (http:// or https:// optional); each gets its own heartbeat"`
	Listen            string        `param:"listen" default:"127.0.0.1:8719" usage:"host:port of the command API the dashboard calls; port 0 picks a free one; 0.0.0.0:8719 (Spring's transport.port) listens on every interface"`
	ClientIP          string        `param:"client-ip" usage:"the IP the heartbeat reports, at which the dashboard calls the command API (default: the listen IP, else the local address towards the dashboard)"`
	HeartbeatInterval time.Duration `param:"heartbeat-interval" default:"10s" usage:"the heartbeat period (a bare number is milliseconds, as Spring's heartbeat-interval-ms)"`
	AppType           string        `param:"app-type" default:"normal" usage:"normal, or gateway for the dashboard's gateway pages and commands"`
	Unbound           string        `param:"unbound" default:"refuse" usage:"what a dashboard change of a rule type no datasource of the file binds does: refuse, or in-memory (engine only, lost on restart)"`
	AllowedClients    []string      `param:"allowed-clients" usage:"IPs or prefixes allowed to call the command API (default: loopback and the dashboards' hosts)"`
}

var (
	appTypes = map[string]dashboard.AppType{"normal": dashboard.AppNormal, "gateway": dashboard.AppGateway}
	unbounds = map[string]dashboard.Unbound{"refuse": dashboard.Refuse, "in-memory": dashboard.ApplyInMemory}
)

// Dashboard returns the section that connects the Sentinel dashboard: the
// key dashboard, whose settings are
//
//   - server (required): the dashboard address(es), host:port, a list or
//     comma-separated;
//   - listen: the command API's host:port (default 127.0.0.1:8719, loopback
//     only; a dashboard on another host needs an address it can reach, and
//     allowed-clients if the default allow list does not fit);
//   - client-ip: the IP the heartbeat reports;
//   - heartbeat-interval: the heartbeat period (default 10s);
//   - app-type: normal (the default) or gateway;
//   - unbound: refuse (the default) or in-memory: what a change of a rule
//     type that no datasource of the file binds does;
//   - allowed-clients: who may call the command API.
//
// The dashboard lists the application under the file's app, which must be
// set. Its rule changes are written back through the file's datasources
// (compare-and-set), so that they land in the config center the file names
// and every instance reading it applies them. The section starts a
// dashboard.Agent once the datasources are bound (Handle.Section(DashboardKey)
// returns it); Handle.Close stops it before it closes them.
//
// opts are applied before the file's settings, which override them: pass
// what a file cannot say (WithHostname, WithSentinelVersion, WithCluster,
// WithListener, a first heartbeat delay through WithHeartbeat). The agent
// logs to the startup logger unless opts set one.
func Dashboard(opts ...dashboard.Option) startup.Section {
	return startup.Section{
		Key:    DashboardKey,
		Params: datasource.ParamsOf(dashboardSettings{}),
		Check:  checkDashboard,
		Start: func(ctx context.Context, h *startup.Handle, p datasource.Params) (io.Closer, error) {
			return startDashboard(ctx, h, p, opts)
		},
	}
}

func checkDashboard(cfg *startup.Config, p datasource.Params) []datasource.ParamProblem {
	var s dashboardSettings
	if err := datasource.DecodeParams(p, &s); err != nil {
		return []datasource.ParamProblem{{Reason: err.Error()}}
	}
	var list []datasource.ParamProblem
	if strings.TrimSpace(cfg.App) == "" {
		list = append(list, datasource.ParamProblem{Reason: "the dashboard lists the application under its name: set app"})
	}
	if len(s.Server) == 0 {
		list = append(list, datasource.ParamProblem{Param: "server", Missing: true, Reason: "missing: the dashboard address (host:port)"})
	}
	for _, srv := range s.Server {
		if err := checkHostPort(srv, true); err != nil {
			list = append(list, datasource.ParamProblem{Param: "server", Reason: fmt.Sprintf("%q: %v", srv, err)})
		}
	}
	if _, ok := p["listen"]; ok {
		if err := checkHostPort(s.Listen, false); err != nil {
			list = append(list, datasource.ParamProblem{Param: "listen", Reason: fmt.Sprintf("%q: %v", s.Listen, err)})
		}
	}
	if s.ClientIP != "" {
		if _, err := netip.ParseAddr(s.ClientIP); err != nil {
			list = append(list, datasource.ParamProblem{Param: "client-ip", Reason: fmt.Sprintf("%q is not an IP address (the dashboard wants an IP literal)", s.ClientIP)})
		}
	}
	if _, ok := p["heartbeat-interval"]; ok && s.HeartbeatInterval <= 0 {
		list = append(list, datasource.ParamProblem{Param: "heartbeat-interval", Reason: fmt.Sprintf("%q: must be positive", p["heartbeat-interval"])})
	}
	if pr, ok := oneOf(p, "app-type", appTypes); !ok {
		list = append(list, pr)
	}
	if pr, ok := oneOf(p, "unbound", unbounds); !ok {
		list = append(list, pr)
	}
	for _, a := range s.AllowedClients {
		if _, err := dashboard.ParseAllowedClient(a); err != nil {
			list = append(list, datasource.ParamProblem{Param: "allowed-clients", Reason: err.Error()})
		}
	}
	return list
}

func startDashboard(ctx context.Context, h *startup.Handle, p datasource.Params, opts []dashboard.Option) (io.Closer, error) {
	var s dashboardSettings
	if err := datasource.DecodeParams(p, &s); err != nil {
		return nil, err
	}
	all := append([]dashboard.Option{dashboard.WithLogger(h.Logger())}, opts...)
	all = append(all, dashboard.WithDashboards(s.Server...))
	if _, ok := p["listen"]; ok {
		all = append(all, dashboard.WithListenAddr(s.Listen))
	}
	if s.ClientIP != "" {
		all = append(all, dashboard.WithAdvertiseIP(s.ClientIP))
	}
	if s.HeartbeatInterval > 0 {
		all = append(all, dashboard.WithHeartbeat(s.HeartbeatInterval, -1))
	}
	if v, ok := p["app-type"]; ok {
		all = append(all, dashboard.WithAppType(appTypes[normal(v)]))
	}
	if v, ok := p["unbound"]; ok {
		all = append(all, dashboard.WithUnbound(unbounds[normal(v)]))
	}
	if len(s.AllowedClients) > 0 {
		all = append(all, dashboard.WithAllowedClients(s.AllowedClients...))
	}
	// The file's datasources are the Handle's: the agent writes through
	// them and Handle.Close closes them after the agent.
	all = append(all, dashboard.WithRules(ruleapply.AppOf(h.Bindings()...)))
	a, err := dashboard.New(h.Engine(), h.Config().App, all...)
	if err != nil {
		return nil, err
	}
	if err := a.Start(ctx); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	return a, nil
}

// checkHostPort checks a host:port; a dashboard address may carry a
// scheme, and its port may not be 0.
func checkHostPort(s string, dashboardAddr bool) error {
	s = strings.TrimSpace(s)
	if dashboardAddr {
		s = strings.TrimPrefix(strings.TrimPrefix(s, "http://"), "https://")
		s = strings.TrimSuffix(s, "/")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("not host:port")
	}
	n, err := strconv.Atoi(port)
	lo := 0
	if dashboardAddr {
		lo = 1
	}
	if err != nil || n < lo || n > 65535 {
		return fmt.Errorf("port %q is not %d..65535", port, lo)
	}
	if dashboardAddr && host == "" {
		return errors.New("no host")
	}
	return nil
}

func normal(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// oneOf checks that the setting key, if given, is a key of values.
func oneOf[V any](p datasource.Params, key string, values map[string]V) (datasource.ParamProblem, bool) {
	v, given := p[key]
	if !given {
		return datasource.ParamProblem{}, true
	}
	if _, ok := values[normal(v)]; ok {
		return datasource.ParamProblem{}, true
	}
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	slices.Sort(names)
	reason := fmt.Sprintf("%q is not one of %s", v, strings.Join(names, ", "))
	if guess := suggest.Closest(normal(v), names); guess != "" {
		reason += fmt.Sprintf(" (did you mean %q?)", guess)
	}
	return datasource.ParamProblem{Param: key, Reason: reason}, false
}
