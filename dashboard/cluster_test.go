package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rulesync/rulesync/engine/cluster"
	"github.com/rulesync/rulesync/engine/cluster/tokenclient"
	"github.com/rulesync/rulesync/engine/cluster/tokenserver"
	"github.com/rulesync/rulesync/property"
)

// Without cluster roles the commands answer as a Java app without the
// cluster modules.
func TestClusterWithoutRoles(t *testing.T) {
	b := newBench(t, false)
	var mode map[string]any
	if err := json.Unmarshal([]byte(b.get(t, "getClusterMode", nil).body), &mode); err != nil ||
		mode["mode"] != -1.0 || mode["clientAvailable"] != false || mode["serverAvailable"] != false {
		t.Fatalf("getClusterMode: %v %v", mode, err)
	}
	if a := b.get(t, "setClusterMode", kv{{"mode", "0"}}); a.status != 400 || a.body != "token client mode not available: no SPI found" {
		t.Fatalf("%d %q", a.status, a.body)
	}
	if a := b.get(t, "setClusterMode", kv{{"mode", "1"}}); a.status != 400 || a.body != "token server mode not available: no SPI found" {
		t.Fatalf("%d %q", a.status, a.body)
	}
	for _, cmd := range []string{"cluster/client/fetchConfig", "cluster/server/info"} {
		if a := b.get(t, cmd, nil); a.status != 400 || !strings.HasPrefix(a.body, "Unknown command") {
			t.Fatalf("%s: %d %q", cmd, a.status, a.body)
		}
	}
}

// The dashboard's cluster pages, against a real token server and client:
// the server's namespace set, transport and flow config, then the mode; the
// client's server and timeout.
// clusterRoles is a real token server and client behind properties, as the
// cluster commands see them.
type clusterRoles struct {
	ns       *property.Property[[]string]
	tc       *property.Property[cluster.TransportConfig]
	fc       *property.Property[cluster.FlowConfig]
	ccfg     *property.Property[tokenclient.Config]
	srv      *tokenserver.Server
	cluster  *Cluster
	switched []int
}

