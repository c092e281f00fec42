// Command kitex is a Kitex service protected by rules that a startup file
// declares: the file binds flow, degrade, authority and system rules from
// watched files (any backend of the table works the same way), and the
// Kitex server middleware checks every call against them.
//
//	go run ./examples/kitex                                  # the server
//	go run ./examples/kitex -call Hello -caller billing -n 4 # a client
//
// The service is Greeter (greeter.thrift) served with Kitex's JSON generic
// calls, so that the example needs no generated code.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/client/genericclient"
	"github.com/cloudwego/kitex/pkg/generic"
	"github.com/cloudwego/kitex/pkg/kerrors"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/transmeta"
	"github.com/cloudwego/kitex/server"
	"github.com/cloudwego/kitex/server/genericserver"
	"github.com/cloudwego/kitex/transport"

	kitexadapter "github.com/rulesync/rulesync/adapters/kitex"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/sources/file"
	"github.com/rulesync/rulesync/startup"
	"github.com/rulesync/rulesync/startup/sections"
)

//go:embed greeter.thrift
var greeterIDL string

func main() {
	addr := flag.String("addr", "127.0.0.1:8888", "server: listen address (port 0: any free port, logged); client: the server's address")
	config := flag.String("config", "examples/kitex/rulesync.yaml", "startup file declaring the datasources")
	call := flag.String("call", "", "run as a client: call this method (Hello or Flaky) and print each answer")
	caller := flag.String("caller", "billing", "client: the service name the client calls as (the server's origin)")
	name := flag.String("name", "ann", `client: the name sent ("fail" makes Flaky fail)`)
	n := flag.Int("n", 1, "client: how many calls")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Kitex logs through a process-wide logger: set its level once, here.
	var err error
	if *call != "" {
		klog.SetLevel(klog.LevelFatal)
		err = runClient(ctx, os.Stdout, *addr, *caller, *call, *name, *n)
	} else {
		klog.SetLevel(klog.LevelWarn)
		err = runServer(ctx, logger, *addr, *config, nil)
	}
	if err != nil {
		logger.Error("kitex example failed", "err", err)
		os.Exit(1)
	}
}

func jsonGeneric() (generic.Generic, error) {
	p, err := generic.NewThriftContentProvider(greeterIDL, nil)
	if err != nil {
		return nil, err
	}
	return generic.JSONThriftGeneric(p)
}

// greeter implements the service.
type greeter struct{}

func (greeter) GenericCall(_ context.Context, method string, request any) (any, error) {
	var req struct {
		Name string `json:"name"`
	}
	if s, ok := request.(string); ok {
		_ = json.Unmarshal([]byte(s), &req)
	}
	if method == "Flaky" && req.Name == "fail" {
		return nil, errors.New("flaky backend failed")
	}
	reply, err := json.Marshal(map[string]string{"message": "hello, " + req.Name})
	return string(reply), err
}

// ErrBusyCode is the business status code a blocked call answers with.
const ErrBusyCode = 429

// runServer opens the startup file's datasources, binds them to an engine
// and serves Greeter behind the Kitex middleware until ctx ends. ready, when
// not nil, receives the address the server listens on.
func runServer(ctx context.Context, logger *slog.Logger, addr, config string, ready chan<- string) error {
	e := engine.New()
	defer e.Close()
	h, err := startup.OpenFile(ctx, e, config, datasource.Backends{file.Backend()}, startup.WithLogger(logger),
		startup.WithSection(sections.Dashboard()), startup.WithSection(sections.Cluster()))
	if err != nil {
		return err
	}
	defer h.Close()
	g, err := jsonGeneric()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mw := kitexadapter.ServerMiddleware(e, kitexadapter.WithBlockFallback(func(_ context.Context, _, _ any, blockErr error) error {
		// The caller gets a business status: code 429 and why.
		return kerrors.NewBizStatusError(ErrBusyCode, blockErr.Error())
	}))
	svr := genericserver.NewServer(&greeter{}, g,
		server.WithListener(ln),
		server.WithServerBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: "greeter"}),
		server.WithMetaHandler(transmeta.ServerTTHeaderHandler),
		server.WithMiddleware(mw),
		server.WithExitWaitTime(100*time.Millisecond))
	errc := make(chan error, 1)
	go func() { errc <- svr.Run() }()
	// The pid is this process's own: under go run, the pid a shell shows is
	// the go command's, and killing it leaves the server running.
	logger.Info("greeter listening", "addr", ln.Addr().String(), "pid", os.Getpid(), "config", config, "datasources", len(h.Status()))
	if ready != nil {
		ready <- ln.Addr().String()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if err := svr.Stop(); err != nil {
		return err
	}
	return <-errc
}

// runClient calls method n times as caller and prints one line per answer.
func runClient(ctx context.Context, out io.Writer, addr, caller, method, name string, n int) error {
	g, err := jsonGeneric()
	if err != nil {
		return err
	}
	cli, err := genericclient.NewClient("greeter", g,
		client.WithHostPorts(addr),
		client.WithClientBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: caller}),
		client.WithTransportProtocol(transport.TTHeader),
		client.WithMetaHandler(transmeta.ClientTTHeaderHandler),
		client.WithRPCTimeout(5*time.Second))
	if err != nil {
		return err
	}
	defer cli.Close()
	for i := range n {
		resp, err := cli.GenericCall(ctx, method, fmt.Sprintf(`{"name":%q}`, name))
		switch biz, isBiz := kerrors.FromBizStatusError(err); {
		case err == nil:
			fmt.Fprintf(out, "%d: ok %v\n", i+1, resp)
		case isBiz:
			fmt.Fprintf(out, "%d: blocked (%d) %s\n", i+1, biz.BizStatusCode(), biz.BizMessage())
		default:
			fmt.Fprintf(out, "%d: error %v\n", i+1, err)
		}
	}
	return nil
}
