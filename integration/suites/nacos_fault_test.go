//go:build !race

// nacos-sdk-go v2.3.5 races with itself when it reconnects (RpcClient's
// reconnect writes currentConnection while Request reads it, in
// common/remote/rpc/rpc_client.go), so these tests, which keep one client
// across lost connections, are built without the race detector; `make
// test-norace` runs them.

package suites

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/nacos"
	"github.com/rulesync/rulesync/sources/nacos/nacostest"
)

// The network between the service and Nacos is cut (a partition: open
// connections carry nothing, new ones are refused) while someone changes the
// rules at the server; once it heals, the datasource must enforce the change
// without help. Short cuts end before the source's connection check, long
// ones after it.
func TestNacosChangeDuringCutIsNotMissed(t *testing.T) {
	srv := nacostest.NewServer(t)
	relay := nacostest.NewRelay(t, srv.Host, srv.Port)
	cfg := srv.Config()
	cfg.ServerAddr = []string{relay.Addr}
	c := harness.NacosConfig{Group: nacosGroup, DataID: "cut-flow-rules"}
	f := &nacosFixture{srv: srv, api: srv, cfg: srv.Config(), config: c}
	f.Put(t, rulesJSON("before"))
	src, err := nacos.Dial(opCtx(t), cfg, c.Group, c.DataID, nacos.WithHealthCheck(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	r := startRig(t, src)
	r.waitResources(t, "before")
	for i, cut := range []time.Duration{500 * time.Millisecond, 5 * time.Second, time.Second, 8 * time.Second} {
		relay.Cut()
		during := fmt.Sprintf("during-cut-%d", i)
		f.Put(t, rulesJSON(during))
		time.Sleep(cut)
		if got := r.resources(); len(got) == 1 && got[0] == during {
			t.Fatalf("cut %d: the change reached the service through a cut network", i)
		}
		relay.Heal()
		began := time.Now()
		r.waitResources(t, during)
		t.Logf("cut of %v: change enforced %v after the network healed", cut, time.Since(began).Round(time.Millisecond))
	}
	if r.sawEvent(datasource.SourceError) == nil {
		t.Error("no SourceError event after cuts longer than the connection check")
	}
}

// The password stays out of errors, events, status, the datasource's log and
// the SDK's own log (sent to the same buffer), with a wrong password, and
// while the server is down under a running datasource.
func TestNacosPasswordNeverLeaks(t *testing.T) {
	const password = "Nacos-pw-3c9a51-must-not-leak"
	srv := nacostest.NewServer(t, harness.WithUser("rules"), harness.WithPassword(password))
	ctx := opCtx(t)
	lc := newLeakCheck(password)
	nacos.SetSDKLogger(lc.logger)
	t.Cleanup(func() { nacos.SetSDKLogger(nil) })
	cfg := srv.Config()
	lc.logger.Info("dialing", "config", cfg)

	bad := cfg
	bad.Password = password + "-wrong"
	wrong, err := nacos.Dial(ctx, bad, nacosGroup, "secured-flow-rules", nacos.WithLogger(lc.logger))
	if err != nil {
		t.Fatal(err)
	}
	ds := datasource.New(wrong, converter.Flow(), datasource.WithLogger(lc.logger), lc.observer())
	err = ds.Start(ctx)
	if !errors.Is(err, nacos.ErrAuth) || !strings.Contains(err.Error(), srv.Addr) {
		t.Fatalf("start with a wrong password: %v, want ErrAuth naming %s", err, srv.Addr)
	}
	lc.err(err)
	ds.Close()

	src, err := nacos.Dial(ctx, cfg, nacosGroup, "secured-flow-rules", nacos.WithLogger(lc.logger), nacos.WithHealthCheck(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	r := startRig(t, src, datasource.WithLogger(lc.logger), lc.observer())
	rule := flow.DefaultRule()
	rule.Resource = "secured"
	if err := r.ds.Write(ctx, []flow.Rule{rule}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	r.waitEvent(t, datasource.SourceError)
	lc.err(r.ds.Write(ctx, []flow.Rule{rule, rule}))
	lc.verify(t, r.ds)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	r.waitEvent(t, datasource.Reconnected)
	lc.verify(t, r.ds)
}
