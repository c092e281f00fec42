package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// dashboardReadyTimeout bounds the dashboard's start (Spring Boot takes about
// 12 s here, far more on a loaded machine).
const dashboardReadyTimeout = 3 * time.Minute

// SentinelDashboard is a running Sentinel dashboard (the third-party
// republication of upstream 1.8.3 that integration/dashboard/pom.xml names;
// scripts/setup-dashboard.sh resolves it), logged in as its default user.
type SentinelDashboard struct {
	// Addr is the dashboard's host:port, what applications send heartbeats to.
	Addr string
	// URL is "http://" + Addr.
	URL string

	proc   *process
	client *http.Client
}

// Dashboard starts a Sentinel dashboard on a free loopback port and stops it
// when t ends. It skips t when Java or the dashboard's class path is missing
// (fails with RULESYNC_REQUIRE_SERVERS=1).
func Dashboard(t testing.TB) *SentinelDashboard {
	t.Helper()
	java, err := javaBinary()
	if err == nil {
		var cp string
		cp, err = dashboardClassPath()
		if err == nil {
			var d *SentinelDashboard
			d, err = startDashboard(t, java, cp)
			if err == nil {
				return d
			}
			t.Fatal(err)
		}
	}
	unavailable(t, "Sentinel dashboard", err)
	return nil
}

func startDashboard(t testing.TB, java, cp string) (*SentinelDashboard, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	home := t.TempDir()
	addr := loopback(ports[0])
	args := []string{"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx384m", "-Dfile.encoding=UTF-8",
		// Spring 5.0's CGLIB defines classes through reflection on java.lang.
		"--add-opens", "java.base/java.lang=ALL-UNNAMED",
		"-Dserver.port=" + strconv.Itoa(ports[0]),
		"-Dserver.address=127.0.0.1",
		// The dashboard monitors itself through a Sentinel command center of
		// its own; keep it off the default port 8719.
		"-Dcsp.sentinel.api.port=" + strconv.Itoa(ports[1]),
		"-Dcsp.sentinel.dashboard.server=" + addr,
		"-Dproject.name=sentinel-dashboard",
		"-Duser.home=" + home,
		"-cp", cp, "com.alibaba.csp.sentinel.dashboard.DashboardApplication"}
	p := newProcess(java, home, args...)
	if err := p.start(context.Background()); err != nil {
		return nil, fmt.Errorf("harness: start dashboard: %w", err)
	}
	t.Cleanup(func() { _ = p.stop(true) })
	jar, _ := cookiejar.New(nil)
	d := &SentinelDashboard{Addr: addr, URL: "http://" + addr, proc: p,
		client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), dashboardReadyTimeout)
	defer cancel()
	probe := func(ctx context.Context) error {
		_, err := d.Call(ctx, http.MethodGet, "/version", nil, nil)
		return err
	}
	if err := waitReady(ctx, probe, p.running); err != nil {
		return nil, fmt.Errorf("harness: dashboard not ready: %w\n%s", err, tail(p.logs(), 3000))
	}
	if _, err := d.Call(ctx, http.MethodPost, "/auth/login", url.Values{"username": {"sentinel"}, "password": {"sentinel"}}, nil); err != nil {
		return nil, fmt.Errorf("harness: dashboard login: %w", err)
	}
	return d, nil
}

var dashboardCP struct {
	sync.Once
	path string
	err  error
}

// dashboardClassPath returns the dashboard's class path, resolved by
// scripts/setup-dashboard.sh (seconds from a primed ~/.m2).
func dashboardClassPath() (string, error) {
	dashboardCP.Do(func() {
		script, err := repoFile("scripts/setup-dashboard.sh")
		if err != nil {
			dashboardCP.err = fmt.Errorf("%w: %v", errUnavailable, err)
			return
		}
		var stderr bytes.Buffer
		cmd := exec.Command("bash", script, "--print-classpath", "--no-install")
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			dashboardCP.err = fmt.Errorf("%w: dashboard class path: %v\n%s", errUnavailable, err, tail(stderr.String(), 2000))
			return
		}
		data, err := os.ReadFile(strings.TrimSpace(string(out)))
		if err != nil {
			dashboardCP.err = fmt.Errorf("%w: %v", errUnavailable, err)
			return
		}
		dashboardCP.path = strings.TrimSpace(string(data))
	})
	return dashboardCP.path, dashboardCP.err
}

// DashboardError is a call the dashboard answered with success false.
type DashboardError struct {
	Path string
	Code int
	Msg  string
}

func (e *DashboardError) Error() string {
	return fmt.Sprintf("dashboard %s: code %d: %s", e.Path, e.Code, e.Msg)
}

// Call sends one request to the dashboard's own HTTP API (the one its web
// pages use): query goes in the URL, body, when not nil, as JSON. It returns
// the data of the dashboard's {"success","code","msg","data"} answer, and a
// *DashboardError when success is false.
func (d *SentinelDashboard) Call(ctx context.Context, method, path string, query url.Values, body any) (json.RawMessage, error) {
	u := d.URL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("dashboard %s %s: %s: %s", method, path, resp.Status, tail(string(data), 500))
	}
	var res struct {
		Success bool            `json:"success"`
		Code    int             `json:"code"`
		Msg     string          `json:"msg"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, fmt.Errorf("dashboard %s %s: not a result: %s", method, path, tail(string(data), 500))
	}
	if !res.Success {
		return res.Data, &DashboardError{Path: path, Code: res.Code, Msg: res.Msg}
	}
	return res.Data, nil
}

// Logs returns the dashboard's output.
func (d *SentinelDashboard) Logs() string { return d.proc.logs() }
