package harness

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var updateJavaVectors = flag.Bool("update-java-vectors", false,
	"rewrite testdata/java-cluster/*.hex from what real Java Sentinel sends and answers")

// javaCtx bounds one Java interop test: generous, for a loaded machine.
func javaCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tokenAnswer is the token client's answer line.
type tokenAnswer struct {
	Cmd        string `json:"cmd"`
	Status     int    `json:"status"`
	StatusName string `json:"statusName"`
	Remaining  int    `json:"remaining"`
	WaitInMs   int    `json:"waitInMs"`
	ElapsedUs  int64  `json:"elapsedUs"`
}

// Status codes of the cluster protocol (PROTOCOLS.md section 2).
const (
	stOK      = 0
	stBlocked = 1
	stWait    = 2
	stNoRule  = 3
	stFail    = -1
)

func ask(ctx context.Context, t *testing.T, p *JavaProc, line string) tokenAnswer {
	t.Helper()
	var a tokenAnswer
	if err := p.Call(ctx, line, &a); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, p.Logs())
	}
	return a
}

// askPastFail is ask for a request whose repetition changes nothing the test
// checks: a FAIL (the Java client's lost-reply race, see runUntilBlocked) is
// logged and the request sent again, up to three times.
func askPastFail(ctx context.Context, t *testing.T, p *JavaProc, line string) tokenAnswer {
	t.Helper()
	for range 3 {
		a := ask(ctx, t, p, line)
		if a.Status != stFail {
			return a
		}
		t.Logf("%s: FAIL after %d us (Java client lost the reply), asking again", line, a.ElapsedUs)
	}
	return ask(ctx, t, p, line)
}

// runUntilBlocked sends line n times and checks Java's server against the
// expected sequence: the first okCount answers OK with the given remaining,
// the rest BLOCKED. The Java client answers FAIL when a reply beats the
// registration of its own promise (it writes the request before it registers
// the promise, TokenClientPromiseHolder), so FAIL is accepted anywhere: the
// server counted that request all the same.
func runUntilBlocked(ctx context.Context, t *testing.T, p *JavaProc, line string, n, okCount int, remaining func(k int) int) {
	t.Helper()
	fails := 0
	for k := range n {
		a := ask(ctx, t, p, line)
		switch {
		case a.Status == stFail:
			fails++
			t.Logf("%s #%d: FAIL after %d us (Java client lost the reply)", line, k, a.ElapsedUs)
		case k < okCount:
			if a.Status != stOK || a.Remaining != remaining(k) {
				t.Fatalf("%s #%d: %+v, want OK remaining %d", line, k, a, remaining(k))
			}
		default:
			if a.Status != stBlocked {
				t.Fatalf("%s #%d: %+v, want BLOCKED after %d passes", line, k, a, okCount)
			}
		}
	}
	// Java's race loses more replies on a loaded machine; a third of the
	// answers lost still leaves two thirds checked exactly.
	if fails > n/3 {
		t.Fatalf("%s: %d of %d answers were FAIL", line, fails, n)
	}
}

