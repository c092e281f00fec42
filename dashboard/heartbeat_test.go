package dashboard

import (
	"bufio"
	"io"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulesync/rulesync/integration/harness"
)

// beatCatcher is a dashboard's /registry/machine on a raw socket: it keeps
// every request's bytes and answers as the dashboard does.
type beatCatcher struct {
	ln     net.Listener
	answer string
	mu     sync.Mutex
	reqs   []string
	ch     chan string
}

func newCatcher(t *testing.T, answer string) *beatCatcher {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &beatCatcher{ln: ln, answer: answer, ch: make(chan string, 64)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go c.serve(conn)
		}
	}()
	return c
}

func (c *beatCatcher) serve(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	var head strings.Builder
	n := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
		if v, ok := strings.CutPrefix(strings.ToLower(line), "content-length:"); ok {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return
	}
	req := head.String() + string(body)
	body2 := `{"success":true,"code":0,"msg":"success","data":null}`
	if c.answer != "" {
		body2 = c.answer
	}
	io.WriteString(conn, "HTTP/1.1 200 \r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: "+strconv.Itoa(len(body2))+"\r\n\r\n"+body2)
	select {
	case c.ch <- req:
	default:
	}
}

func (c *beatCatcher) next(t *testing.T) string {
	t.Helper()
	select {
	case r := <-c.ch:
		return r
	case <-time.After(60 * time.Second):
		t.Fatal("no heartbeat")
	}
	return ""
}

// shape replaces a heartbeat's variable parts (addresses, ports, times,
// names) so that two senders' requests compare.
func shape(req string) (head string, keys []string, form url.Values) {
	h, body, _ := strings.Cut(req, "\r\n\r\n")
	h = regexp.MustCompile(`(?m)^Host: [^\r\n]*`).ReplaceAllString(h, "Host: H")
	h = regexp.MustCompile(`(?m)^Content-Length: \d+`).ReplaceAllString(h, "Content-Length: N")
	for _, p := range strings.Split(body, "&") {
		k, _, _ := strings.Cut(p, "=")
		keys = append(keys, k)
	}
	form, _ = url.ParseQuery(body)
	return h, keys, form
}

// The heartbeat is Java's: a form POST to /registry/machine with the same
// request line, headers and fields, the bound port, a version the dashboard
// accepts; the first after the delay, then every interval.
func TestHeartbeat(t *testing.T) {
	c := newCatcher(t, "")
	b := newBench(t, false, WithDashboards("http://"+c.ln.Addr().String()), WithHeartbeat(200*time.Millisecond, 0), WithHostname("box-1"))
	req := c.next(t)
	head, keys, form := shape(req)
	wantHead := "POST /registry/machine HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded; charset=UTF-8\r\nHost: H\r\nContent-Length: N"
	if head != wantHead {
		t.Fatalf("request head:\n%q\nwant\n%q", head, wantHead)
	}
	_, port, _ := net.SplitHostPort(b.addr)
	if form.Get("app") != "shop" || form.Get("app_type") != "1" || form.Get("hostname") != "box-1" || form.Get("ip") != "127.0.0.1" ||
		form.Get("port") != port || form.Get("v") != DefaultSentinelVersion || len(keys) != 7 {
		t.Fatalf("form %v (keys %v)", form, keys)
	}
	if v, err := strconv.ParseInt(form.Get("version"), 10, 64); err != nil || v < time.Now().Add(-time.Minute).UnixMilli() {
		t.Fatalf("version %q", form.Get("version"))
	}
	c.next(t) // and again after the interval
}

// A dashboard that is down or refuses the beat never blocks the
// application; failures are logged, not flooded.
func TestHeartbeatFailures(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	refuse := newCatcher(t, `{"success":false,"code":-1,"msg":"ip is invalid","data":null}`)
	b := newBench(t, false, WithDashboards(dead+","+refuse.ln.Addr().String()), WithHeartbeat(50*time.Millisecond, 0))
	refuse.next(t)
	waitFor(t, "both failures logged", func() bool {
		l := b.logs.String()
		return strings.Contains(l, "refused the heartbeat: ip is invalid") && strings.Contains(l, "connection refused")
	})
	if _, err := New(b.e, "x", WithDashboards("nohost")); err == nil {
		t.Fatal("a dashboard address without a port was accepted")
	}
}

func TestBackoff(t *testing.T) {
	for n, lo := range map[int]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 3: 15 * time.Second, 10: 15 * time.Second} {
		for range 20 {
			if d := backoff(10*time.Second, n); d < lo || d > maxBackoff {
				t.Fatalf("backoff(10s, %d) = %v", n, d)
			}
		}
	}
}

// Java Sentinel's own heartbeat (sentinel-transport-simple-http 1.8.9, the
// interop program's command-app mode) and ours, caught by the same socket:
// same request line, same headers in the same order, same fields in the
// same order.
func TestHeartbeatMatchesJava(t *testing.T) {
	c := newCatcher(t, "")
	harness.Java(t, "command-app", "--api-port=0", "--app-name=shop", "--app-type=1",
		"--dashboard="+c.ln.Addr().String(), "--heartbeat-interval-ms=1000")
	javaReq := c.next(t)
	b := newBench(t, false, WithDashboards(c.ln.Addr().String()), WithHeartbeat(time.Hour, 0))
	_, port, _ := net.SplitHostPort(b.addr)
	var ours string
	for ours == "" {
		// The Java app beats every second too: ours is the one with our port.
		if r := c.next(t); strings.Contains(r, "port="+port+"&") {
			ours = r
		}
	}
	jh, jk, jf := shape(javaReq)
	oh, ok, of := shape(ours)
	t.Logf("java:\n%s\nours:\n%s", javaReq, ours)
	if jh != oh {
		t.Fatalf("head differs:\njava %q\nours %q", jh, oh)
	}
	if strings.Join(jk, ",") != strings.Join(ok, ",") {
		t.Fatalf("fields differ: java %v, ours %v", jk, ok)
	}
	for _, k := range []string{"app", "app_type", "v"} {
		if jf.Get(k) != of.Get(k) {
			t.Errorf("%s: java %q, ours %q", k, jf.Get(k), of.Get(k))
		}
	}
}
