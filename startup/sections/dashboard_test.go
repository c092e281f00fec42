package sections_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/dashboard"
	"github.com/rulesync/rulesync/startup/sections"
)

// heartbeatRecorder stands in for the heartbeat endpoint of a dashboard,
// /registry/machine: it keeps each heartbeat's form.
type heartbeatRecorder struct {
	srv   *httptest.Server
	beats chan url.Values
}

func newHeartbeatRecorder(t *testing.T) *heartbeatRecorder {
	r := &heartbeatRecorder{beats: make(chan url.Values, 64)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/registry/machine" || req.ParseForm() != nil {
			http.NotFound(w, req)
			return
		}
		select {
		case r.beats <- req.PostForm:
		default:
		}
		io.WriteString(w, `{"success":true,"code":0,"msg":"success","data":null}`)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *heartbeatRecorder) next(t *testing.T) url.Values {
	t.Helper()
	select {
	case f := <-r.beats:
		return f
	case <-time.After(20 * time.Second):
		t.Fatal("no heartbeat")
	}
	return nil
}

// call runs a command of the agent's command API as the dashboard does: a
// GET with a query, or a POST form.
func call(t *testing.T, addr, cmd string, params url.Values, post bool) (int, string) {
	t.Helper()
	var resp *http.Response
	var err error
	if post {
		resp, err = http.Post("http://"+addr+"/"+cmd, "application/x-www-form-urlencoded; charset=UTF-8", strings.NewReader(params.Encode()))
	} else {
		resp, err = http.Get("http://" + addr + "/" + cmd + "?" + params.Encode())
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// The dashboard section makes the application show in the dashboard under
// the file's app with its command port, and a rule change made through the
// command API is written to the file's datasource (the file on disk) and
// enforced; Handle.Close stops the command API.
func TestDashboardSection(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "flow-rules.json")
	write(t, rules, `[{"resource":"a","count":100}]`)
	rec := newHeartbeatRecorder(t)
	body := fmt.Sprintf(`app: shop
datasource:
  flow:
    file: {file: %s, rule-type: flow}
dashboard:
  server: [%s]
  listen: 127.0.0.1:0
  heartbeat-interval: 100ms
  app-type: normal
`, rules, rec.srv.Listener.Addr())
	// No first-beat delay (5 s by default): what a file cannot say, the
	// program passes.
	h := open(t, dir, "rulesync.yaml", body, sections.Dashboard(dashboard.WithHeartbeat(0, 0)))

	beat := rec.next(t)
	if beat.Get("app") != "shop" || beat.Get("app_type") != "0" || beat.Get("ip") != "127.0.0.1" || beat.Get("port") == "" || beat.Get("port") == "0" {
		t.Fatalf("heartbeat %v", beat)
	}
	addr := net.JoinHostPort(beat.Get("ip"), beat.Get("port"))

	code, got := call(t, addr, "getRules", url.Values{"type": {"flow"}}, false)
	var read []map[string]any
	if err := json.Unmarshal([]byte(got), &read); code != 200 || err != nil || len(read) != 1 || read[0]["resource"] != "a" {
		t.Fatalf("getRules: %d %s (%v)", code, got, err)
	}
	// The dashboard sends the machine's whole list, edited, without ids.
	data := `[{"resource":"a","count":100,"grade":1,"limitApp":"default","strategy":0,"controlBehavior":0},` +
		`{"resource":"b","count":1,"grade":1,"limitApp":"default","strategy":0,"controlBehavior":0}]`
	code, got = call(t, addr, "setRules", url.Values{"type": {"flow"}, "data": {data}}, true)
	if code != 200 || got != "success" {
		t.Fatalf("setRules: %d %q", code, got)
	}
	stored, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(stored), `"b"`) {
		t.Fatalf("the change did not reach the file datasource: %s", stored)
	}
	if n := len(h.Engine().Flow().Rules()); n != 2 {
		t.Fatalf("engine holds %d flow rules", n)
	}
	// count 1 per second: 1 of a burst passes (2 if it spans a second).
	if p := passes(t, h.Engine(), "b", 5); p < 1 || p > 2 {
		t.Fatalf("the rule written through the dashboard is not enforced: %d of 5 passed", p)
	}
	if st := h.Status(); st[0].RuleCount != 2 {
		t.Fatalf("status %+v", st)
	}

	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the command API still listens after Handle.Close")
	}
}
