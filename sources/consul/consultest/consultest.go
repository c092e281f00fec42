// Package consultest connects Consul API clients to the agents that
// integration/harness starts, for the tests of this module and of the
// integration suites. The harness itself imports no Consul client (a module
// whose tests use it would inherit the client and its dependencies), so the
// clients are made here, in the module that requires them anyway.
package consultest

import (
	"net/http"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/rulesync/rulesync/integration/harness"
)

// Config returns a client configuration for s with the management token when
// ACLs are enabled (harness.WithACL), and a transport of its own. It sets
// every field api.NewClient would otherwise take from CONSUL_HTTP_*
// variables, except Token when it is "": set Token to act as another token;
// an empty Token lets the client fall back to CONSUL_HTTP_TOKEN and
// CONSUL_HTTP_TOKEN_FILE, as api.NewClient does.
func Config(s *harness.ConsulServer) *api.Config {
	return &api.Config{
		Address:   s.Addr,
		Scheme:    "http",
		Token:     s.Token,
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
	}
}

// Client returns a client for s acting with the management token (none
// without ACLs). Its idle connections are closed when t ends.
func Client(t testing.TB, s *harness.ConsulServer) *api.Client {
	t.Helper()
	return TokenClient(t, s, s.Token)
}

// TokenClient returns a client for s acting with token ("" for the anonymous
// token, unless CONSUL_HTTP_TOKEN is set). Its idle connections are closed
// when t ends.
func TokenClient(t testing.TB, s *harness.ConsulServer, token string) *api.Client {
	t.Helper()
	c := Config(s)
	c.Token = token
	tr := c.Transport
	client, err := api.NewClient(c)
	if err != nil {
		t.Fatalf("consultest: consul client: %v", err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return client
}
