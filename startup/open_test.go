package startup_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/gateway/httpgw"
	"github.com/rulesync/rulesync/sources/file"
	"github.com/rulesync/rulesync/startup"
)

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func blockedBy(t *testing.T, err error) engine.Family {
	t.Helper()
	var be *engine.BlockError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want a block error", err)
	}
	return be.Family
}

// familyPayloads are one payload per rule type, keyed by its data-id suffix,
// each with a rule that CheckFamilies can see enforced.
var familyPayloads = map[string]string{
	"flow-rules":         `[{"resource":"flow-res","count":1}]`,
	"degrade-rules":      `[{"resource":"deg-res","grade":2,"count":0,"timeWindow":10,"minRequestAmount":1}]`,
	"system-rules":       `[{"maxThread":1}]`,
	"authority-rules":    `[{"resource":"auth-res","limitApp":"good","strategy":0}]`,
	"param-rules":        `[{"resource":"param-res","paramIdx":0,"count":1}]`,
	"gateway-api-rules":  `[{"apiName":"orders_api","predicateItems":[{"pattern":"/orders/**","matchStrategy":1}]}]`,
	"gateway-flow-rules": `[{"resource":"orders_api","resourceMode":1,"count":1,"intervalSec":1}]`,
}

// allFamilies is a startup file binding the seven rule types from files in
// dir, named by data id. The flow datasource names a file that does not
// exist: the test's environment points it at the real one.
func allFamilies(dir string) string {
	return fmt.Sprintf(`app: shop
snapshot-dir: %[1]s/snapshots
resync: 1m
initial-timeout: 2s
datasource:
  flow:
    file:
      dir: %[1]s
      data-id: ${app}-flow-rules-old
      rule-type: flow
  degrade:
    file: {dir: %[1]s, data-id: "${app}-degrade-rules", rule-type: degrade}
  system:
    file: {dir: %[1]s, data-id: "${app}-system-rules", rule-type: system, data-type: json}
  authority:
    file: {dir: %[1]s, data-id: "${app}-authority-rules", rule-type: authority}
  param:
    file: {dir: %[1]s, data-id: "${app}-param-rules", rule-type: param-flow}
  gateway-apis:
    file: {dir: %[1]s, data-id: "${app}-gateway-api-rules", rule-type: gw-api-group}
  gateway:
    file:
      file: %[1]s/shop-gateway-flow-rules.json
      rule-type: gw-flow
      debounce: 5ms
`, dir)
}

