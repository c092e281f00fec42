package dashboard

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/cluster"
	"github.com/rulesync/rulesync/engine/cluster/tokenclient"
	"github.com/rulesync/rulesync/engine/cluster/tokenserver"
	"github.com/rulesync/rulesync/property"
)

// fuzzAgent is an agent that is never started: its commands are called
// directly, with every rule type applied in memory and every cluster role
// backed by properties.
func fuzzAgent(f *testing.F) *Agent {
	e := engine.New()
	f.Cleanup(func() { e.Close() })
	srv, err := tokenserver.New(tokenserver.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	cl := &Cluster{
		Client: fakeClient{},
		Server: TokenServer{Server: srv, Namespaces: property.New[[]string](),
			Transport: property.New[cluster.TransportConfig](), Flow: property.New[cluster.FlowConfig]()},
	}
	a, err := New(e, "fuzz", WithAppType(AppGateway), WithUnbound(ApplyInMemory), WithCluster(cl), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		f.Fatal(err)
	}
	return a
}

type fakeClient struct{}

func (fakeClient) State() tokenclient.State                      { return tokenclient.State{} }
func (fakeClient) SetConfig(context.Context, ClientConfig) error { return nil }

// Every payload decoder behind a command: rule lists of every type, the
// cluster configs, the namespace set, the metric parameters. No input
// panics, and every answer is a status the dashboard can read.
func FuzzCommands(f *testing.F) {
	for _, s := range []string{
		"setRules|type=flow|" + list(flowRuleJSON("a", 1)),
		"setRules|type=degrade|[{\"resource\":\"r\",\"count\":1,\"timeWindow\":1}]",
		"setRules|type=system|[{\"qps\":1}]",
		"setRules|type=authority|[{\"resource\":\"r\",\"limitApp\":\"a\"}]",
		"setParamFlowRules||[{\"resource\":\"r\",\"paramIdx\":0,\"count\":1}]",
		"gateway/updateRules||[{\"resource\":\"r\",\"count\":1,\"interval\":2,\"intervalUnit\":1}]",
		"gateway/updateApiDefinitions||[{\"apiName\":\"a\",\"predicateItems\":[{\"pattern\":\"/a\"}]}]",
		"cluster/server/modifyFlowConfig||{\"exceedCount\":1,\"sampleCount\":10,\"intervalMs\":1000}",
		"cluster/server/modifyNamespaceSet||[\"a\",\"b\"]",
		"cluster/client/modifyConfig||{\"serverHost\":\"h\",\"serverPort\":1,\"requestTimeout\":20}",
		"cluster/server/modifyTransportConfig|port=1&idleSeconds=2|",
		"metric|startTime=0&endTime=99999999999999&maxLines=3|",
		"setClusterMode|mode=1|",
	} {
		f.Add(s)
	}
	a := fuzzAgent(f)
	f.Fuzz(func(t *testing.T, s string) {
		cmd, rest, _ := strings.Cut(s, "|")
		q, data, _ := strings.Cut(rest, "|")
		h, ok := a.cmds[cmd]
		if !ok {
			return
		}
		r := &request{ctx: context.Background(), name: cmd, params: map[string]string{}, client: netip.MustParseAddr("127.0.0.1")}
		_ = ParseParams(q, r.params)
		if data != "" {
			r.params["data"] = data
		}
		res := h(r)
		if res.status < 200 || res.status > 599 {
			t.Fatalf("status %d", res.status)
		}
	})
}

// Whole requests, any bytes in method, path, headers and body, through the
// HTTP layer.
func FuzzServeHTTP(f *testing.F) {
	f.Add("POST", "/setRules?type=flow", "application/x-www-form-urlencoded", "data=%5B%5D")
	f.Add("GET", "/metric?startTime=1&endTime=2", "", "")
	f.Add("POST", "/cluster/server/modifyNamespaceSet", "", "data=%5B%22a%22%5D")
	a := fuzzAgent(f)
	f.Fuzz(func(t *testing.T, method, target, ct, body string) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n") || strings.ContainsAny(method, " \r\n/") || method == "" {
			return
		}
		req, err := http.NewRequest(method, "http://x"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		if ct != "" && !strings.ContainsAny(ct, "\r\n") {
			req.Header.Set("Content-Type", ct)
		}
		req.RemoteAddr = "127.0.0.1:1"
		w := httptest.NewRecorder()
		a.ServeHTTP(w, req)
		if w.Code < 200 || w.Code > 599 || w.Header().Get("Connection") != "close" {
			t.Fatalf("%d %v", w.Code, w.Header())
		}
	})
}
