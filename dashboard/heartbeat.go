package dashboard

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// heartbeatPath is the dashboard's registration endpoint.
const heartbeatPath = "/registry/machine"

// maxBackoff bounds the wait between heartbeats to a dashboard that does not
// answer; it stays well below the 60 s after which the dashboard calls a
// machine unhealthy, so that the application shows again soon after the
// dashboard comes back.
const maxBackoff = 30 * time.Second

// target is one dashboard.
type target struct {
	host, port string
	tls        bool
}

func (t target) addr() string { return net.JoinHostPort(t.host, t.port) }

// parseTarget reads host:port with an optional http:// or https://.
func parseTarget(s string) (target, error) {
	s = strings.TrimSpace(s)
	var t target
	switch low := strings.ToLower(s); {
	case strings.HasPrefix(low, "https://"):
		t.tls, s = true, s[len("https://"):]
	case strings.HasPrefix(low, "http://"):
		s = s[len("http://"):]
	}
	s = strings.TrimSuffix(s, "/")
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return t, fmt.Errorf("dashboard address %q: want host:port: %v", s, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 || host == "" {
		return t, fmt.Errorf("dashboard address %q: want host:port with a port 1..65535", s)
	}
	t.host, t.port = host, port
	return t, nil
}

// heartbeat registers the application with one dashboard, as Java's
// SimpleHttpHeartbeatSender does: a form POST to /registry/machine every
// interval, the first one after the heartbeat delay.
type heartbeat struct {
	a *Agent
	t target
}

func (h *heartbeat) run(ctx context.Context) {
	log := h.a.log.With("dashboard", h.t.addr())
	wait := h.a.cfg.hbDelay
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		err := h.send(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failures++
			// Log the first failure and then every tenth, so that a
			// dashboard that is down does not flood the log.
			if failures == 1 || failures%10 == 0 {
				log.Warn("dashboard: heartbeat failed", "failures", failures, "err", err)
			}
			wait = backoff(h.a.cfg.hbInterval, failures)
		default:
			if failures > 0 {
				log.Info("dashboard: heartbeat accepted again", "after_failures", failures)
			}
			failures = 0
			wait = h.a.cfg.hbInterval
		}
	}
}

// backoff is the wait after n failures in a row: the interval doubled per
// failure up to maxBackoff (never below the interval), with jitter.
func backoff(interval time.Duration, n int) time.Duration {
	d := interval
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, max(maxBackoff, interval))
	return d/2 + rand.N(d/2+1)
}

// message is the heartbeat's form, in the order Java's HashMap writes it.
func (h *heartbeat) message(ip string) string {
	a := h.a
	pairs := [][2]string{
		{"app", a.app},
		{"hostname", a.cfg.hostname},
		{"app_type", strconv.Itoa(int(a.cfg.appType))},
		{"port", strconv.Itoa(a.port())},
		{"v", a.cfg.version},
		{"ip", ip},
		{"version", strconv.FormatInt(a.cfg.now().UnixMilli(), 10)},
	}
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(FormEscape(p[0]))
		b.WriteByte('=')
		b.WriteString(FormEscape(p[1]))
	}
	return b.String()
}

// advertised returns the IP to report: the configured one, the listen
// address's when it is a specific IP, or else local, the address the
// connection to the dashboard leaves from.
func (h *heartbeat) advertised(local net.Addr) string {
	if ip := h.a.cfg.advertiseIP; ip != "" {
		return ip
	}
	if tcp, ok := h.a.Addr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(tcp.IP); ok && !ip.IsUnspecified() {
			return ip.Unmap().String()
		}
	}
	if tcp, ok := local.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(tcp.IP); ok {
			return ip.Unmap().String()
		}
	}
	return "127.0.0.1"
}

// send posts one heartbeat and reads the answer. The request is written as
// Java's SimpleHttpClient writes it: the same request line and headers, in
// the same order (Host carries the dashboard's host as configured, where
// Java writes the reverse lookup of its address).
func (h *heartbeat) send(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", h.t.addr())
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	local := conn.LocalAddr()
	if h.t.tls {
		tc := tls.Client(conn, &tls.Config{ServerName: h.t.host, MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		conn = tc
	}
	body := h.message(h.advertised(local))
	req := "POST " + heartbeatPath + " HTTP/1.1\r\n" +
		"Content-Type: application/x-www-form-urlencoded; charset=UTF-8\r\n" +
		"Host: " + h.t.host + "\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	if _, err := io.WriteString(conn, req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(io.LimitReader(conn, 64<<10)), nil)
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("answered %s: %s", resp.Status, clip(strings.TrimSpace(string(answer))))
	}
	// The dashboard answers 200 even when it refuses a beat; its JSON says so.
	var res struct {
		Success *bool  `json:"success"`
		Msg     string `json:"msg"`
	}
	if json.Unmarshal(answer, &res) == nil && res.Success != nil && !*res.Success {
		return fmt.Errorf("the dashboard refused the heartbeat: %s", res.Msg)
	}
	return nil
}