// TestOpenFileAllFamilies opens a startup file that binds all seven rule
// types from files and checks that each family is enforced by the engine,
// that the environment overrides a key, that Status covers every datasource
// and that a live edit arrives.
func TestOpenFileAllFamilies(t *testing.T) {
	dir := t.TempDir()
	for suffix, body := range familyPayloads {
		write(t, filepath.Join(dir, "shop-"+suffix+".json"), body)
	}
	cfgPath := filepath.Join(dir, "rulesync.yaml")
	write(t, cfgPath, allFamilies(dir))

	e := engine.New()
	defer e.Close()
	env := map[string]string{"RULESYNC_DATASOURCE_FLOW_FILE_DATA_ID": "${app}-flow-rules"}
	h, err := startup.OpenFile(context.Background(), e, cfgPath, datasource.Backends{file.Backend()}, startup.WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	cfg := h.Config()
	if cfg.App != "shop" || cfg.Resync != time.Minute || cfg.InitialTimeout != 2*time.Second || len(cfg.DataSources) != 7 {
		t.Fatalf("config %s", cfg)
	}
	checkFamilies(t, e)

	st := h.Status()
	if len(st) != 7 {
		t.Fatalf("%d statuses, want 7", len(st))
	}
	for _, s := range st {
		if s.Backend != "file" || s.RuleCount != 1 || s.LastError != nil || !s.Exists {
			t.Errorf("status of %s (%s): %+v", s.Name, s.RuleType, s)
		}
	}
	if b, ok := h.Binding("flow"); !ok || b.RuleType().Name() != engine.FamilyFlow {
		t.Fatalf("Binding(flow) = %v, %v", b, ok)
	}

	// A live edit reaches the engine: raise the flow limit.
	write(t, filepath.Join(dir, "shop-flow-rules.json"), `[{"resource":"flow-res","count":100}]`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r := e.Flow().Rules(); len(r) == 1 && r[0].Count == 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edit did not arrive: %+v", e.Flow().Rules())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, s := range h.Status() {
		if s.Health != datasource.HealthClosed {
			t.Errorf("%s after Close: %v", s.Name, s.Health)
		}
	}
	snaps, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*"))
	if len(snaps) != 7 {
		t.Errorf("snapshot-dir holds %d files, want one per datasource: %v", len(snaps), snaps)
	}
}

// checkFamilies checks that the rules of familyPayloads are enforced.
func checkFamilies(t *testing.T, e *engine.Engine) {
	t.Helper()
	ctx := context.Background()

	en, err := e.Entry(ctx, "flow-res")
	if err != nil {
		t.Fatalf("first flow entry: %v", err)
	}
	en.Exit()
	if _, err := e.Entry(ctx, "flow-res"); blockedBy(t, err) != engine.FamilyFlow {
		t.Fatal("second flow entry not blocked by flow")
	}

	en, err = e.Entry(ctx, "deg-res")
	if err != nil {
		t.Fatal(err)
	}
	en.Exit(engine.WithError(errors.New("boom")))
	if _, err := e.Entry(ctx, "deg-res"); blockedBy(t, err) != engine.FamilyDegrade {
		t.Fatal("breaker did not open after an error")
	}

	if _, err := e.Entry(ctx, "auth-res", engine.Origin("bad")); blockedBy(t, err) != engine.FamilyAuthority {
		t.Fatal("origin not on the white list passed")
	}
	en, err = e.Entry(ctx, "auth-res", engine.Origin("good"))
	if err != nil {
		t.Fatalf("white-listed origin blocked: %v", err)
	}
	en.Exit()

	en, err = e.Entry(ctx, "param-res", engine.WithArgs("u1"))
	if err != nil {
		t.Fatal(err)
	}
	en.Exit()
	if _, err := e.Entry(ctx, "param-res", engine.WithArgs("u1")); blockedBy(t, err) != engine.FamilyParam {
		t.Fatal("second call with the same value not blocked")
	}

	// maxThread 1: with two inbound calls in flight the third is refused.
	en, err = e.Entry(ctx, "sys-res", engine.Inbound())
	if err != nil {
		t.Fatal(err)
	}
	en2, err := e.Entry(ctx, "sys-res", engine.Inbound())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Entry(ctx, "sys-res2", engine.Inbound()); blockedBy(t, err) != engine.FamilySystem {
		t.Fatal("third concurrent inbound call not blocked by the system rule")
	}
	en2.Exit()
	en.Exit()

	// Gateway: the API group matches /orders/**, one request per second.
	h := httpgw.New(e)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	codes := make([]int, 2)
	for i := range codes {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/orders/7", nil))
		codes[i] = rec.Code
	}
	if codes[0] != http.StatusOK || codes[1] != http.StatusTooManyRequests {
		t.Fatalf("gateway answers %v, want [200 429]", codes)
	}
}

// TestSecretsNeverPrinted: a secret from the environment is used but shows
// in no description of the Config.
func TestSecretsNeverPrinted(t *testing.T) {
	cfg, err := startup.Parse("s.yaml", []byte(`
datasource:
  flow:
    kv:
      endpoints: 127.0.0.1:1
      key: /flow
      rule-type: flow
      password-env: KV_PW
      token: in-the-file-token
`), testBackends(), startup.WithEnv(map[string]string{"KV_PW": "hunter2"}))
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.DataSources[0]
	for _, text := range []string{cfg.String(), d.String(), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", d), d.LogValue().String()} {
		if strings.Contains(text, "hunter2") || strings.Contains(text, "in-the-file-token") {
			t.Errorf("a secret is printed: %s", text)
		}
	}
	if !strings.Contains(d.String(), "password=REDACTED") || !strings.Contains(d.String(), `key="/flow"`) {
		t.Errorf("description %s", d)
	}
	if v, _ := d.Param("password"); v != "REDACTED" || !d.Secret("password") {
		t.Errorf("Param(password) = %q", v)
	}
}

// downSource is a source whose server never answers.
type downSource struct{ closed *atomic.Int32 }

func (downSource) Read(context.Context) (datasource.Snapshot, error) {
	return datasource.Snapshot{}, errors.New("connection refused")
}

func (downSource) Watch(context.Context, datasource.Snapshot, func(datasource.Snapshot)) error {
	return errors.New("connection refused")
}

func (downSource) Write(context.Context, []byte, string) (datasource.Snapshot, error) {
	return datasource.Snapshot{}, errors.New("connection refused")
}

func (s downSource) Close() error { s.closed.Add(1); return nil }

// downBackend opens sources whose server is down.
func downBackend(closed *atomic.Int32) datasource.Backend {
	return datasource.Backend{
		Name: "down", Params: []datasource.Param{{Name: "key", Required: true}},
		Open: func(context.Context, datasource.Params) (datasource.WritableSource, error) {
			return downSource{closed}, nil
		},
	}
}

const withDown = `
initial-timeout: 100ms
datasource:
  flow:
    file: {file: %s, rule-type: flow}
  degrade:
    down: {key: /degrade, rule-type: degrade}
`

// TestOpenSourceDown: a source that cannot be read does not fail Open (its
// datasource keeps trying, and says so), unless WithStrictStart.
func TestOpenSourceDown(t *testing.T) {
	dir := t.TempDir()
	flowFile := filepath.Join(dir, "flow.json")
	write(t, flowFile, familyPayloads["flow-rules"])
	var closed atomic.Int32
	backends := datasource.Backends{file.Backend(), downBackend(&closed)}
	cfg, err := startup.Parse("down.yaml", fmt.Appendf(nil, withDown, flowFile), backends)
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New()
	defer e.Close()
	quiet := startup.WithDataSourceOptions(datasource.WithBackoff(time.Hour, time.Hour))
	h, err := startup.Open(context.Background(), e, cfg, quiet)
	if err != nil {
		t.Fatalf("lenient Open: %v", err)
	}
	var down startup.Status
	for _, s := range h.Status() {
		if s.Name == "degrade" {
			down = s
		}
	}
	if down.LastError == nil || down.Backend != "down" || len(e.Flow().Rules()) != 1 {
		t.Fatalf("status of the down source %+v; flow rules %v", down, e.Flow().Rules())
	}
	h.Close()
	if closed.Load() != 1 {
		t.Fatalf("the down source was closed %d times, want 1", closed.Load())
	}

	_, err = startup.Open(context.Background(), e, cfg, quiet, startup.WithStrictStart())
	if err == nil || !strings.Contains(err.Error(), "datasource degrade") {
		t.Fatalf("strict Open: %v", err)
	}
	if closed.Load() != 2 {
		t.Fatalf("strict Open left the down source open")
	}
}

// TestOpenFailsWhenASourceCannotOpen: an Open error closes what was started.
func TestOpenFailsWhenASourceCannotOpen(t *testing.T) {
	dir := t.TempDir()
	cfg, err := startup.Parse("x.yaml", fmt.Appendf(nil, `
datasource:
  flow:
    file: {file: %s/flow.json, rule-type: flow}
  degrade:
    kv: {endpoints: 127.0.0.1:1, key: /d, rule-type: degrade}
`, dir), testBackends())
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New()
	defer e.Close()
	if _, err := startup.Open(context.Background(), e, cfg); !errors.Is(err, errNoServer) || !strings.Contains(err.Error(), "datasource degrade: open kv source") {
		t.Fatalf("Open = %v", err)
	}
}

// TestSection: a Section handles a top-level key: its settings are checked
// like a backend's, Start runs after the datasources are bound, and its
// closer runs before they close.
func TestSection(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "flow.json"), familyPayloads["flow-rules"])
	var got datasource.Params
	var closedWhileBound bool
	sec := startup.Section{
		Key: "dashboard",
		Params: []datasource.Param{
			{Name: "server", Required: true},
			{Name: "port", Kind: "int"},
			{Name: "auth.token", Secret: true},
		},
		Start: func(_ context.Context, h *startup.Handle, p datasource.Params) (io.Closer, error) {
			got = p
			if len(h.Status()) != 1 || h.Status()[0].RuleCount != 1 {
				return nil, errors.New("started before the datasources were bound")
			}
			return closerFunc(func() error {
				closedWhileBound = h.Status()[0].Health != datasource.HealthClosed
				return nil
			}), nil
		},
	}
	body := fmt.Sprintf(`
dashboard:
  server: 127.0.0.1:8080
  port: 8719
  auth:
    token-env: DASH_TOKEN
datasource:
  flow:
    file: {file: %s/flow.json, rule-type: flow}
`, dir)
	path := filepath.Join(dir, "rulesync.yaml")
	write(t, path, body)
	e := engine.New()
	defer e.Close()
	env := map[string]string{"DASH_TOKEN": "t0ken", "RULESYNC_DASHBOARD_PORT": "8720"}
	h, err := startup.OpenFile(context.Background(), e, path, datasource.Backends{file.Backend()}, startup.WithSection(sec), startup.WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	if got["server"] != "127.0.0.1:8080" || got["port"] != "8720" || got["auth.token"] != "t0ken" {
		t.Fatalf("section settings %v", got)
	}
	if s := h.Config().String(); strings.Contains(s, "t0ken") || !strings.Contains(s, "auth.token=REDACTED") {
		t.Fatalf("Config.String: %s", s)
	}
	h.Close()
	if !closedWhileBound {
		t.Fatal("the section was closed after the datasources")
	}

	write(t, path, strings.Replace(body, "port: 8719", "port: high\n  prot: 1", 1))
	_, err = startup.Load(path, datasource.Backends{file.Backend()}, startup.WithSection(sec), startup.WithEnv(map[string]string{}))
	for _, want := range []string{`:4: dashboard.port: "high": not an integer in range`, `:5: dashboard.prot: unknown parameter (did you mean "port"?)`, `dashboard.auth.token-env: environment variable DASH_TOKEN is not set`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// TestProbe tries each source once: rules found, a missing payload, an
// unreadable one, a server that is down.
func TestProbe(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "flow.json"), `[{"resource":"a","count":1},{"resource":"b","count":-1}]`)
	write(t, filepath.Join(dir, "system.json"), `{{{`)
	var closed atomic.Int32
	cfg, err := startup.Parse("p.yaml", fmt.Appendf(nil, `
initial-timeout: 200ms
datasource:
  flow: {file: {file: %[1]s/flow.json, rule-type: flow}}
  degrade: {file: {file: %[1]s/degrade.json, rule-type: degrade}}
  system: {file: {file: %[1]s/system.json, rule-type: system}}
  authority: {down: {key: /a, rule-type: authority}}
`, dir), datasource.Backends{file.Backend(), downBackend(&closed)})
	if err != nil {
		t.Fatal(err)
	}
	res := map[string]startup.ProbeResult{}
	for _, r := range startup.Probe(context.Background(), cfg) {
		res[r.DataSource.Name] = r
	}
	if r := res["flow"]; r.Err != nil || !r.Exists || r.Report.Accepted != 1 || len(r.Report.Rejected) != 1 || r.Revision == "" {
		t.Errorf("flow: %+v", r)
	}
	if r := res["degrade"]; r.Err != nil || r.Exists {
		t.Errorf("degrade (missing): %+v", r)
	}
	if r := res["system"]; r.Err == nil || !r.Exists {
		t.Errorf("system (unreadable): %+v", r)
	}
	if r := res["authority"]; r.Err == nil || !strings.Contains(r.Err.Error(), "connection refused") {
		t.Errorf("authority (down): %+v", r)
	}
	if closed.Load() != 1 {
		t.Errorf("the probed source was closed %d times", closed.Load())
	}
}
