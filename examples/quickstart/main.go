// Command quickstart is an HTTP service protected by rulesync's engine. Its flow
// rules live in a JSON file that is watched: edit the file and the new limits
// apply at once, without a restart. An admin endpoint replaces the rules through
// the same datasource with compare-and-set. With -api-addr and -dashboard, a
// Sentinel dashboard manages it: its flow rule edits are written to the file.
//
//	go run ./examples/quickstart
//	curl -i localhost:8080/hello
//	go run ./examples/quickstart -api-addr 127.0.0.1:8719 -dashboard 127.0.0.1:8858
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address (port 0: any free port, logged)")
	rules := flag.String("rules", "examples/quickstart/rules.json", "flow rules file (Sentinel JSON or YAML); watched for changes")
	apiAddr := flag.String("api-addr", "", "serve the Sentinel dashboard's commands on HOST:PORT (off when empty)")
	dashboards := flag.String("dashboard", "", "Sentinel dashboards to send heartbeats to, HOST:PORT[,...] (needs -api-addr)")
	flag.Parse()
	var dash []string
	if *dashboards != "" {
		if *apiAddr == "" {
			fmt.Fprintln(os.Stderr, "quickstart: -dashboard needs -api-addr: the dashboard must be able to call back")
			os.Exit(2)
		}
		dash = strings.Split(*dashboards, ",")
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := run(ctx, *addr, config{rulesPath: *rules, logger: logger, apiAddr: *apiAddr, dashboards: dash}); err != nil {
		logger.Error("quickstart failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string, cfg config) error {
	s, err := newServer(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Close()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	// The pid is this process's own: under go run, the pid a shell shows is
	// the go command's, and killing it leaves this server running.
	url := "http://" + ln.Addr().String()
	attrs := []any{"addr", url, "pid", os.Getpid(), "rules", cfg.rulesPath, "try", "curl -i " + url + "/hello"}
	if s.agent != nil {
		attrs = append(attrs, "dashboard_commands", s.agent.Addr().String())
	}
	cfg.logger.Info("quickstart listening", attrs...)
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