// The Java token client against the Java token server: exact pass counts
// for flow and hot-param rules, and what the server reports about the client.
// The rules use a 10 s window so that the counts do not depend on timing:
// Java's check is threshold - (passes in window / window seconds) - acquire >= 0.
func TestJavaTokenClientAgainstJavaServer(t *testing.T) {
	ctx := javaCtx(t)
	flow := writeFile(t, "flow.json", `[
	 {"resource":"r-flow","count":5,"grade":1,"clusterMode":true,
	  "clusterConfig":{"flowId":111,"thresholdType":1,"windowIntervalMs":10000,"sampleCount":10}},
	 {"resource":"r-avg","count":2,"grade":1,"clusterMode":true,
	  "clusterConfig":{"flowId":112,"thresholdType":0,"windowIntervalMs":10000,"sampleCount":10}}]`)
	param := writeFile(t, "param.json", `[
	 {"resource":"r-param","count":3,"grade":1,"paramIdx":0,"clusterMode":true,
	  "clusterConfig":{"flowId":222,"thresholdType":1,"windowIntervalMs":10000,"sampleCount":10}}]`)
	port, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	srv := Java(t, "token-server", "--port="+strconv.Itoa(port[0]), "--namespaces=app1",
		"--flow-rules=app1="+flow, "--param-rules=app1="+param)
	t.Logf("token-server READY after %v: %v", srv.StartTime, srv.Ready)
	cli := Java(t, "token-client", "--port="+strconv.Itoa(port[0]), "--namespace=app1", "--request-timeout-ms=500")
	t.Logf("token-client READY after %v: %v", cli.StartTime, cli.Ready)
	if cli.Ready["state"] != float64(2) {
		t.Fatalf("client state %v, want 2 (started)", cli.Ready["state"])
	}

	// GLOBAL 5 QPS over 10 s: 41 passes (5 - 40/10 - 1 = 0), then blocked.
	runUntilBlocked(ctx, t, cli, "flow 111 1 false", 45, 41, func(k int) int { return int(5.0 - float64(k)/10.0 - 1) })
	// AVG_LOCAL 2 x 1 connected client: 11 passes.
	runUntilBlocked(ctx, t, cli, "flow 112 1 false", 13, 11, func(k int) int { return int(2.0 - float64(k)/10.0 - 1) })
	if a := askPastFail(ctx, t, cli, "flow 999 1 false"); a.Status != stNoRule {
		t.Fatalf("unknown flowId: %+v, want NO_RULE_EXISTS", a)
	}
	// Acquiring more than the threshold at once is blocked outright.
	if a := askPastFail(ctx, t, cli, `param 222 4 [{"t":"string","v":"big"}]`); a.Status != stBlocked {
		t.Fatalf("acquire 4 > 3: %+v, want BLOCKED", a)
	}

	// Hot values count separately, and by Java type: int 5 and long 5 differ.
	remaining := func(k int) int { return int(3.0 - float64(k)/10.0 - 1) }
	runUntilBlocked(ctx, t, cli, `param 222 1 [{"t":"string","v":"a"}]`, 23, 21, remaining)
	runUntilBlocked(ctx, t, cli, `param 222 1 [{"t":"int","v":5}]`, 22, 21, remaining)
	for _, line := range []string{`param 222 1 [{"t":"string","v":"b"}]`, `param 222 1 [{"t":"long","v":5}]`} {
		if a := askPastFail(ctx, t, cli, line); a.Status != stOK {
			t.Fatalf("%s: %+v, want OK (a value of its own)", line, a)
		}
	}
	// Several values in one request: checked one by one; Java reports
	// remaining -1 for them ("unsupported for multi-values").
	if a := askPastFail(ctx, t, cli, `param 222 1 [{"t":"string","v":"c"},{"t":"int","v":6}]`); a.Status != stOK || a.Remaining != -1 {
		t.Fatalf("two fresh values: %+v, want OK remaining -1", a)
	}
	// One exhausted value blocks the whole request.
	if a := askPastFail(ctx, t, cli, `param 222 1 [{"t":"string","v":"d"},{"t":"string","v":"a"}]`); a.Status != stBlocked {
		t.Fatalf("with exhausted value a: %+v, want BLOCKED", a)
	}

	var conns struct{ Connected map[string]int }
	if err := srv.Call(ctx, "connections", &conns); err != nil {
		t.Fatal(err)
	}
	if conns.Connected["app1"] != 1 || conns.Connected["default"] != 0 {
		t.Fatalf("server connections %v, want app1:1 default:0", conns.Connected)
	}
	var st struct{ State int }
	if err := cli.Call(ctx, "state", &st); err != nil || st.State != 2 {
		t.Fatalf("client state %+v (%v), want 2", st, err)
	}
	// Rules replaced at run time: flowId 111 now allows 100.
	if err := srv.Call(ctx, `flow app1 [{"resource":"r-flow","count":100,"grade":1,"clusterMode":true,"clusterConfig":{"flowId":111,"thresholdType":1}}]`, nil); err != nil {
		t.Fatal(err)
	}
	if a := askPastFail(ctx, t, cli, "flow 111 1 false"); a.Status != stOK {
		t.Fatalf("after raising the rule: %+v, want OK", a)
	}

	// The client notices a dead server.
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := cli.Call(ctx, "state", &st); err != nil {
			t.Fatal(err)
		}
		if st.State == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client state %d 30 s after the server died, want 0 (off)", st.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if a := ask(ctx, t, cli, "flow 111 1 false"); a.Status != stFail {
		t.Fatalf("no server: %+v, want FAIL", a)
	}
}

