package dashboard

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/integration/harness"
)

// javaPeer is a Java Sentinel app (the interop program's command-app mode,
// sentinel-transport-simple-http 1.8.9) with the same flow rules as a bench.
type javaPeer struct {
	proc *harness.JavaProc
	addr string
}

func newJavaPeer(t *testing.T, rules string) *javaPeer {
	path := filepath.Join(t.TempDir(), "flow.json")
	if err := os.WriteFile(path, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	p := harness.Java(t, "command-app", "--api-port=0", "--app-name=shop", "--rules=flow="+path)
	port := int(p.Ready["apiPort"].(float64))
	return &javaPeer{proc: p, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// The same requests to Java Sentinel's command center and to ours: the
// same status codes and messages for the wire rules, the same rules, and
// statistics answers with the fields the dashboard reads.
func TestCommandsMatchJava(t *testing.T) {
	rules := `[{"resource":"res-a","count":2,"grade":1,"limitApp":"default"}]`
	java := newJavaPeer(t, rules)
	ours := newBench(t, true, WithAppType(AppNormal))
	if err := os.WriteFile(filepath.Join(ours.dir, "shop-flow-rules.json"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "our rules loaded", func() bool { return len(ours.e.Flow().Rules()) == 1 })
	jb := &bench{addr: java.addr}

	// Wire behaviour: status and body of each request, from both.
	for _, req := range []string{
		"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /getRules?type=nope HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /setRules HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]",
		"POST /setRules HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n",
		"GET /setClusterMode?mode=x HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		j, o := jb.raw(t, req), ours.raw(t, req)
		if j.status != o.status || j.body != o.body {
			t.Errorf("%q:\njava %d %q\nours %d %q", clip(req), j.status, j.body, o.status, o.body)
		}
	}

	// getRules: the same rule, field for field where both have the field
	// (ours adds the id; Java writes regex false, ours leaves it out).
	jr, or := rulesOf(t, jb.get(t, "getRules", kv{{"type", "flow"}})), rulesOf(t, ours.get(t, "getRules", kv{{"type", "flow"}}))
	if len(jr) != 1 || len(or) != 1 {
		t.Fatalf("java %v, ours %v", jr, or)
	}
	for k, v := range jr[0] {
		if ov, ok := or[0][k]; ok && ov != v {
			t.Errorf("getRules %s: java %v, ours %v", k, v, ov)
		} else if !ok && k != "regex" {
			t.Errorf("getRules: ours has no %s (java %v)", k, v)
		}
	}

	// Traffic on both, then the statistics commands.
	var e struct{ Pass, Block int }
	if err := java.proc.Call(context.Background(), "entry res-a 5", &e); err != nil || e.Pass != 2 {
		t.Fatalf("java entry: %+v %v", e, err)
	}
	if n := (&live{bench: ours}).blocked("res-a", 5); n != 3 {
		t.Fatalf("ours blocked %d of 5", n)
	}
	var jn, on []map[string]any
	_ = json.Unmarshal([]byte(jb.get(t, "clusterNode", kv{{"type", "notZero"}}).body), &jn)
	_ = json.Unmarshal([]byte(ours.get(t, "clusterNode", kv{{"type", "notZero"}}).body), &on)
	jres := findNode(jn, "res-a")
	ores := findNode(on, "res-a")
	if jres == nil || ores == nil {
		t.Fatalf("clusterNode: java %v, ours %v", jn, on)
	}
	if !slices.Equal(keys(jres), keys(ores)) {
		t.Errorf("clusterNode fields: java %v, ours %v", keys(jres), keys(ores))
	}
	for _, k := range []string{"oneMinutePass", "oneMinuteBlock", "oneMinuteTotal"} {
		if jres[k] != ores[k] {
			t.Errorf("clusterNode %s: java %v, ours %v", k, jres[k], ores[k])
		}
	}
	var jt, ot []map[string]any
	_ = json.Unmarshal([]byte(jb.get(t, "jsonTree", kv{{"type", "root"}}).body), &jt)
	_ = json.Unmarshal([]byte(ours.get(t, "jsonTree", kv{{"type", "root"}}).body), &ot)
	if len(jt) == 0 || len(ot) == 0 || jt[0]["resource"] != ot[0]["resource"] || !slices.Equal(keys(jt[len(jt)-1]), keys(ot[len(ot)-1])) {
		t.Errorf("jsonTree: java %v\nours %v", jt, ot)
	}
	// metric: Java writes its metric file once a second, after the second.
	// Its index lags (the first second of a file is never indexed, so its
	// searcher never finds it): one more call in a later second, on both,
	// and that second's line is compared, timestamp included. Java's
	// searcher remembers where a startTime's last search ended, so each try
	// asks from a different start.
	time.Sleep(1200 * time.Millisecond)
	if err := java.proc.Call(context.Background(), "entry res-a 1", &e); err != nil || e.Pass != 1 {
		t.Fatalf("java entry: %+v %v", e, err)
	}
	if n := (&live{bench: ours}).blocked("res-a", 1); n != 0 {
		t.Fatalf("ours blocked the call of a later second")
	}
	lines := func(b *bench, try int64) (string, [][]string) {
		start := strconv.FormatInt(time.Now().Add(-15*time.Second).UnixMilli()-try, 10)
		body := b.get(t, "metric", kv{{"startTime", start}, {"endTime", strconv.FormatInt(time.Now().UnixMilli(), 10)}, {"identity", "res-a"}}).body
		var out [][]string
		for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
			if line != "" {
				out = append(out, parseThinLine(t, line))
			}
		}
		return body, out
	}
	var jbody string
	var jl [][]string
	try := int64(0)
	waitForMsg(t, "Java's line of the later second", func() string { return jbody + "\n" + metricFiles(java.proc.LogDir) }, func() bool {
		try++
		jbody, jl = lines(jb, try)
		if len(jl) == 0 || jl[len(jl)-1][2] != "1" {
			time.Sleep(300 * time.Millisecond)
			return false
		}
		return true
	})
	last := jl[len(jl)-1]
	var obody string
	var ol [][]string
	waitForMsg(t, "our line of the later second", func() string { return obody }, func() bool {
		obody, ol = lines(ours, 0)
		if len(ol) == 0 || ol[len(ol)-1][0] != last[0] {
			time.Sleep(100 * time.Millisecond)
			return false
		}
		return true
	})
	if got := ol[len(ol)-1]; !slices.Equal(got[:6], last[:6]) {
		t.Errorf("the later second: java %v, ours %v", last, got)
	}
	// The earlier second(s), which Java's searcher cannot show: ours adds up.
	var sum [4]int64
	for _, f := range ol[:len(ol)-1] {
		for i := range sum {
			n, _ := strconv.ParseInt(f[2+i], 10, 64)
			sum[i] += n
		}
	}
	if sum != [4]int64{2, 3, 2, 0} {
		t.Errorf("our earlier lines sum to %v, want pass 2 block 3 success 2:\n%s", sum, obody)
	}
}

func findNode(nodes []map[string]any, res string) map[string]any {
	for _, n := range nodes {
		if n["resource"] == res {
			return n
		}
	}
	return nil
}

func waitForMsg(t *testing.T, what string, last func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last answer %q", what, last())
		}
	}
}

func metricFiles(dir string) string {
	entries, _ := os.ReadDir(dir)
	var b strings.Builder
	for _, e := range entries {
		if strings.Contains(e.Name(), "metrics") {
			data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			b.WriteString(e.Name() + ": " + strconv.Quote(string(data)) + "\n")
		}
	}
	return b.String()
}
