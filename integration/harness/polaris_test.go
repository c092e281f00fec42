package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

func (s *PolarisServer) endpoint() nacosEndpoint {
	return nacosEndpoint{host: s.Host, port: s.NacosPort, grpcPort: s.NacosGRPCPort}
}

func TestPolarisNacosProtocol(t *testing.T) {
	s := Polaris(t)
	c := newConfigClient(t, s.endpoint())
	publishReadListen(t, c, "app-flow-rules")

	// Polaris never checks casMd5: it refuses any conditional update of an
	// existing config, even with the current md5.
	cur, err := c.GetConfig(vo.ConfigParam{DataId: "app-flow-rules", Group: nacosGroup})
	if err != nil {
		t.Fatal(err)
	}
	for _, md5 := range []string{md5hex("something else"), md5hex(cur)} {
		ok, err := c.PublishConfig(vo.ConfigParam{DataId: "app-flow-rules", Group: nacosGroup, Content: "[]", CasMd5: md5})
		if ok || err == nil {
			t.Fatalf("CAS publish (md5 %s) on polaris: %v %v, want the documented refusal", md5, ok, err)
		}
		t.Logf("polaris CAS publish (md5 of current content: %v): %q", md5 == md5hex(cur), err.Error())
	}
	if got, _ := c.GetConfig(vo.ConfigParam{DataId: "app-flow-rules", Group: nacosGroup}); got != cur {
		t.Fatalf("refused CAS changed the config to %q", got)
	}
	// A conditional create of an absent config goes through.
	ok, err := c.PublishConfig(vo.ConfigParam{DataId: "fresh", Group: nacosGroup, Content: "[]", CasMd5: md5hex("x")})
	t.Logf("polaris CAS create of an absent config: %v %v", ok, err)

	// The 20,000-character cap of Polaris's config module is not applied on
	// the Nacos gRPC publish path.
	big := strings.Repeat("x", 20001)
	if ok, err := c.PublishConfig(vo.ConfigParam{DataId: "big", Group: nacosGroup, Content: big}); !ok || err != nil {
		t.Fatalf("publish of 20,001 characters: %v %v", ok, err)
	}
	if err := eventually(10*time.Second, func() error { return expectConfig(c, "big", big) }); err != nil {
		t.Fatalf("read back 20,001 characters: %v", err)
	}

	// A new client after the restart: see TestNacosConfigCASAndRestart.
	c.CloseClient()
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	c = newConfigClient(t, s.endpoint())
	if err := eventually(30*time.Second, func() error { return expectConfig(c, "app-flow-rules", cur) }); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}