// Load through the Java client against the Java server with the default 1 s
// window: passes per second stay near the rule's count, the rest is blocked.
func TestJavaTokenClientLoad(t *testing.T) {
	ctx := javaCtx(t)
	flow := writeFile(t, "flow.json", `[{"resource":"r","count":20,"grade":1,"clusterMode":true,"clusterConfig":{"flowId":333,"thresholdType":1}}]`)
	port, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	Java(t, "token-server", "--port="+strconv.Itoa(port[0]), "--namespaces=app1", "--flow-rules=app1="+flow)
	cli := Java(t, "token-client", "--port="+strconv.Itoa(port[0]), "--namespace=app1", "--request-timeout-ms=500")
	if err := cli.Send("load 333 1 3 2 200000"); err != nil {
		t.Fatal(err)
	}
	type sec struct {
		Second   *int
		Total    bool
		Pass     int64
		Block    int64
		Statuses map[string]int64
	}
	var total sec
	for {
		raw, err := cli.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var s sec
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		t.Logf("load: %s", raw)
		if s.Total {
			total = s
			break
		}
		if s.Pass > 2*20+5 {
			t.Fatalf("second %d: %d passes for a 20 QPS rule", *s.Second, s.Pass)
		}
	}
	if total.Pass < 20 || total.Pass > 3*20+20 {
		t.Fatalf("3 s at 20 QPS: %d passes", total.Pass)
	}
	if total.Block == 0 {
		t.Fatalf("no request blocked: %+v", total)
	}
}

// Java's read datasource for Redis: every rule family, loaded from a
// payload published the way Java tools publish (SET + PUBLISH in one MULTI).
func TestJavaReadRedisAllFamilies(t *testing.T) {
	ctx := javaCtx(t)
	r := Redis(t)
	host, port, _ := net.SplitHostPort(r.Addr)
	payloads := map[string]struct{ payload, want string }{
		"flow":         {`[{"resource":"a","count":3}]`, `"resource":"a"`},
		"degrade":      {`[{"resource":"a","count":100,"timeWindow":5}]`, `"timeWindow":5`},
		"param-flow":   {`[{"resource":"a","count":3,"paramIdx":0,"paramFlowItemList":[{"object":"7","classType":"int","count":9}]}]`, `"paramIdx":0`},
		"system":       {`[{"qps":100},{"qps":50,"maxThread":9}]`, `"qps":50.0`},
		"authority":    {`[{"resource":"a","limitApp":"x,y","strategy":1}]`, `"limitApp":"x,y"`},
		"gw-flow":      {`[{"resource":"route1","count":10,"paramItem":{"parseStrategy":3,"fieldName":"uid"}}]`, `"fieldName":"uid"`},
		"gw-api-group": {`[{"apiName":"api1","predicateItems":[{"pattern":"/a/**","matchStrategy":1},{"items":[{"pattern":"/b"}]}]}]`, `"apiName":"api1"`},
	}
	for family, tc := range payloads {
		t.Run(family, func(t *testing.T) {
			key := "sentinel:" + family
			args := []string{"--backend=redis", "--host=" + host, "--port=" + port, "--rule-key=" + key, "--channel=" + key + ":ch"}
			rd := Java(t, "read", append([]string{"--family=" + family}, args...)...)
			load := nextRules(ctx, t, rd)
			if load.Cause != "load" || string(load.Rules) != "[]" {
				t.Fatalf("initial %+v, want load of []", load)
			}
			pub := Java(t, "publish", args...)
			var res struct {
				OK          bool
				Subscribers int
			}
			if err := pub.Call(ctx, "put "+tc.payload, &res); err != nil {
				t.Fatal(err)
			}
			if !res.OK || res.Subscribers != 1 {
				t.Fatalf("publish: %+v, want ok with 1 subscriber", res)
			}
			up := nextRules(ctx, t, rd)
			t.Logf("%s: Java holds %s (extra %s)", family, up.Rules, up.Extra())
			if up.Cause != "update" || !strings.Contains(string(up.Rules), tc.want) {
				t.Fatalf("update %s %s, want rules containing %s", up.Cause, up.Rules, tc.want)
			}
			if v, err := redisGet(ctx, r, key); err != nil || v != tc.payload {
				t.Fatalf("key holds %q (%v), want the payload", v, err)
			}
		})
	}
}

// rulesLine is the read mode's rules event; Rules and Extra keep Java's bytes.
type rulesLine struct {
	Event     string          `json:"event"`
	Seq       int             `json:"seq"`
	Cause     string          `json:"cause"`
	Family    string          `json:"family"`
	Rules     json.RawMessage `json:"rules"`
	Effective json.RawMessage `json:"effective"`
	Converted json.RawMessage `json:"converted"`
}

// Extra is the family's derived state (system: effective thresholds;
// gw-flow: converted param rules), or nil.
func (l rulesLine) Extra() json.RawMessage {
	if l.Effective != nil {
		return l.Effective
	}
	return l.Converted
}

