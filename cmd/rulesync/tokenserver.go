package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine/cluster"
	"github.com/rulesync/rulesync/engine/cluster/tokenserver"
	"github.com/rulesync/rulesync/property"
	"github.com/rulesync/rulesync/ruleapply"
	"github.com/rulesync/rulesync/sources/file"
)

// listFlag collects a flag given several times, each maybe a comma list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// tokenServerCmd runs a standalone cluster token server until ctx ends (the
// process's SIGINT or SIGTERM). Each namespace's cluster rules come from the
// -flow and -param files (one namespace), or from a config center named by
// the source flags under the data ids {namespace}-flow-rules and
// {namespace}-param-rules, followed as they change.
func tokenServerCmd(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("rulesync token-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", ":18730", "host:port to listen on (an empty host: every interface; port 0: a free port)")
	var namespaces listFlag
	fs.Var(&namespaces, "namespace", "namespace to serve, repeated or a comma list (default \"default\"); clients name it in their PING")
	flowFile := fs.String("flow", "", "file of the namespace's cluster flow rules, watched (one -namespace)")
	paramFile := fs.String("param", "", "file of the namespace's cluster param rules, watched (one -namespace)")
	idle := fs.Int("idle-seconds", cluster.DefaultTransportConfig().IdleSeconds, "close a client connection silent this long")
	maxQPS := fs.Float64("max-allowed-qps", cluster.DefaultFlowConfig().MaxAllowedQps, "requests answered per second and namespace; more get TOO_MANY_REQUEST")
	var src sourceFlags
	src.register(fs)
	if err := fs.Parse(args); err != nil {
		return exitFailed
	}
	failf := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "rulesync token-server: %s\n", fmt.Sprintf(format, args...))
		return exitFailed
	}
	if fs.NArg() != 0 {
		return failf("no file arguments (rules come from -flow, -param or a source), got %q", fs.Args())
	}
	if len(namespaces) == 0 {
		namespaces = listFlag{tokenserver.DefaultNamespace}
	}
	host, portText, err := net.SplitHostPort(*addr)
	if err != nil {
		return failf("-addr %q: %v", *addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return failf("-addr %q: port %q is not a number", *addr, portText)
	}
	transport := cluster.TransportConfig{Port: port, IdleSeconds: *idle}
	if err := transport.Validate(); err != nil {
		return failf("%v", err)
	}
	flowCfg := cluster.DefaultFlowConfig()
	flowCfg.MaxAllowedQps = *maxQPS
	if err := flowCfg.Validate(); err != nil {
		return failf("%v", err)
	}
	factory, what, err := tokenServerRules(&src, namespaces, *flowFile, *paramFile)
	if err != nil {
		return failf("%v", err)
	}

	log := slog.New(slog.NewTextHandler(stderr, nil))
	srv, err := tokenserver.New(
		tokenserver.WithLogger(log),
		tokenserver.WithAppName("rulesync-token-server"),
		tokenserver.WithListenHost(host),
		tokenserver.WithNamespaces(property.New(property.WithInitial([]string(namespaces)))),
		tokenserver.WithTransportConfig(property.New(property.WithInitial(transport))),
		tokenserver.WithFlowConfig(property.New(property.WithInitial(flowCfg))),
		tokenserver.WithRuleSupplier(ruleapply.ClusterRules(ctx, factory, ruleapply.WithClusterLogger(log),
			ruleapply.WithClusterDataSourceOptions(datasource.WithLogger(log)))))
	if err != nil {
		return failf("%v", err)
	}
	defer srv.Close()
	if err := srv.Start(ctx); err != nil {
		return failf("listen on %s: %v", *addr, err)
	}
	log.Info("rulesync token-server: listening", "addr", srv.Addr().String(), "namespaces", []string(namespaces), "rules", what)
	<-ctx.Done()
	log.Info("rulesync token-server: stopping", "cause", context.Cause(ctx))
	if err := srv.Close(); err != nil {
		return failf("close: %v", err)
	}
	return exitOK
}

// tokenServerRules returns where the namespaces' rules come from, and a
// description of it for the log: the -flow and -param files, a -dir of files
// named by data id, or the one config center the source flags name.
func tokenServerRules(src *sourceFlags, namespaces []string, flowFile, paramFile string) (ruleapply.SourceFactory, string, error) {
	var chosen []string
	for _, name := range src.backends.Names() {
		if *src.primary[name] != "" {
			chosen = append(chosen, name)
		}
	}
	files := flowFile != "" || paramFile != ""
	dir := ""
	if p := src.params["dir"]; p != nil {
		dir = p.v
	}
	switch {
	case files && (len(chosen) > 0 || dir != ""):
		return nil, "", fmt.Errorf("give the rules as -flow/-param files or as a source, not both")
	case files && len(namespaces) != 1:
		return nil, "", fmt.Errorf("-flow and -param hold the rules of one namespace; %d given (%s)", len(namespaces), strings.Join(namespaces, ", "))
	case files:
		ns := namespaces[0]
		paths := map[string]string{ruleapply.Flow.DataID(ns): flowFile, ruleapply.Param.DataID(ns): paramFile}
		return func(_ context.Context, id string) (datasource.Source, error) {
			if p := paths[id]; p != "" {
				return file.New(p)
			}
			return nil, fmt.Errorf("%w: %s", ruleapply.ErrNoSource, id)
		}, fmt.Sprintf("flow %q, param %q", flowFile, paramFile), nil
	case len(chosen) > 1:
		return nil, "", fmt.Errorf("name one source, got %s", strings.Join(chosen, ", "))
	case len(chosen) == 0 && dir == "":
		return nil, "", fmt.Errorf("no rules: give -flow FILE (and -param FILE), -dir DIR, or a config center (%s)", strings.Join(src.backends.Names(), ", "))
	}
	name := "file"
	if len(chosen) == 1 {
		name = chosen[0]
	}
	b, err := src.backends.Lookup(name)
	if err != nil {
		return nil, "", err
	}
	p := datasource.Params{}
	if v := *src.primary[name]; v != "" {
		p[b.Primary] = v
	}
	var given []string
	for k, v := range src.params {
		if v.v != "" {
			p[k] = v.v
			given = append(given, k+"="+v.v)
		}
	}
	// Check now what every namespace's sources will be opened with, so that a
	// wrong flag fails the command rather than each namespace later.
	sample := p.Clone()
	if b.DataID != nil {
		sample = b.DataID(sample, ruleapply.Flow.DataID(namespaces[0]))
	}
	if err := src.backends.Check(name, sample); err != nil {
		return nil, "", err
	}
	slices.Sort(given)
	what := strings.TrimSpace(name + " " + *src.primary[name] + " " + strings.Join(given, " "))
	return ruleapply.FactoryFor(b, p), what + ", data ids {namespace}-flow-rules and {namespace}-param-rules", nil
}
