// Command quickstart is an HTTP service protected by rulesync's engine. Its flow
// rules live in a JSON file that is watched: edit the file and the new limits
// apply at once, without a restart. An admin endpoint replaces the rules through
// the same datasource with compare-and-set.
//
//	go run ./examples/quickstart
//	curl -i localhost:8080/hello
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address (port 0: any free port, logged)")
	rules := flag.String("rules", "examples/quickstart/rules.json", "flow rules file (Sentinel JSON or YAML); watched for changes")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := run(ctx, *addr, config{rulesPath: *rules, logger: logger}); err != nil {
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
	cfg.logger.Info("quickstart listening", "addr", url, "pid", os.Getpid(), "rules", cfg.rulesPath,
		"try", "curl -i "+url+"/hello")
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
