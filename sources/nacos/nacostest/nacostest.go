// Package nacostest connects the Nacos source and nacos-sdk-go clients to the
// servers that integration/harness starts, for the tests of this module and
// of the integration suites. The harness imports nothing beyond the standard
// library; what needs the SDK (its gRPC readiness walk, its clients) is here,
// in the module that requires the SDK anyway.
package nacostest

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/config_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/nacos"
)

// readyTimeout bounds Ready after a start or restart: the harness already
// waited for the server's ports.
const readyTimeout = 30 * time.Second

// Server is a harness Nacos whose Restart also waits until an SDK client's
// first request is served (Ready).
type Server struct{ *harness.NacosServer }

// Restart restarts the server and waits for its gRPC API (see Ready).
func (s *Server) Restart() error {
	if err := s.NacosServer.Restart(); err != nil {
		return err
	}
	return ready(s.Host, s.GRPCPort)
}

// Config returns a nacos.Config for the server, with its credentials.
func (s *Server) Config() nacos.Config {
	return nacos.Config{
		ServerAddr: []string{s.Addr}, Username: s.User, Password: s.Password,
		Timeout: 5 * time.Second,
	}
}

// NewServer starts a Nacos for t (harness.Nacos, which skips t when Nacos is
// not set up) and waits until an SDK client's first request is served.
func NewServer(t testing.TB, opts ...harness.Option) *Server {
	t.Helper()
	s := &Server{harness.Nacos(t, opts...)}
	if err := ready(s.Host, s.GRPCPort); err != nil {
		t.Fatalf("nacostest: %s: %v\n%s", s, err, s.Logs())
	}
	return s
}

// PolarisServer is a harness Polaris whose Restart also waits for Ready.
type PolarisServer struct{ *harness.PolarisServer }

// Restart restarts the server and waits for its Nacos gRPC API.
func (s *PolarisServer) Restart() error {
	if err := s.PolarisServer.Restart(); err != nil {
		return err
	}
	return ready(s.Host, s.NacosGRPCPort)
}

// Config returns a nacos.Config for the server's Nacos front end.
func (s *PolarisServer) Config() nacos.Config {
	return nacos.Config{ServerAddr: []string{s.NacosAddr}, Timeout: 5 * time.Second}
}

// NewPolaris starts a Polaris for t and waits for its Nacos gRPC API.
func NewPolaris(t testing.TB) *PolarisServer {
	t.Helper()
	s := &PolarisServer{harness.Polaris(t)}
	if err := ready(s.Host, s.NacosGRPCPort); err != nil {
		t.Fatalf("nacostest: %s: %v\n%s", s, err, s.Logs())
	}
	return s
}

func ready(host string, port int) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	return Ready(ctx, net.JoinHostPort(host, strconv.Itoa(port)))
}

// quietSDK gives the SDK a silent process-wide logger before any client of
// these helpers exists, unless a nacos.Dial installed the source's adapter:
// otherwise the first client's LogDir, a test's temp dir, would hold it.
var quietSDK sync.Once

// Client returns a plain SDK config client for cfg's first server (what a
// Java or Go app other than ours would use), closed when t ends. It never
// reads its local snapshot.
func Client(t testing.TB, cfg nacos.Config) config_client.IConfigClient {
	t.Helper()
	quietSDK.Do(func() { nacos.SetSDKLogger(nil) })
	host, port, err := net.SplitHostPort(cfg.ServerAddr[0])
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cc := *constant.NewClientConfig(
		constant.WithTimeoutMs(5000),
		constant.WithNotLoadCacheAtStart(true),
		constant.WithDisableUseSnapShot(true),
		constant.WithLogDir(dir+"/log"),
		constant.WithCacheDir(dir+"/cache"),
		constant.WithNamespaceId(cfg.Namespace),
		constant.WithUsername(cfg.Username),
		constant.WithPassword(cfg.Password),
	)
	sc := []constant.ServerConfig{{IpAddr: host, Port: p, GrpcPort: p + constant.RpcPortOffset, ContextPath: "/nacos", Scheme: "http"}}
	c, err := clients.NewConfigClient(vo.NacosClientParam{ClientConfig: &cc, ServerConfigs: sc})
	if err != nil {
		t.Fatalf("nacostest: config client: %v", err)
	}
	t.Cleanup(c.CloseClient)
	return c
}
