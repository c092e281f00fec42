// Command gateway is a small API gateway protected by rulesync's gateway flow
// control. It starts two stand-in upstreams in-process and proxies to them by
// path prefix, as in Sentinel's Spring Cloud Gateway example:
//
//	/product/**  -> product_route  -> the product service
//	/httpbin/**  -> httpbin_route  -> the httpbin service (prefix cut)
//
// Gateway flow rules and API groups live in two JSON files (Sentinel or
// dashboard format) that are watched: edit them and the new limits apply at
// once, without a restart.
//
//	go run ./examples/gateway
//	curl -i localhost:8090/product/foo/1
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "gateway listen address (port 0: any free port, logged)")
	productAddr := flag.String("product-addr", "127.0.0.1:0", "listen address of the in-process product upstream (port 0: any free port)")
	httpbinAddr := flag.String("httpbin-addr", "127.0.0.1:0", "listen address of the in-process httpbin upstream (port 0: any free port)")
	rules := flag.String("rules", "examples/gateway/gateway-rules.json", "gateway flow rules file; watched for changes")
	apis := flag.String("apis", "examples/gateway/api-definitions.json", "API definitions file; watched for changes")
	trust := flag.Bool("trust-forwarded", false, "take the client IP from X-Forwarded-For (demo: lets curl act as several clients)")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	err := run(ctx, *addr, *productAddr, *httpbinAddr, config{
		rulesPath: *rules, apisPath: *apis, trustForwarded: *trust, logger: logger,
	})
	if err != nil {
		logger.Error("gateway failed", "err", err)
		os.Exit(1)
	}
}

// serve starts h on addr in the background and returns the server and its URL.
func serve(addr string, h http.Handler) (*http.Server, *url.URL, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.Serve(ln) }()
	return s, &url.URL{Scheme: "http", Host: ln.Addr().String()}, nil
}

func run(ctx context.Context, addr, productAddr, httpbinAddr string, cfg config) error {
	product, productURL, err := serve(productAddr, productService())
	if err != nil {
		return fmt.Errorf("product upstream: %w", err)
	}
	defer product.Close()
	httpbin, httpbinURL, err := serve(httpbinAddr, httpbinService())
	if err != nil {
		return fmt.Errorf("httpbin upstream: %w", err)
	}
	defer httpbin.Close()
	cfg.productURL, cfg.httpbinURL = productURL, httpbinURL

	g, err := newGateway(ctx, cfg)
	if err != nil {
		return err
	}
	defer g.Close()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: g.handler, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	// The pid is this process's own: under go run, the pid a shell shows is
	// the go command's, and killing it leaves the gateway running.
	cfg.logger.Info("gateway listening", "addr", "http://"+ln.Addr().String(), "pid", os.Getpid(),
		"product", productURL.String(), "httpbin", httpbinURL.String(), "rules", cfg.rulesPath, "apis", cfg.apisPath)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
