package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// PolarisVersion is the Polaris server release scripts/setup-nacos.sh builds.
// Polaris (BSD-3-Clause, by Tencent) is a service and config registry of its
// own that also serves the Nacos 1.x HTTP and 2.x gRPC config API: a second
// implementation of that protocol to run the Nacos suites against.
const PolarisVersion = "v1.18.1"

// PolarisServer is a running single-node Polaris with a boltdb store, for one
// test. Its store file survives Kill, Stop and Restart.
//
// Behaviours that differ from a real Nacos (see NACOS.md): a publish with a
// CasMd5 on an existing config is always refused, whatever the md5; content is
// capped at 20,000 characters; SIGTERM does not stop it (Stop falls back to
// SIGKILL after the grace period of 5 s). Measured on the 2-core test machine:
// start to ready 0.03 to 0.06 s idle, 0.13 to 0.15 s loaded; RSS about 45 MiB; it listens on loopback only.
type PolarisServer struct {
	lifecycle
	// Host is the address the server answers on (127.0.0.1).
	Host string
	// NacosPort is the Nacos-protocol HTTP port (API under /nacos).
	NacosPort int
	// NacosGRPCPort is the Nacos-protocol gRPC port, NacosPort + 1000,
	// which is also what the Nacos SDKs derive.
	NacosGRPCPort int
	// NacosAddr is Host:NacosPort.
	NacosAddr string
	// HTTPAddr is host:port of Polaris's own HTTP API.
	HTTPAddr string
	// Dir is the working directory: config, boltdb store and logs.
	Dir string
}

var _ Server = (*PolarisServer)(nil)

// Polaris starts a Polaris server for t and stops it when t ends. It skips t
// when the binary or its release config (scripts/setup-nacos.sh) is missing,
// and fails it then with RULESYNC_REQUIRE_SERVERS=1. Options are ignored:
// Polaris's Nacos front end here runs without auth.
func Polaris(t testing.TB, opts ...Option) *PolarisServer {
	t.Helper()
	_ = newConfig(opts)
	return start(t, "polaris", func(string) (*PolarisServer, error) { return newPolaris(t) })
}

func newPolaris(t testing.TB) (*PolarisServer, error) {
	bin, err := cachedBinary("polaris-server", nacosSetup)
	if err != nil {
		return nil, err
	}
	confDir, err := cacheDir("polaris", PolarisVersion, "conf")
	if err != nil {
		return nil, err
	}
	// setup-nacos.sh converts the release's YAML to JSON, which the harness
	// can edit with the standard library and Polaris's YAML parser reads as
	// is (JSON is YAML's flow style).
	release, err := os.ReadFile(filepath.Join(confDir, "polaris-server.json"))
	if err != nil {
		return nil, fmt.Errorf("%w: polaris release config missing (run %s): %v", errUnavailable, nacosSetup, err)
	}
	nacosPort, err := nacosPortBlock()
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	dir := t.TempDir()
	s := &PolarisServer{
		Host:          "127.0.0.1",
		NacosPort:     nacosPort,
		NacosGRPCPort: nacosPort + nacosGRPCOffset,
		NacosAddr:     loopback(nacosPort),
		HTTPAddr:      loopback(ports[0]),
		Dir:           dir,
	}
	s.name = "polaris " + s.NacosAddr
	s.ready = s.probe

	conf, err := polarisConfig(release, dir, map[string]int{
		"api-http":      ports[0],
		"service-grpc":  ports[1],
		"config-grpc":   ports[2],
		"service-nacos": nacosPort,
	})
	if err != nil {
		return nil, err
	}
	// Polaris reads its message files from the config file's directory.
	own := filepath.Join(dir, "conf")
	if err := os.MkdirAll(own, 0o700); err != nil {
		return nil, err
	}
	if err := os.Symlink(filepath.Join(confDir, "i18n"), filepath.Join(own, "i18n")); err != nil {
		return nil, fmt.Errorf("harness: polaris i18n: %w", err)
	}
	confPath := filepath.Join(own, "polaris-server.yaml")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		return nil, fmt.Errorf("harness: write polaris config: %w", err)
	}
	s.b = newProcess(bin, dir, "start", "--config", confPath)
	return s, nil
}

// polarisConfig rewrites Polaris's release config (as JSON) for one test: only the
// named API servers, each on loopback and its port; the node registers itself
// as 127.0.0.1; the boltdb store in dir. Log paths in the release file are
// relative, and the server's working directory is dir, so logs land there too.
func polarisConfig(release []byte, dir string, apis map[string]int) ([]byte, error) {
	var c map[string]any
	dec := json.NewDecoder(bytes.NewReader(release))
	dec.UseNumber() // numbers go back out exactly as they came
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("harness: parse polaris config: %w", err)
	}
	boot, ok := c["bootstrap"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("harness: polaris config has no bootstrap section")
	}
	svc, ok := boot["polaris_service"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("harness: polaris config has no bootstrap.polaris_service")
	}
	svc["self_address"] = "127.0.0.1"

	list, ok := c["apiservers"].([]any)
	if !ok {
		return nil, fmt.Errorf("harness: polaris config has no apiservers list")
	}
	var kept []any
	for _, a := range list {
		m, ok := a.(map[string]any)
		if !ok {
			continue
		}
		name, _ := m["name"].(string)
		port, want := apis[name]
		if !want {
			continue
		}
		opt, ok := m["option"].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("harness: polaris apiserver %s has no option", name)
		}
		opt["listenIP"] = "127.0.0.1"
		opt["listenPort"] = port
		delete(apis, name)
		kept = append(kept, m)
	}
	if len(apis) > 0 {
		return nil, fmt.Errorf("harness: polaris config lacks apiservers %v", apis)
	}
	c["apiservers"] = kept

	store, ok := c["store"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("harness: polaris config has no store section")
	}
	store["name"] = "boltdbStore"
	store["option"] = map[string]any{"path": filepath.Join(dir, "polaris.bolt")}
	return json.MarshalIndent(c, "", "  ")
}

// probe is ready when the Nacos front end's health route says UP and its
// gRPC port accepts connections (sources/nacos/nacostest walks one SDK
// connection through set-up as well).
func (s *PolarisServer) probe(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.NacosAddr+"/nacos/v1/ns/operator/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "UP") {
		return fmt.Errorf("nacos health: %s: %s", resp.Status, body)
	}
	return dialAll(ctx, loopback(s.NacosGRPCPort))
}

func (s *PolarisServer) api() nacosAPI { return nacosAPI{base: "http://" + s.NacosAddr + "/nacos"} }

// PutConfig publishes content as c over the Nacos HTTP open API.
func (s *PolarisServer) PutConfig(ctx context.Context, c NacosConfig, content string) error {
	return s.api().put(ctx, c, content)
}

// GetConfig reads c over the Nacos HTTP open API; a missing config returns an
// error wrapping ErrNacosConfigMissing.
func (s *PolarisServer) GetConfig(ctx context.Context, c NacosConfig) (string, error) {
	return s.api().get(ctx, c)
}

// DeleteConfig removes c over the Nacos HTTP open API.
func (s *PolarisServer) DeleteConfig(ctx context.Context, c NacosConfig) error {
	return s.api().remove(ctx, c)
}

// String names the server.
func (s *PolarisServer) String() string { return "polaris " + s.NacosAddr }
