package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/gateway"
	"github.com/rulesync/rulesync/engine/gateway/httpgw"
	"github.com/rulesync/rulesync/ruleapply"
	"github.com/rulesync/rulesync/sources/file"
)

// route is one entry of the gateway's route table: requests whose path starts
// with prefix go to upstream, with the prefix cut when strip is set.
type route struct {
	id       string
	prefix   string
	upstream *url.URL
	strip    bool
}

type config struct {
	rulesPath      string
	apisPath       string
	productURL     *url.URL
	httpbinURL     *url.URL
	trustForwarded bool
	logger         *slog.Logger
	clock          engine.Clock // nil: the system clock
}

// gatewayServer is the demo gateway: a reverse proxy behind the gateway flow
// control middleware, whose rules and API groups come from two watched files.
type gatewayServer struct {
	engine  *engine.Engine
	rules   *datasource.DataSource[[]gateway.Rule]
	apis    *datasource.DataSource[[]gateway.APIDefinition]
	unbinds []func()
	routes  []route
	handler http.Handler
}

func newGateway(ctx context.Context, cfg config) (*gatewayServer, error) {
	var eopts []engine.Option
	if cfg.clock != nil {
		eopts = append(eopts, engine.WithClock(cfg.clock))
	}
	eopts = append(eopts, engine.WithLogger(cfg.logger))
	e := engine.New(eopts...)
	g := &gatewayServer{
		engine: e,
		routes: []route{
			{id: "product_route", prefix: "/product/", upstream: cfg.productURL},
			{id: "httpbin_route", prefix: "/httpbin/", upstream: cfg.httpbinURL, strip: true},
		},
	}

	// API definitions first, so that the first requests already see them;
	// rules naming an API that is not defined yet would simply wait for it.
	apiSrc, err := file.New(cfg.apisPath)
	if err != nil {
		e.Close()
		return nil, err
	}
	// The datasources log what happens to each file, one line per event
	// (see the datasource package doc).
	g.apis = datasource.New(apiSrc, converter.APIDefinitions(),
		datasource.WithName(cfg.apisPath), datasource.WithLogger(cfg.logger))
	g.unbinds = append(g.unbinds, ruleapply.Bind(g.apis.Property(), ruleapply.GatewayAPI.Loader(e),
		ruleapply.WithName("gw-api-group"), ruleapply.WithLogger(cfg.logger)))
	// A file that cannot be read at startup is logged by its datasource,
	// which keeps watching it: the gateway starts without it and applies it
	// once it is fixed.
	_ = g.apis.Start(ctx)

	ruleSrc, err := file.New(cfg.rulesPath)
	if err != nil {
		g.Close()
		return nil, err
	}
	g.rules = datasource.New(ruleSrc, converter.GatewayFlow(),
		datasource.WithName(cfg.rulesPath), datasource.WithLogger(cfg.logger))
	g.unbinds = append(g.unbinds, ruleapply.Bind(g.rules.Property(), e.Gateway(),
		ruleapply.WithName("gw-flow"), ruleapply.WithLogger(cfg.logger)))
	_ = g.rules.Start(ctx)

	proxy := &httputil.ReverseProxy{
		Rewrite: g.rewrite,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			cfg.logger.Warn("upstream failed", "path", r.URL.Path, "err", err)
			http.Error(w, "bad gateway", http.StatusBadGateway)
		},
	}
	opts := []httpgw.Option{httpgw.WithRouteID(g.routeID)}
	if cfg.trustForwarded {
		// Demo only: trusts X-Forwarded-For from any peer, so that curl can
		// pretend to be several clients. Behind a real proxy, list its
		// addresses instead.
		opts = append(opts, httpgw.WithTrustedProxyHeader("X-Forwarded-For"))
	}
	g.handler = httpgw.New(e, opts...)(g.notFoundUnlessRouted(proxy))
	return g, nil
}

// routeFor returns the route of a request path, or nil.
func (g *gatewayServer) routeFor(path string) *route {
	for i := range g.routes {
		if strings.HasPrefix(path, g.routes[i].prefix) {
			return &g.routes[i]
		}
	}
	return nil
}

// routeID names the request's route for the middleware.
func (g *gatewayServer) routeID(r *http.Request) string {
	if rt := g.routeFor(r.URL.Path); rt != nil {
		return rt.id
	}
	return ""
}

func (g *gatewayServer) rewrite(pr *httputil.ProxyRequest) {
	rt := g.routeFor(pr.In.URL.Path)
	pr.SetURL(rt.upstream)
	if rt.strip {
		pr.Out.URL.Path = "/" + strings.TrimPrefix(pr.In.URL.Path, rt.prefix)
		pr.Out.URL.RawPath = ""
	}
	pr.SetXForwarded()
}

// notFoundUnlessRouted answers 404 for paths outside the route table (after
// the middleware, so that API groups such as /ahas are still counted).
func (g *gatewayServer) notFoundUnlessRouted(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.routeFor(r.URL.Path) == nil {
			http.Error(w, fmt.Sprintf("no route for %s", r.URL.Path), http.StatusNotFound)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Close stops the datasources and the engine.
func (g *gatewayServer) Close() error {
	for _, u := range g.unbinds {
		u()
	}
	var errs []error
	if g.rules != nil {
		errs = append(errs, g.rules.Close())
	}
	if g.apis != nil {
		errs = append(errs, g.apis.Close())
	}
	errs = append(errs, g.engine.Close())
	return errors.Join(errs...)
}

// productService is a stand-in upstream for product_route.
func productService() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"service\":\"product\",\"path\":%q}\n", r.URL.Path)
	})
}

// httpbinService is a stand-in upstream for httpbin_route, answering a few
// paths the way httpbin.org does.
func httpbinService() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"slideshow":{"title":"Sample Slide Show"}}`)
	})
	mux.HandleFunc("GET /headers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"X-User\":%q,\"X-Forwarded-For\":%q}\n", r.Header.Get("X-User"), r.Header.Get("X-Forwarded-For"))
	})
	return mux
}