func nextRules(ctx context.Context, t *testing.T, p *JavaProc) rulesLine {
	t.Helper()
	for {
		raw, err := p.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for rules: %v\n%s", err, p.Logs())
		}
		var l rulesLine
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatalf("line %s: %v", raw, err)
		}
		if l.Event == "rules" {
			return l
		}
	}
}

// What Java's property does with repeated, broken and cleared payloads on
// Redis: the same value again reaches the converter but no listener; a
// payload that does not parse keeps the old rules; "[]" clears them.
func TestJavaReadRedisSemantics(t *testing.T) {
	ctx := javaCtx(t)
	r := Redis(t)
	host, port, _ := net.SplitHostPort(r.Addr)
	rd := Java(t, "read", "--family=flow", "--backend=redis", "--host="+host, "--port="+port,
		"--rule-key=k", "--channel=ch")
	nextRules(ctx, t, rd)
	publish := func(payload string) {
		t.Helper()
		// What a Go writer does: the message carries the rules themselves.
		if err := redisSetPublish(ctx, r, "k", "ch", payload); err != nil {
			t.Fatal(err)
		}
	}
	next := func() map[string]any {
		t.Helper()
		raw, err := rd.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.Unmarshal(raw, &m)
		return m
	}
	publish(`[{"resource":"a","count":1}]`)
	if m := next(); m["event"] != "received" {
		t.Fatalf("got %v, want received", m)
	}
	if l := nextRules(ctx, t, rd); !strings.Contains(string(l.Rules), `"count":1.0`) {
		t.Fatalf("rules %s", l.Rules)
	}
	// Same rules, other bytes: FlowRule.equals ignores nothing that changed, so no update.
	publish(`[ {"resource":"a", "count":1.0} ]`)
	if m := next(); m["event"] != "received" {
		t.Fatalf("got %v, want received", m)
	}
	if err := rd.Send("rules"); err != nil {
		t.Fatal(err)
	}
	if l := nextRules(ctx, t, rd); l.Cause != "query" {
		t.Fatalf("an equal payload made Java's property notify (%+v)", l)
	}
	publish(`not json`)
	if m := next(); m["event"] != "received" {
		t.Fatalf("got %v, want received", m)
	}
	if m := next(); m["event"] != "parse-error" {
		t.Fatalf("got %v, want parse-error", m)
	}
	rd.Send("rules")
	if l := nextRules(ctx, t, rd); l.Cause != "query" || !strings.Contains(string(l.Rules), `"resource":"a"`) {
		t.Fatalf("after a broken payload: %+v, want the old rules kept", l)
	}
	publish(`[]`)
	next()
	if l := nextRules(ctx, t, rd); l.Cause != "update" || string(l.Rules) != "[]" {
		t.Fatalf("after []: %+v, want an update to []", l)
	}
}

// Java's etcd datasource: initial load, updates through its watch, and a
// delete, which Java turns into "no rules".
func TestJavaReadEtcd(t *testing.T) {
	for _, auth := range []bool{false, true} {
		t.Run(fmt.Sprintf("auth=%v", auth), func(t *testing.T) {
			ctx := javaCtx(t)
			var opts []Option
			if auth {
				opts = append(opts, WithPassword("s3cret"))
			}
			e := Etcd(t, opts...)
			if err := etcdPutKey(ctx, e, "/sentinel/flow", `[{"resource":"start","count":1}]`); err != nil {
				t.Fatal(err)
			}
			args := []string{"--backend=etcd", "--endpoints=" + strings.Join(e.Endpoints, ","), "--key=/sentinel/flow"}
			if auth {
				args = append(args, "--user="+e.User, "--password="+e.Password)
			}
			rd := Java(t, "read", append([]string{"--family=flow"}, args...)...)
			t.Logf("read READY after %v", rd.StartTime)
			if l := nextRules(ctx, t, rd); l.Cause != "load" || !strings.Contains(string(l.Rules), `"resource":"start"`) {
				t.Fatalf("initial %+v", l)
			}
			pub := Java(t, "publish", args...)
			var res struct {
				OK       bool
				Revision int64
			}
			if err := pub.Call(ctx, `put [{"resource":"next","count":2,"controlBehavior":2}]`, &res); err != nil || !res.OK {
				t.Fatalf("publish %+v: %v", res, err)
			}
			l := nextRules(ctx, t, rd)
			if l.Cause != "update" || !strings.Contains(string(l.Rules), `"resource":"next"`) ||
				!strings.Contains(string(l.Rules), `"maxQueueingTimeMs":500`) {
				t.Fatalf("update %+v", l)
			}
			_, rev, err := etcdGetKey(ctx, e, "/sentinel/flow")
			if err != nil || rev != res.Revision {
				t.Fatalf("etcd holds revision %d (%v), want revision %d", rev, err, res.Revision)
			}
			if err := pub.Call(ctx, "delete", nil); err != nil {
				t.Fatal(err)
			}
			if l := nextRules(ctx, t, rd); l.Cause != "update" || string(l.Rules) != "[]" {
				t.Fatalf("after delete %+v, want []", l)
			}
		})
	}
}

