package suites

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/gateway/httpgw"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/internal/syncbuf"
	"github.com/rulesync/rulesync/sources/etcd"
	"github.com/rulesync/rulesync/sources/etcd/etcdtest"
	"github.com/rulesync/rulesync/sources/file"
	"github.com/rulesync/rulesync/sources/redis"
	"github.com/rulesync/rulesync/sources/redis/redistest"
	"github.com/rulesync/rulesync/startup"
)

// TestStartupFileAllFamilies opens one startup file that binds all seven
// single-node rule types: flow from a real etcd (with auth, the password
// from an environment variable), hot-param rules from a real Redis (with a
// password from a file), the other five from files. Every family is
// enforced, a change in each config center reaches the engine, and the
// password shows in no log line or status.
func TestStartupFileAllFamilies(t *testing.T) {
	const etcdPassword, redisPassword = "etcd-pw-4711", "redis-pw-0815"
	es := harness.Etcd(t, harness.WithPassword(etcdPassword))
	rs := harness.Redis(t, harness.WithPassword(redisPassword))
	ctx := opCtx(t)

	ec := etcdtest.Client(t, es)
	if _, err := ec.Put(ctx, "/sentinel/shop-flow-rules", `[{"resource":"flow-res","count":1}]`); err != nil {
		t.Fatal(err)
	}
	rc := redistest.Client(t, rs)
	if err := rc.Set(ctx, "sentinel:shop-param-rules", `[{"resource":"param-res","paramIdx":0,"count":1}]`, 0).Err(); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	files := map[string]string{
		"shop-degrade-rules.json":      `[{"resource":"deg-res","grade":2,"count":0,"timeWindow":10,"minRequestAmount":1}]`,
		"shop-system-rules.json":       `[{"maxThread":1}]`,
		"shop-authority-rules.json":    `[{"resource":"auth-res","limitApp":"good","strategy":0}]`,
		"shop-gateway-api-rules.json":  `[{"apiName":"orders_api","predicateItems":[{"pattern":"/orders/**","matchStrategy":1}]}]`,
		"shop-gateway-flow-rules.json": `[{"resource":"orders_api","resourceMode":1,"count":1,"intervalSec":1}]`,
		"redis-password":               redisPassword + "\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath := filepath.Join(dir, "rulesync.yaml")
	cfgText := fmt.Sprintf(`app: shop
snapshot-dir: %[1]s/snapshots
resync: 1m
datasource:
  flow:
    etcd:
      endpoints: %[2]s
      key-prefix: /sentinel/
      data-id: ${app}-flow-rules
      rule-type: flow
      username: root
      password-env: SHOP_ETCD_PASSWORD
  param:
    redis:
      addr: %[3]s
      key-prefix: "sentinel:"
      channel-prefix: "sentinel-channel:"
      data-id: ${app}-param-rules
      rule-type: param-flow
      password-file: %[1]s/redis-password
  degrade:
    file: {dir: %[1]s, data-id: "${app}-degrade-rules", rule-type: degrade}
  system:
    file: {dir: %[1]s, data-id: "${app}-system-rules", rule-type: system}
  authority:
    file: {dir: %[1]s, data-id: "${app}-authority-rules", rule-type: authority}
  gateway-apis:
    file: {dir: %[1]s, data-id: "${app}-gateway-api-rules", rule-type: gw-api-group}
  gateway:
    file: {dir: %[1]s, data-id: "${app}-gateway-flow-rules", rule-type: gw-flow}
`, dir, strings.Join(es.Endpoints, ","), rs.Addr)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}

	var logs syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	backends := datasource.Backends{file.Backend(), etcd.Backend(etcd.WithLogger(logger)), redis.Backend(redis.WithLogger(logger))}
	e := engine.New()
	defer e.Close()
	h, err := startup.OpenFile(ctx, e, cfgPath, backends, startup.WithLogger(logger), startup.WithStrictStart(),
		startup.WithEnv(map[string]string{"SHOP_ETCD_PASSWORD": etcdPassword}))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	st := h.Status()
	if len(st) != 7 {
		t.Fatalf("%d datasources, want 7", len(st))
	}
	for _, s := range st {
		if s.RuleCount != 1 || s.LastError != nil {
			t.Errorf("%s (%s, %s): %+v", s.Name, s.Backend, s.RuleType, s)
		}
	}

	blocked := func(err error, want engine.Family) {
		t.Helper()
		var be *engine.BlockError
		if !errors.As(err, &be) || be.Family != want {
			t.Fatalf("err = %v, want a %s block", err, want)
		}
	}
	pass := func(en *engine.Entry, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("blocked: %v", err)
		}
		en.Exit()
	}
	bg := context.Background()
	pass(e.Entry(bg, "flow-res"))
	_, err = e.Entry(bg, "flow-res")
	blocked(err, engine.FamilyFlow)
	pass(e.Entry(bg, "param-res", engine.WithArgs("u1")))
	_, err = e.Entry(bg, "param-res", engine.WithArgs("u1"))
	blocked(err, engine.FamilyParam)
	en, err := e.Entry(bg, "deg-res")
	if err != nil {
		t.Fatal(err)
	}
	en.Exit(engine.WithError(errors.New("boom")))
	_, err = e.Entry(bg, "deg-res")
	blocked(err, engine.FamilyDegrade)
	_, err = e.Entry(bg, "auth-res", engine.Origin("bad"))
	blocked(err, engine.FamilyAuthority)
	pass(e.Entry(bg, "auth-res", engine.Origin("good")))
	en1, err := e.Entry(bg, "sys-res", engine.Inbound())
	if err != nil {
		t.Fatal(err)
	}
	en2, err := e.Entry(bg, "sys-res", engine.Inbound())
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Entry(bg, "sys-res", engine.Inbound())
	blocked(err, engine.FamilySystem)
	en2.Exit()
	en1.Exit()
	gw := httpgw.New(e)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	var codes []int
	for range 2 {
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/orders/1", nil))
		codes = append(codes, rec.Code)
	}
	if codes[0] != http.StatusOK || codes[1] != http.StatusTooManyRequests {
		t.Fatalf("gateway answered %v, want [200 429]", codes)
	}

	// Changes in both config centers reach the engine.
	if _, err := ec.Put(ctx, "/sentinel/shop-flow-rules", `[{"resource":"flow-res","count":50}]`); err != nil {
		t.Fatal(err)
	}
	newParam := `[{"resource":"param-res","paramIdx":0,"count":70}]`
	if err := rc.Set(ctx, "sentinel:shop-param-rules", newParam, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rc.Publish(ctx, "sentinel-channel:shop-param-rules", newParam).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(converge)
	for {
		fr, pr := e.Flow().Rules(), e.Param().Rules()
		if len(fr) == 1 && fr[0].Count == 50 && len(pr) == 1 && pr[0].Count == 70 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("changes did not arrive: flow %+v, param %+v", fr, pr)
		}
		time.Sleep(10 * time.Millisecond)
	}

	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	text := logs.String() + fmt.Sprintf("%+v %s", h.Status(), h.Config())
	for _, pw := range []string{etcdPassword, redisPassword} {
		if strings.Contains(text, pw) {
			t.Fatalf("a password shows in the logs or the status:\n%s", text)
		}
	}
	if !strings.Contains(logs.String(), "datasource=flow") || !strings.Contains(logs.String(), "datasource=param") {
		t.Errorf("the datasources did not log under their names:\n%s", logs.String())
	}
}
