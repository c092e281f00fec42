package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/ruleapply"
	"github.com/rulesync/rulesync/sources/file"
)

// bench is an engine bound to rule files in a temporary directory, with an
// agent serving it on a loopback port.
type bench struct {
	e     *engine.Engine
	app   *ruleapply.App
	agent *Agent
	dir   string
	addr  string
	logs  *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func dirFactory(dir string) ruleapply.SourceFactory {
	return func(_ context.Context, id string) (datasource.Source, error) {
		return file.New(filepath.Join(dir, id+".json"))
	}
}

func newBench(t *testing.T, bind bool, opts ...Option) *bench {
	t.Helper()
	return newBenchWith(t, engine.New(), bind, opts...)
}

func newBenchWith(t *testing.T, e *engine.Engine, bind bool, opts ...Option) *bench {
	t.Helper()
	b := &bench{e: e, dir: t.TempDir(), logs: &lockedBuffer{}}
	t.Cleanup(func() { b.e.Close() })
	log := slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if bind {
		app, err := ruleapply.BindApp(context.Background(), b.e, "shop", dirFactory(b.dir), ruleapply.WithGateway(),
			ruleapply.WithAppLogger(log), ruleapply.WithDataSourceOptions(datasource.WithLogger(log)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { app.Close() })
		b.app = app
		opts = append([]Option{WithRules(app)}, opts...)
	}
	opts = append([]Option{WithListenAddr("127.0.0.1:0"), WithLogger(log), WithAppType(AppGateway)}, opts...)
	a, err := New(b.e, "shop", opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	b.agent, b.addr = a, a.Addr().String()
	return b
}

// answer is a command's answer as the dashboard reads it.
type answer struct {
	status int
	header http.Header
	body   string
	close  bool // the server closes the connection after it
}

// ok2xx is the dashboard's isSuccess: any 2xx.
func (a answer) ok2xx() bool { return a.status >= 200 && a.status < 300 }

// success is how the dashboard reads a flow or param-flow change: 2xx and
// the body "success".
func (a answer) success() bool {
	return a.ok2xx() && strings.EqualFold(strings.TrimSpace(a.body), "success")
}

// raw sends req as bytes over one connection and reads the answer.
func (b *bench) raw(t *testing.T, req string) answer {
	t.Helper()
	c, err := net.DialTimeout("tcp", b.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", clip(req), err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return answer{status: resp.StatusCode, header: resp.Header, body: string(body), close: resp.Close}
}

// apacheEncode is how the dashboard's HTTP client (Apache
// URLEncodedUtils.format, UTF-8) encodes a form: letters, digits and
// "_-!.~'()*" stay, a space is '+', anything else %XX.
func apacheEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("_-!.~'()*", c) >= 0:
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// kv is an ordered list of parameters.
type kv [][2]string

// get sends a command as the dashboard's GET does (SentinelApiClient:
// parameters URL-encoded with java.net.URLEncoder in the query).
func (b *bench) get(t *testing.T, cmd string, params kv) answer {
	t.Helper()
	target := "/" + cmd
	var q []string
	for _, p := range params {
		q = append(q, FormEscape(p[0])+"="+FormEscape(p[1]))
	}
	if len(q) > 0 {
		target += "?" + strings.Join(q, "&")
	}
	return b.raw(t, "GET "+target+" HTTP/1.1\r\nHost: "+b.addr+"\r\nConnection: Keep-Alive\r\nUser-Agent: Apache-HttpAsyncClient/4.1.3 (Java/17)\r\n\r\n")
}

// Content types the dashboard sends: with a charset to 1.7.1 and later,
// without one to 1.6.x.
const (
	formCharset = "application/x-www-form-urlencoded; charset=UTF-8"
	formPlain   = "application/x-www-form-urlencoded"
)

// post sends a command as the dashboard's POST does (UrlEncodedFormEntity).
func (b *bench) post(t *testing.T, cmd string, params kv, contentType string) answer {
	t.Helper()
	var f []string
	for _, p := range params {
		f = append(f, apacheEncode(p[0])+"="+apacheEncode(p[1]))
	}
	body := strings.Join(f, "&")
	return b.raw(t, "POST /"+cmd+" HTTP/1.1\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\nContent-Type: "+contentType+
		"\r\nHost: "+b.addr+"\r\nConnection: Keep-Alive\r\nUser-Agent: Apache-HttpAsyncClient/4.1.3 (Java/17)\r\n\r\n"+body)
}

// stored returns the file of a rule type's data id.
func (b *bench) stored(t *testing.T, rt ruleapply.RuleType) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(b.dir, rt.DataID("shop")+".json"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(data)
}

// rulesOf decodes a getRules answer as the dashboard does (a JSON array).
func rulesOf(t *testing.T, a answer) []map[string]any {
	t.Helper()
	if !a.ok2xx() {
		t.Fatalf("answer %d %q", a.status, a.body)
	}
	var out []map[string]any
	if err := json.Unmarshal([]byte(a.body), &out); err != nil {
		t.Fatalf("answer is not a JSON array: %v: %s", err, a.body)
	}
	return out
}

func resources(rules []map[string]any, key string) []string {
	var out []string
	for _, r := range rules {
		out = append(out, fmt.Sprint(r[key]))
	}
	sort.Strings(out)
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