// publish --payload-file writes once, byte for byte, and exits 0.
func TestJavaPublishOneShot(t *testing.T) {
	ctx := javaCtx(t)
	e := Etcd(t)
	payload := "[\n  {\"resource\": \"x\", \"count\": 1}\n]\n"
	file := writeFile(t, "rules.json", payload)
	java, err := javaBinary()
	if err != nil {
		unavailable(t, "java", err)
	}
	jar, err := javaJar()
	if err != nil {
		unavailable(t, "java interop program", err)
	}
	out, err := runJava(ctx, java, jar, t.TempDir(), "publish", "--backend=etcd",
		"--endpoints="+e.Endpoints[0], "--key=one-shot", "--payload-file="+file)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, `"event":"published"`) || !strings.Contains(out, `"ok":true`) {
		t.Fatalf("output %s", out)
	}
	got, _, err := etcdGetKey(ctx, e, "one-shot")
	if err != nil || got != payload {
		t.Fatalf("etcd holds %q (%v), want the file's bytes", got, err)
	}
}

func runJava(ctx context.Context, java, jar, logDir string, args ...string) (string, error) {
	argv := append(append([]string(nil), javaDefaultOpts...), "-jar", jar)
	argv = append(argv, args[0], "--log-dir="+logDir)
	argv = append(argv, args[1:]...)
	cmd := exec.CommandContext(ctx, java, argv...)
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = io.Discard
	err := cmd.Run()
	return out.String(), err
}

// frame reads one length-prefixed frame of the cluster protocol and returns
// it with its 2-byte length.
func frame(r *bufio.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(hdr[0])<<8 | int(hdr[1])
	buf := make([]byte, 2+n)
	copy(buf, hdr[:])
	if _, err := io.ReadFull(r, buf[2:]); err != nil {
		return nil, err
	}
	return buf, nil
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// spaced writes bytes as hex in the groups given (field widths), the way
// PROTOCOLS.md shows them.
func spaced(b []byte, widths ...int) string {
	var parts []string
	for _, w := range widths {
		if w > len(b) {
			w = len(b)
		}
		if w == 0 {
			break
		}
		parts = append(parts, strings.ToUpper(hex.EncodeToString(b[:w])))
		b = b[w:]
	}
	if len(b) > 0 {
		parts = append(parts, strings.ToUpper(hex.EncodeToString(b)))
	}
	return strings.Join(parts, " ")
}

// checkVector compares got with testdata/java-cluster/name.hex (rewritten
// with -update-java-vectors) and, when doc is not empty, with the bytes
// PROTOCOLS.md section 2 gives for the same message.
func checkVector(t *testing.T, name string, got []byte, doc string, widths ...int) {
	t.Helper()
	t.Logf("%s: %s", name, spaced(got, widths...))
	path := filepath.Join("testdata", "java-cluster", name+".hex")
	if *updateJavaVectors {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(spaced(got, widths...)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-java-vectors to record)", err)
	}
	if w := unhex(t, string(want)); string(w) != string(got) {
		t.Errorf("%s: Java sent %s, testdata has %s", name, spaced(got, widths...), strings.TrimSpace(string(want)))
	}
	if doc != "" {
		if d := unhex(t, doc); string(d) != string(got) {
			t.Errorf("%s: Java sent %s, PROTOCOLS.md says %s", name, spaced(got, widths...), doc)
		}
	}
}

// fakeTokenServer accepts one connection from a Java token client started
// with extra args; it returns the client and the accepted connection.
func fakeTokenServer(ctx context.Context, t *testing.T, args ...string) (*JavaProc, net.Conn, *bufio.Reader) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	conns := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			conns <- c
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	cli := Java(t, "token-client", append([]string{"--port=" + strconv.Itoa(port), "--request-timeout-ms=5000"}, args...)...)
	select {
	case conn := <-conns:
		t.Cleanup(func() { conn.Close() })
		conn.SetDeadline(time.Now().Add(time.Minute))
		return cli, conn, bufio.NewReader(conn)
	case <-ctx.Done():
		t.Fatalf("Java client did not connect\n%s", cli.Logs())
	}
	return nil, nil, nil
}