func newClusterRoles(t *testing.T) *clusterRoles {
	r := &clusterRoles{
		ns:   property.New[[]string](),
		tc:   property.New(property.WithInitial(cluster.TransportConfig{Port: 0, IdleSeconds: 600})),
		fc:   property.New(property.WithInitial(cluster.DefaultFlowConfig())),
		ccfg: property.New(property.WithInitial(tokenclient.Config{})),
	}
	srv, err := tokenserver.New(tokenserver.WithNamespaces(r.ns), tokenserver.WithTransportConfig(r.tc), tokenserver.WithFlowConfig(r.fc), tokenserver.WithListenHost("127.0.0.1"), tokenserver.WithAppName("shop"))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cl, err := tokenclient.New(tokenclient.WithConfig(r.ccfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	r.srv = srv
	var mu sync.Mutex
	r.cluster = &Cluster{Client: TokenClient{Client: cl, Config: r.ccfg}, Server: TokenServer{Server: srv, Namespaces: r.ns, Transport: r.tc, Flow: r.fc},
		SwitchMode: func(_ context.Context, m int) error {
			mu.Lock()
			r.switched = append(r.switched, m)
			mu.Unlock()
			return nil
		}}
	return r
}

func TestClusterRoles(t *testing.T) {
	roles := newClusterRoles(t)
	ns, srv, cluster := roles.ns, roles.srv, roles.cluster
	b := newBench(t, false, WithCluster(cluster))

	if a := b.post(t, "cluster/server/modifyNamespaceSet", kv{{"data", `["shop","orders"," shop "]`}}, formCharset); !a.success() {
		t.Fatalf("namespaces: %d %q", a.status, a.body)
	}
	if got, _ := ns.Get(); strings.Join(got, ",") != "shop,orders" {
		t.Fatalf("namespace property %v", got)
	}
	if a := b.get(t, "cluster/server/modifyTransportConfig", kv{{"port", "0"}, {"idleSeconds", "300"}}); !a.success() {
		t.Fatalf("transport: %d %q", a.status, a.body)
	}
	if a := b.get(t, "cluster/server/modifyTransportConfig", kv{{"port", "70000"}, {"idleSeconds", "300"}}); a.status != 400 {
		t.Fatalf("bad port: %d %q", a.status, a.body)
	}
	if a := b.post(t, "cluster/server/modifyFlowConfig", kv{{"data", `{"exceedCount":1.5,"maxOccupyRatio":1,"intervalMs":1000,"sampleCount":10,"maxAllowedQps":500}`}}, formCharset); !a.success() {
		t.Fatalf("flow: %d %q", a.status, a.body)
	}
	// Java loads an invalid flow config unchecked; it is refused here.
	if a := b.post(t, "cluster/server/modifyFlowConfig", kv{{"data", `{"intervalMs":1000,"sampleCount":3}`}}, formCharset); a.status != 400 {
		t.Fatalf("invalid flow config: %d %q", a.status, a.body)
	}
	var info tokenserver.Info
	waitFor(t, "the server info to show the new settings", func() bool {
		if err := json.Unmarshal([]byte(b.get(t, "cluster/server/info", nil).body), &info); err != nil {
			t.Fatal(err)
		}
		return info.Flow.ExceedCount == 1.5 && info.Transport.IdleSeconds == 300 && len(info.NamespaceSet) >= 2
	})
	if a := b.get(t, "setClusterMode", kv{{"mode", "1"}}); !a.success() {
		t.Fatalf("mode 1: %d %q", a.status, a.body)
	}
	var mode map[string]any
	_ = json.Unmarshal([]byte(b.get(t, "getClusterMode", nil).body), &mode)
	if mode["mode"] != 1.0 || mode["lastModified"].(float64) <= 0 || mode["clientAvailable"] != true || mode["serverAvailable"] != true {
		t.Fatalf("getClusterMode %v", mode)
	}

	// The client: pointed at the server, it connects.
	_, port, _ := strings.Cut(srv.Addr().String(), "127.0.0.1:")
	data := `{"serverHost":"127.0.0.1","serverPort":` + port + `,"requestTimeout":50,"connectTimeout":1000}`
	if a := b.post(t, "cluster/client/modifyConfig", kv{{"data", data}}, formCharset); !a.success() {
		t.Fatalf("client config: %d %q", a.status, a.body)
	}
	if a := b.post(t, "cluster/client/modifyConfig", kv{{"data", `{"serverHost":"","serverPort":1}`}}, formCharset); a.status != 400 {
		t.Fatalf("bad client config: %d %q", a.status, a.body)
	}
	if a := b.get(t, "setClusterMode", kv{{"mode", "0"}}); !a.success() {
		t.Fatalf("mode 0: %d %q", a.status, a.body)
	}
	waitFor(t, "the client to connect", func() bool {
		var st map[string]any
		_ = json.Unmarshal([]byte(b.get(t, "cluster/client/fetchConfig", nil).body), &st)
		return st["clientState"] == 2.0
	})
	var st map[string]any
	_ = json.Unmarshal([]byte(b.get(t, "cluster/client/fetchConfig", nil).body), &st)
	if st["serverHost"] != "127.0.0.1" || st["serverPort"] != json.Number(port) && st["serverPort"] != mustFloat(port) || st["requestTimeout"] != 50.0 {
		t.Fatalf("fetchConfig %v", st)
	}
	if len(roles.switched) != 2 || roles.switched[0] != 1 || roles.switched[1] != 0 {
		t.Fatalf("SwitchMode calls %v", roles.switched)
	}
	if a := b.get(t, "setClusterMode", kv{{"mode", "x"}}); a.status != http.StatusBadRequest || a.body != "invalid parameter" {
		t.Fatalf("%d %q", a.status, a.body)
	}
}

func mustFloat(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}
