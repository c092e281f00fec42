//go:build !race

// nacos-sdk-go v2.3.5 races with itself when it reconnects (RpcClient's
// reconnect replaces currentConnection while Request reads it, in
// common/remote/rpc/rpc_client.go): tests that keep a client across a server
// restart are built without the race detector; `make test-norace` runs them.

package nacos_test

import (
	"context"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/nacos/nacostest"
)

// Failed logins and request retries during an outage are where the SDK
// prints credentials (the login's parameters, the requests' access tokens):
// none reaches the log, and the source reads again once the server is back.
func TestSDKLogOutage(t *testing.T) {
	const pw = "s3cret-outage-pw"
	srv := nacostest.NewServer(t, harness.WithUser("rules"), harness.WithPassword(pw))
	logs := captureSDK(t)
	s := dial(t, srv.Config(), "outage-flow-rules")
	ctx := ctxT(t)
	if _, err := s.Write(ctx, []byte("[]"), ""); err != nil {
		t.Fatal(err)
	}
	readUntil(t, s, "[]")
	from, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seen, ended := make(chan string, 100), make(chan error, 1)
	go func() { ended <- s.Watch(wctx, from, func(snap datasource.Snapshot) { seen <- string(snap.Data) }) }()
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx); err == nil {
		t.Fatal("read from a killed server succeeded")
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := srv.PutConfig(ctx, harness.NacosConfig{Group: group, DataID: "outage-flow-rules"}, `[{"resource":"back"}]`); err != nil {
		t.Fatal(err)
	}
	// The watch either rode out the restart (the SDK re-listens and
	// compares md5s) or ended with an error for the datasource to reconnect.
	for waiting := true; waiting; {
		select {
		case v := <-seen:
			waiting = v != `[{"resource":"back"}]`
		case err := <-ended:
			t.Logf("watch ended across the restart: %v", err)
			readUntil(t, s, `[{"resource":"back"}]`)
			waiting = false
		case <-ctx.Done():
			t.Fatal("the change after the restart was not seen")
		}
	}
	cancel()
	out := logs.String()
	if strings.Contains(out, pw) {
		t.Fatal("the SDK's log shows the password")
	}
	t.Logf("SDK log: %d lines, %d redactions", strings.Count(out, "\n"), strings.Count(out, "REDACTED"))
}
