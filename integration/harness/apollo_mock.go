package harness

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ApolloMockServerVersion is the version of the npm package apollo-mock-server
// that scripts/setup-apollo.sh installs.
const ApolloMockServerVersion = "1.2.0"

// EnvApolloMockDir names the directory holding node_modules/apollo-mock-server
// (default $HOME/.cache/rulesync/apollo-mock-server).
const EnvApolloMockDir = "RULESYNC_APOLLO_MOCK_DIR"

//go:embed apollo_mock.js
var apolloMockJS []byte

// ApolloMockServer is apollo-mock-server, an npm package of another project
// that serves the read side of Apollo's config service (/configs,
// /configfiles/json, /notifications/v2; no access keys, no OpenAPI), run
// with node as a child process. Its changes are made through an admin API of
// ours (Set, Delete, Release), and kept in a state file so that Restart
// brings them back. Known differences from Apollo: an item set but not yet
// published is served at once, and a poll that times out drops the other
// polls of its cluster from the notification list (they then wait for their
// own timeout), which is why the harness holds polls for 5 s, not 60 s.
type ApolloMockServer struct {
	lifecycle
	// URL is the config service's address.
	URL   string
	admin string
}

var _ Server = (*ApolloMockServer)(nil)

// ApolloMock starts apollo-mock-server for t and stops it when t ends. It
// skips t when node or the package is missing (fails it with
// RULESYNC_REQUIRE_SERVERS=1); scripts/setup-apollo.sh installs the package.
func ApolloMock(t testing.TB) *ApolloMockServer {
	t.Helper()
	return start(t, "apollo-mock-server", func(string) (*ApolloMockServer, error) { return newApolloMock(t) })
}

func newApolloMock(t testing.TB) (*ApolloMockServer, error) {
	node, err := lookBinary("node")
	if err != nil {
		return nil, err
	}
	dir := os.Getenv(EnvApolloMockDir)
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "rulesync", "apollo-mock-server")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "apollo-mock-server", "package.json")); err != nil {
		return nil, fmt.Errorf("%w: apollo-mock-server not installed in %s (run scripts/setup-apollo.sh): %v", errUnavailable, dir, err)
	}
	tmp := t.TempDir()
	script := filepath.Join(tmp, "apollo_mock.js")
	if err := os.WriteFile(script, apolloMockJS, 0o644); err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	s := &ApolloMockServer{URL: "http://" + loopback(ports[0]), admin: "http://" + loopback(ports[1])}
	s.name = "apollo-mock-server " + s.URL
	s.b = newProcess(node, tmp, script, dir, fmt.Sprint(ports[0]), fmt.Sprint(ports[1]), filepath.Join(tmp, "state.json"), "5000")
	s.ready = func(ctx context.Context) error {
		if err := s.get(ctx, s.admin+"/ping"); err != nil {
			return err
		}
		return s.get(ctx, s.URL+"/configfiles/json/harness/default/probe")
	}
	return s, nil
}

// get succeeds when url answers at all (any status).
func (s *ApolloMockServer) get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func (s *ApolloMockServer) call(op string, m map[string]string) error {
	body, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.admin+"/"+op, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("harness: apollo-mock-server %s: %w", op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("harness: apollo-mock-server %s: %s: %s", op, resp.Status, msg)
	}
	return nil
}

// Set sets an item (served at once; Release notifies).
func (s *ApolloMockServer) Set(app, cluster, ns, key, value string) error {
	return s.call("set", map[string]string{"app": app, "cluster": cluster, "namespace": ns, "key": key, "value": value})
}

// Delete removes an item.
func (s *ApolloMockServer) Delete(app, cluster, ns, key string) error {
	return s.call("delete", map[string]string{"app": app, "cluster": cluster, "namespace": ns, "key": key})
}

// Release publishes the namespace: a new release key and a notification.
func (s *ApolloMockServer) Release(app, cluster, ns string) error {
	return s.call("publish", map[string]string{"app": app, "cluster": cluster, "namespace": ns})
}