// The bytes the Java token client sends, captured by a Go listener standing
// in for the token server, and what the client makes of the replies.
func TestJavaTokenClientWireBytes(t *testing.T) {
	ctx := javaCtx(t)
	cli, conn, r := fakeTokenServer(ctx, t, "--namespace=app")
	ping, err := frame(r)
	if err != nil {
		t.Fatal(err)
	}
	checkVector(t, "client-ping", ping, "000C 00000000 00 00000003 617070", 2, 4, 1, 4)
	if _, err := conn.Write(unhex(t, "000A 00000000 00 00 00000001")); err != nil {
		t.Fatal(err)
	}

	type exchange struct {
		name, cmd, doc, reply string
		widths                []int
		want                  tokenAnswer
	}
	for _, x := range []exchange{
		{"client-flow", "flow 111 1 false", "0012 00000001 01 000000000000006F 00000001 00",
			"000E 00000001 01 00 00000009 00000000", []int{2, 4, 1, 8, 4, 1}, tokenAnswer{Status: stOK, Remaining: 9}},
		{"client-param", `param 222 1 [{"t":"string","v":"a"},{"t":"int","v":5}]`,
			"0020 00000002 02 00000000000000DE 00000001 00000002 07 00000001 61 00 00000005",
			"000E 00000002 02 01 00000000 00000000", []int{2, 4, 1, 8, 4, 4, 1, 4, 1, 1, 4}, tokenAnswer{Status: stBlocked}},
		{"client-flow-prioritized", "flow 111 3 true", "",
			"000E 00000003 01 02 00000000 00000032", []int{2, 4, 1, 8, 4, 1}, tokenAnswer{Status: stWait, WaitInMs: 50}},
		// Every type the Java client can encode; the char is dropped (not
		// counted in paramCount), as ParamFlowRequestDataWriter skips it.
		{"client-param-types", `param 333 2 [{"t":"int","v":-2},{"t":"long","v":4294967296},{"t":"byte","v":-1},` +
			`{"t":"double","v":1.5},{"t":"float","v":-0.25},{"t":"short","v":300},{"t":"bool","v":true},` +
			`{"t":"string","v":"é"},{"t":"char","v":"x"}]`, "",
			"000E 00000004 02 00 00000007 00000000",
			[]int{2, 4, 1, 8, 4, 4, 1, 4, 1, 8, 1, 1, 1, 8, 1, 4, 1, 2, 1, 1, 1, 4, 2}, tokenAnswer{Status: stOK, Remaining: 7}},
	} {
		if err := cli.Send(x.cmd); err != nil {
			t.Fatal(err)
		}
		got, err := frame(r)
		if err != nil {
			t.Fatalf("%s: %v", x.name, err)
		}
		checkVector(t, x.name, got, x.doc, x.widths...)
		if _, err := conn.Write(unhex(t, x.reply)); err != nil {
			t.Fatal(err)
		}
		var a tokenAnswer
		raw, err := cli.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(raw, &a)
		if a.Status != x.want.Status || a.Remaining != x.want.Remaining || a.WaitInMs != x.want.WaitInMs {
			t.Errorf("%s: Java read our reply %s as %s, want %+v", x.name, x.reply, raw, x.want)
		}
	}
}

// Java's cluster client encodes strings (namespace, string params) in the
// JVM's default charset (String.getBytes()), so the bytes of a non-ASCII
// value depend on the locale the JVM started in (before JDK 18).
func TestJavaTokenClientCharset(t *testing.T) {
	// The value comes over stdin, which the program reads as UTF-8 whatever
	// the locale (command-line arguments would be decoded by the locale).
	for _, tc := range []struct{ encoding, value string }{
		{"UTF-8", "07 00000002 C3A9"},
		{"US-ASCII", "07 00000001 3F"},
	} {
		t.Run(tc.encoding, func(t *testing.T) {
			ctx := javaCtx(t)
			cli, conn, r := fakeTokenServer(ctx, t, "--namespace=app", "-J-Dfile.encoding="+tc.encoding)
			if _, err := frame(r); err != nil {
				t.Fatal(err)
			}
			conn.Write(unhex(t, "000A 00000000 00 00 00000001"))
			if err := cli.Send(`param 1 1 [{"t":"string","v":"é"}]`); err != nil {
				t.Fatal(err)
			}
			got, err := frame(r)
			if err != nil {
				t.Fatal(err)
			}
			// Answer, so that the client does not wait out its timeout.
			conn.Write(append(append(unhex(t, "000E"), got[2:6]...), unhex(t, "02 00 00000000 00000000")...))
			if want := unhex(t, tc.value); !strings.HasSuffix(string(got), string(want)) {
				t.Fatalf("PARAM_FLOW %s, want the value as %s", spaced(got, 2, 4, 1, 8, 4, 4), tc.value)
			}
		})
	}
}

