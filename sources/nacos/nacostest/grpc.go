package nacostest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	nacospb "github.com/nacos-group/nacos-sdk-go/v2/api/grpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"
)

// Error codes of the Nacos 2.x gRPC protocol's ErrorResponse that mean "not
// ready for this connection yet".
const (
	nacosInvalidServerStatus = 300 // "Server is starting"
	nacosUnregistered        = 301 // connection set-up not processed yet
)

// Ready walks one gRPC connection to addr (host:port of a Nacos-protocol
// server's gRPC port) through what an SDK client does first (server check,
// bi-stream with a connection set-up, a config query) and returns nil once the
// server answers the query for this connection, or ctx's error.
//
// Checking only that the port accepts TCP is not enough: a freshly started
// server registers the first connections slowly, nacos-sdk-go v2.3.5 waits
// only 100 ms after its set-up request, and a query that then gets
// "Connection is unregistered" makes the SDK reconnect, which races inside
// the SDK (go test -race reports it). Going through one full connection
// before a test starts also loads and warms that code in the server.
func Ready(ctx context.Context, addr string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	rc := nacospb.NewRequestClient(conn)

	check, err := nacosCall(ctx, rc, "ServerCheckRequest", map[string]any{"module": "internal"})
	if err != nil {
		return fmt.Errorf("server check: %w", err)
	}
	if err := check.notReady(); err != nil {
		return fmt.Errorf("server check: %w", err)
	}

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := nacospb.NewBiRequestStreamClient(conn).RequestBiStream(sctx)
	if err != nil {
		return fmt.Errorf("bi-stream: %w", err)
	}
	setup, err := nacosPayload("ConnectionSetupRequest", map[string]any{
		"clientVersion": "rulesync-nacostest",
		"tenant":        "",
		"labels":        map[string]string{"source": "sdk", "module": "config"},
		"module":        "internal",
	})
	if err != nil {
		return err
	}
	if err := stream.Send(setup); err != nil {
		return fmt.Errorf("connection set-up: %w", err)
	}
	// Drain what the server pushes so that the stream does not stall.
	go func() {
		for {
			if _, err := stream.Recv(); err != nil {
				return
			}
		}
	}()
	defer func() { _ = stream.CloseSend() }()

	for {
		r, err := nacosCall(ctx, rc, "ConfigQueryRequest", map[string]any{
			"dataId": "rulesync-nacostest-probe", "group": "rulesync-nacostest", "tenant": "", "module": "config",
		})
		if err != nil {
			return fmt.Errorf("config query: %w", err)
		}
		if err := r.notReady(); err == nil {
			return nil
		} else if !errors.Is(err, errNacosNotRegistered) {
			return fmt.Errorf("config query: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("config query: connection never registered: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

var errNacosNotRegistered = errors.New("connection not registered yet")

// nacosReply is the part of a response payload the probe reads.
type nacosReply struct {
	typ       string
	ErrorCode int    `json:"errorCode"`
	Message   string `json:"message"`
}

// notReady reports an ErrorResponse that says the server or this connection
// is not ready; any other answer (including "config not found" or an auth
// refusal) shows the connection is served.
func (r nacosReply) notReady() error {
	if r.typ != "ErrorResponse" {
		return nil
	}
	switch r.ErrorCode {
	case nacosUnregistered:
		return errNacosNotRegistered
	case nacosInvalidServerStatus:
		return fmt.Errorf("server not started: %s", r.Message)
	}
	return fmt.Errorf("error %d: %s", r.ErrorCode, r.Message)
}

func nacosCall(ctx context.Context, rc nacospb.RequestClient, typ string, body map[string]any) (nacosReply, error) {
	p, err := nacosPayload(typ, body)
	if err != nil {
		return nacosReply{}, err
	}
	resp, err := rc.Request(ctx, p)
	if err != nil {
		return nacosReply{}, err
	}
	r := nacosReply{typ: resp.GetMetadata().GetType()}
	if err := json.Unmarshal(resp.GetBody().GetValue(), &r); err != nil {
		return nacosReply{}, fmt.Errorf("%s answer: %w", typ, err)
	}
	return r, nil
}

func nacosPayload(typ string, body map[string]any) (*nacospb.Payload, error) {
	body["headers"] = map[string]string{}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return &nacospb.Payload{
		Metadata: &nacospb.Metadata{Type: typ, ClientIp: "127.0.0.1", Headers: map[string]string{}},
		Body:     &anypb.Any{Value: b},
	}, nil
}
