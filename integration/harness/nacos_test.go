package harness

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/config_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/common/logger"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
	"go.uber.org/zap"
)

// The SDK keeps one process-wide logger, created by the first client with that
// client's LogDir; a silent one set up front keeps it out of the temp dirs
// that tests remove.
var quietNacosSDK = sync.OnceFunc(func() {
	logger.SetLogger(&logger.NacosLogger{SugaredLogger: zap.NewNop().Sugar()})
})

// nacosEndpoint is what an SDK client needs to reach a Nacos-protocol server.
type nacosEndpoint struct {
	host           string
	port, grpcPort int
	user, password string
}

func (s *NacosServer) endpoint() nacosEndpoint {
	return nacosEndpoint{host: s.Host, port: s.Port, grpcPort: s.GRPCPort, user: s.User, password: s.Password}
}

// newConfigClient returns an SDK config client for ep, closed when t ends.
func newConfigClient(t *testing.T, ep nacosEndpoint) config_client.IConfigClient {
	t.Helper()
	quietNacosSDK()
	dir := t.TempDir()
	cc := *constant.NewClientConfig(
		constant.WithTimeoutMs(5000),
		constant.WithNotLoadCacheAtStart(true),
		constant.WithDisableUseSnapShot(true),
		constant.WithLogDir(dir+"/log"),
		constant.WithCacheDir(dir+"/cache"),
		constant.WithLogLevel("error"),
		constant.WithUsername(ep.user),
		constant.WithPassword(ep.password),
	)
	sc := []constant.ServerConfig{{
		IpAddr:      ep.host,
		Port:        uint64(ep.port),
		GrpcPort:    uint64(ep.grpcPort),
		ContextPath: "/nacos",
		Scheme:      "http",
	}}
	c, err := clients.NewConfigClient(vo.NacosClientParam{ClientConfig: &cc, ServerConfigs: sc})
	if err != nil {
		t.Fatalf("nacos config client: %v", err)
	}
	t.Cleanup(c.CloseClient)
	return c
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// eventually retries f until it succeeds or d passes, returning the last error.
func eventually(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

const nacosGroup = "SENTINEL_GROUP"

// expectConfig reads dataID and compares it with want.
func expectConfig(c config_client.IConfigClient, dataID, want string) error {
	got, err := c.GetConfig(vo.ConfigParam{DataId: dataID, Group: nacosGroup})
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("read %q, want %q", got, want)
	}
	return nil
}

// publishReadListen checks publish, read-back and change notification, the
// part both Nacos and Polaris must serve the same way.
func publishReadListen(t *testing.T, c config_client.IConfigClient, dataID string) {
	t.Helper()
	p := vo.ConfigParam{DataId: dataID, Group: nacosGroup}
	if got, err := c.GetConfig(p); err != nil || got != "" {
		t.Fatalf("missing config reads %q, %v; want \"\", nil", got, err)
	}
	p.Content = `[{"resource":"a","count":1}]`
	if ok, err := c.PublishConfig(p); !ok || err != nil {
		t.Fatalf("publish: %v %v", ok, err)
	}
	if err := eventually(10*time.Second, func() error { return expectConfig(c, dataID, p.Content) }); err != nil {
		t.Fatalf("get after publish: %v", err)
	}

	changes := make(chan string, 16)
	if err := c.ListenConfig(vo.ConfigParam{DataId: dataID, Group: nacosGroup, OnChange: func(_, _, _, data string) {
		changes <- data
	}}); err != nil {
		t.Fatalf("listen: %v", err)
	}
	want := `[{"resource":"a","count":2}]`
	// The listener registers asynchronously: publish until it reports.
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	publish := func() {
		if ok, err := c.PublishConfig(vo.ConfigParam{DataId: dataID, Group: nacosGroup, Content: want}); !ok || err != nil {
			t.Errorf("publish change: %v %v", ok, err)
		}
	}
	publish()
	for {
		select {
		case got := <-changes:
			if got == want {
				return
			}
		case <-tick.C:
			publish()
		case <-deadline:
			t.Fatal("no change notification within 20 s")
		}
	}
}

func TestNacosConfigCASAndRestart(t *testing.T) {
	s := Nacos(t)
	if s.GRPCPort != s.Port+1000 || s.BaseURL != "http://"+s.Addr+"/nacos" {
		t.Fatalf("addresses: port %d grpc %d base %s", s.Port, s.GRPCPort, s.BaseURL)
	}
	c := newConfigClient(t, s.endpoint())
	publishReadListen(t, c, "app-flow-rules")

	p := vo.ConfigParam{DataId: "app-flow-rules", Group: nacosGroup}
	cur, err := c.GetConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	p.Content, p.CasMd5 = `[{"resource":"a","count":3}]`, md5hex("something else")
	ok, err := c.PublishConfig(p)
	if ok || err == nil {
		t.Fatalf("CAS publish with a stale md5: %v %v, want false and an error", ok, err)
	}
	t.Logf("CAS with a stale md5: %q", err.Error())
	if !strings.Contains(err.Error(), "md5 may have changed") {
		t.Fatalf("CAS error %q does not say the md5 changed", err)
	}
	if got, _ := c.GetConfig(vo.ConfigParam{DataId: p.DataId, Group: nacosGroup}); got != cur {
		t.Fatalf("failed CAS changed the config to %q", got)
	}
	p.CasMd5 = md5hex(cur)
	if ok, err := c.PublishConfig(p); !ok || err != nil {
		t.Fatalf("CAS publish with the current md5: %v %v", ok, err)
	}
	// A CAS on a config that does not exist creates it without a check.
	if ok, err := c.PublishConfig(vo.ConfigParam{DataId: "fresh", Group: nacosGroup, Content: "[]", CasMd5: md5hex("x")}); !ok || err != nil {
		t.Fatalf("CAS create of an absent config: %v %v", ok, err)
	}

	// Embedded storage persists: a SIGKILLed server restarted on the same
	// home keeps what was published. The client is closed first and a new
	// one reads afterwards: nacos-sdk-go v2.3.5 races with itself when it
	// reconnects while a request runs (RpcClient.reconnect writes
	// currentConnection, Request reads it), which -race reports.
	c.CloseClient()
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.probe(ctx); err == nil {
		t.Fatal("killed server still answers")
	}
	addr := s.Addr
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if s.Addr != addr {
		t.Fatalf("restart moved the server from %s to %s", addr, s.Addr)
	}
	c = newConfigClient(t, s.endpoint())
	if err := expectConfig(c, p.DataId, p.Content); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if err := expectConfig(c, "fresh", "[]"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestNacosAuth(t *testing.T) {
	s := Nacos(t, WithUser("rules-admin"), WithPassword("s3cret-pw"))
	if s.User != "rules-admin" || s.Password != "s3cret-pw" {
		t.Fatalf("credentials %q/%q", s.User, s.Password)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Login(ctx, "nacos", "nacos"); !errors.Is(err, ErrNacosLogin) {
		t.Fatalf("default nacos/nacos login: %v, want %v", err, ErrNacosLogin)
	}
	_, err := s.Login(ctx, s.User, "wrong")
	if !errors.Is(err, ErrNacosLogin) {
		t.Fatalf("wrong password login: %v, want %v", err, ErrNacosLogin)
	}
	t.Logf("HTTP login with a wrong password: %v", err)

	good := newConfigClient(t, s.endpoint())
	p := vo.ConfigParam{DataId: "auth-flow-rules", Group: nacosGroup, Content: "[]"}
	if ok, err := good.PublishConfig(p); !ok || err != nil {
		t.Fatalf("publish with the right password: %v %v", ok, err)
	}
	// Nacos serves reads from a cache that the publish refreshes
	// asynchronously: read-after-write is eventual.
	if err := eventually(10*time.Second, func() error { return expectConfig(good, p.DataId, "[]") }); err != nil {
		t.Fatalf("get with the right password: %v", err)
	}

	ep := s.endpoint()
	ep.password = "wrong"
	bad := newConfigClient(t, ep)
	got, err := bad.GetConfig(p)
	if err == nil {
		t.Fatalf("get with a wrong password succeeded: %q", got)
	}
	t.Logf("SDK GetConfig with a wrong password: %q", err.Error())
	ok, err := bad.PublishConfig(vo.ConfigParam{DataId: p.DataId, Group: nacosGroup, Content: "[1]"})
	if ok || err == nil {
		t.Fatalf("publish with a wrong password: %v %v, want false and an error", ok, err)
	}
	t.Logf("SDK PublishConfig with a wrong password: %q", err.Error())

	ep.user, ep.password = "", ""
	anon := newConfigClient(t, ep)
	if _, err := anon.GetConfig(p); err == nil {
		t.Fatal("get without credentials succeeded on an auth-enabled server")
	} else {
		t.Logf("SDK GetConfig without credentials: %q", err.Error())
	}

	// Users live in the embedded database: a restart keeps them. (Clients
	// closed first: see TestNacosConfigCASAndRestart.)
	for _, c := range []config_client.IConfigClient{good, bad, anon} {
		c.CloseClient()
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(ctx, s.User, s.Password); err != nil {
		t.Fatalf("login after restart: %v", err)
	}
}

// With java present but nothing prepared in the cache, Nacos and Polaris skip
// (or fail) and say which script prepares them.
func TestNacosAndPolarisMissingCacheSkipOrFail(t *testing.T) {
	t.Setenv(EnvCacheDir, t.TempDir()) // nothing resolved or built there
	for name, start := range map[string]func(testing.TB){
		"nacos":   func(tb testing.TB) { Nacos(tb) },
		"polaris": func(tb testing.TB) { Polaris(tb) },
	} {
		for _, tc := range []struct {
			require      string
			skip, failed bool
		}{{"", true, false}, {"1", false, true}} {
			t.Run(name+"/require="+tc.require, func(t *testing.T) {
				t.Setenv(EnvRequireServers, tc.require)
				r := run(t, start)
				if r.skipped != tc.skip || r.failed != tc.failed {
					t.Fatalf("skipped=%v failed=%v (%s), want skipped=%v failed=%v", r.skipped, r.failed, r.msg, tc.skip, tc.failed)
				}
				if !strings.Contains(r.msg, nacosSetup) {
					t.Fatalf("message %q does not name %s", r.msg, nacosSetup)
				}
			})
		}
	}
}