// What the Java token server answers to the request bytes of PROTOCOLS.md,
// sent by a raw Go connection.
func TestJavaTokenServerWireReplies(t *testing.T) {
	flow := writeFile(t, "flow.json", `[{"resource":"r","count":10,"grade":1,"clusterMode":true,"clusterConfig":{"flowId":111,"thresholdType":1}}]`)
	param := writeFile(t, "param.json", `[{"resource":"p","count":5,"grade":1,"paramIdx":0,"clusterMode":true,"clusterConfig":{"flowId":222,"thresholdType":1}}]`)
	port, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	Java(t, "token-server", "--port="+strconv.Itoa(port[0]), "--namespaces=app",
		"--flow-rules=app="+flow, "--param-rules=app="+param)
	conn, err := net.DialTimeout("tcp", loopback(port[0]), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(conn)
	for _, x := range []struct{ name, req, doc string }{
		{"server-ping", "000C 00000000 00 00000003 617070", "000A 00000000 00 00 00000001"},
		{"server-flow", "0012 00000001 01 000000000000006F 00000001 00", "000E 00000001 01 00 00000009 00000000"},
		// Two values of the hot parameter, so Java leaves remaining at -1.
		{"server-param", "0020 00000002 02 00000000000000DE 00000001 00000002 07 00000001 61 00 00000005", ""},
		{"server-flow-unknown", "0012 00000003 01 0000000000000309 00000001 00", ""},
		// The server accepts a FLOW request without its priority byte.
		{"server-flow-short", "0011 00000004 01 000000000000006F 00000001", ""},
	} {
		if _, err := conn.Write(unhex(t, x.req)); err != nil {
			t.Fatal(err)
		}
		got, err := frame(r)
		if err != nil {
			t.Fatalf("%s: %v", x.name, err)
		}
		checkVector(t, x.name, got, x.doc, 2, 4, 1, 1, 4, 4)
	}
}

// A Java app's command API and heartbeat: rules loaded, traffic counted, the
// getRules answer equals what the manager holds, and the heartbeat form as a
// dashboard receives it.
func TestJavaCommandApp(t *testing.T) {
	ctx := javaCtx(t)
	type beat struct {
		method, contentType, host string
		form                      url.Values
	}
	beats := make(chan beat, 16)
	var once sync.Once
	dash := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/registry/machine" {
			r.ParseForm()
			once.Do(func() {
				t.Logf("heartbeat: %s %s %s form=%v", r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"), r.PostForm)
			})
			select {
			case beats <- beat{r.Method, r.Header.Get("Content-Type"), r.Host, r.PostForm}:
			default:
			}
		}
		io.WriteString(w, `{"success":true,"code":0,"msg":"success","data":null}`)
	}))
	defer dash.Close()
	rules := writeFile(t, "flow.json", `[{"resource":"res-a","count":2,"grade":1}]`)
	app := Java(t, "command-app", "--api-port=0", "--app-name=interop-app", "--app-type=0",
		"--dashboard="+strings.TrimPrefix(dash.URL, "http://"), "--heartbeat-interval-ms=1000", "--rules=flow="+rules)
	apiPort := int(app.Ready["apiPort"].(float64))
	t.Logf("command-app READY after %v: %v", app.StartTime, app.Ready)

	var e struct{ Pass, Block int }
	if err := app.Call(ctx, "entry res-a 5", &e); err != nil || e.Pass != 2 || e.Block != 3 {
		t.Fatalf("entry: %+v (%v), want 2 passed, 3 blocked", e, err)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/getRules?type=flow", apiPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var got struct{ Rules json.RawMessage }
	if err := app.Call(ctx, "get flow", &got); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || string(body) != string(got.Rules) {
		t.Fatalf("getRules: %d %s; manager holds %s", resp.StatusCode, body, got.Rules)
	}

	select {
	case b := <-beats:
		if b.method != http.MethodPost || b.form.Get("app") != "interop-app" || b.form.Get("app_type") != "0" ||
			b.form.Get("port") != strconv.Itoa(apiPort) || b.form.Get("v") != "1.8.9" || b.form.Get("hostname") == "" {
			t.Fatalf("heartbeat %+v", b)
		}
		// Java's SimpleHttpClient sends "Host: localhost" whatever the dashboard's address.
		if b.host != "localhost" || b.contentType != "application/x-www-form-urlencoded; charset=UTF-8" {
			t.Fatalf("heartbeat Host %q Content-Type %q", b.host, b.contentType)
		}
		if _, err := strconv.ParseInt(b.form.Get("version"), 10, 64); err != nil {
			t.Fatalf("heartbeat version %q: %v", b.form.Get("version"), err)
		}
	case <-ctx.Done():
		t.Fatalf("no heartbeat\n%s", app.Logs())
	}
}

// Without java on PATH the Java tests skip, or fail when servers are required.
func TestJavaMissingSkipsOrFails(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("JAVA_HOME", "")
	for _, tc := range []struct {
		require      string
		skip, failed bool
	}{{"", true, false}, {"1", false, true}} {
		t.Run("require="+tc.require, func(t *testing.T) {
			t.Setenv(EnvRequireServers, tc.require)
			r := run(t, func(tb testing.TB) { Java(tb, "token-client") })
			if r.skipped != tc.skip || r.failed != tc.failed || !strings.Contains(r.msg, "java not on PATH") {
				t.Fatalf("skipped=%v failed=%v msg=%q", r.skipped, r.failed, r.msg)
			}
		})
	}
}

// SIGTERM stops a mode through the same clean-up as stdin EOF.
func TestJavaTerminate(t *testing.T) {
	ctx := javaCtx(t)
	port, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	srv := Java(t, "token-server", "--port="+strconv.Itoa(port[0]))
	if err := srv.Terminate(); err == nil {
		t.Fatal("exit status 0 after SIGTERM, want the JVM's 143")
	}
	m, err := srv.NextMatch(ctx, func(m map[string]any) bool { return m["event"] == "exit" })
	if err != nil || m["reason"] != "signal" {
		t.Fatalf("exit line %v (%v), want reason signal\n%s", m, err, srv.Logs())
	}
}

// redisGet reads key with the harness's own client: what Java wrote is
// checked without an SDK of ours in between.
func redisGet(ctx context.Context, r *RedisServer, key string) (string, error) {
	v, err := redisDo(ctx, r.Addr, r.Password, "GET", key)
	if err != nil {
		return "", err
	}
	return replyString(v)
}

// redisSetPublish stores payload at key and publishes it on channel in one
// MULTI/EXEC, as Sentinel's documentation tells Java writers to.
func redisSetPublish(ctx context.Context, r *RedisServer, key, channel, payload string) error {
	c, err := dialRedis(ctx, r.Addr, r.Password)
	if err != nil {
		return err
	}
	defer c.close()
	for _, cmd := range [][]string{{"MULTI"}, {"SET", key, payload}, {"PUBLISH", channel, payload}, {"EXEC"}} {
		if _, err := c.do(cmd...); err != nil {
			return fmt.Errorf("%s: %w", cmd[0], err)
		}
	}
	return nil
}

// etcdPutKey stores value at key through etcd's JSON gateway.
func etcdPutKey(ctx context.Context, e *EtcdServer, key, value string) error {
	token, err := e.token(ctx)
	if err != nil {
		return err
	}
	req := map[string]string{"key": base64.StdEncoding.EncodeToString([]byte(key)), "value": base64.StdEncoding.EncodeToString([]byte(value))}
	return etcdCall(ctx, e.Endpoints[0], token, "/v3/kv/put", req, nil)
}

// etcdGetKey reads key and its mod revision through etcd's JSON gateway.
func etcdGetKey(ctx context.Context, e *EtcdServer, key string) (string, int64, error) {
	token, err := e.token(ctx)
	if err != nil {
		return "", 0, err
	}
	var resp struct {
		Kvs []struct {
			Value       []byte `json:"value"`
			ModRevision int64  `json:"mod_revision,string"`
		} `json:"kvs"`
	}
	req := map[string]string{"key": base64.StdEncoding.EncodeToString([]byte(key))}
	if err := etcdCall(ctx, e.Endpoints[0], token, "/v3/kv/range", req, &resp); err != nil {
		return "", 0, err
	}
	if len(resp.Kvs) != 1 {
		return "", 0, fmt.Errorf("%s: %d values", key, len(resp.Kvs))
	}
	return string(resp.Kvs[0].Value), resp.Kvs[0].ModRevision, nil
}
