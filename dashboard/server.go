package dashboard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// request is one command, as the handlers see it.
type request struct {
	ctx    context.Context
	name   string
	params map[string]string
	client netip.Addr
}

// response is a command's answer: a status and a plain-text body.
type response struct {
	status int
	body   string
}

func ok(body string) response { return response{status: http.StatusOK, body: body} }

func failure(status int, msg string) response { return response{status: status, body: msg} }

type handler func(*request) response

// ServeHTTP serves one command the way Sentinel's simple-http command center
// does: the command is the path without its leading '/', parameters come
// from the query and, for a POST, from a form body that overrides them; a
// POST whose Content-Type is not a form is answered 415, one without a
// Content-Length 411; an unknown command 400 "Unknown command `name`"; a
// handler's failure is its status with the message as body. Every answer
// closes the connection.
func (a *Agent) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	res := a.serve(hr)
	w.Header().Set("Content-Length", strconv.Itoa(len(res.body)))
	w.WriteHeader(res.status)
	_, _ = io.WriteString(w, res.body)
}

func (a *Agent) serve(hr *http.Request) response {
	client := remoteAddr(hr.RemoteAddr)
	if len(hr.URL.RawQuery) > a.cfg.maxData {
		return failure(http.StatusRequestEntityTooLarge, fmt.Sprintf("query longer than %d bytes", a.cfg.maxData))
	}
	r := &request{ctx: hr.Context(), params: map[string]string{}, client: client}
	r.name = strings.TrimPrefix(hr.URL.Path, "/")
	if err := ParseParams(hr.URL.RawQuery, r.params); err != nil {
		return failure(http.StatusBadRequest, err.Error())
	}
	if hr.Method == http.MethodPost {
		if res, failed := a.readForm(hr, r); failed {
			return res
		}
	}
	if strings.TrimSpace(r.name) == "" {
		return failure(http.StatusBadRequest, "Invalid command")
	}
	h, found := a.cmds[r.name]
	if !found {
		return failure(http.StatusBadRequest, "Unknown command `"+r.name+"`")
	}
	return h(r)
}

// readForm adds the parameters of a POST's form body to r.
func (a *Agent) readForm(hr *http.Request, r *request) (response, bool) {
	if ct := hr.Header.Get("Content-Type"); ct != "" && !isForm(ct) {
		return failure(http.StatusUnsupportedMediaType, "Only form-encoded post request is supported"), true
	}
	if hr.ContentLength < 1 {
		return failure(http.StatusLengthRequired, "No legal Content-Length"), true
	}
	if hr.ContentLength+int64(len(hr.URL.RawQuery)) > int64(a.cfg.maxData) {
		return failure(http.StatusRequestEntityTooLarge, fmt.Sprintf("request data larger than %d bytes", a.cfg.maxData)), true
	}
	body := make([]byte, hr.ContentLength)
	if _, err := io.ReadFull(hr.Body, body); err != nil {
		return failure(http.StatusBadRequest, "body shorter than its Content-Length: "+err.Error()), true
	}
	if err := ParseParams(string(body), r.params); err != nil {
		return failure(http.StatusBadRequest, err.Error()), true
	}
	return response{}, false
}

// isForm is Java's check: the media type, before any ';', contains
// application/x-www-form-urlencoded (any case).
func isForm(ct string) bool {
	t, _, _ := strings.Cut(ct, ";")
	return strings.Contains(strings.ToLower(strings.TrimSpace(t)), "application/x-www-form-urlencoded")
}

func remoteAddr(s string) netip.Addr {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// allowList is a net.Listener that closes, at once, every connection from
// an address the agent does not serve: such a client can send nothing.
type allowList struct {
	net.Listener
	allow []netip.Prefix
	log   *slog.Logger

	mu      sync.Mutex
	lastLog time.Time
	dropped int
}

func (l *allowList) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := remoteAddr(c.RemoteAddr().String())
		if l.allowed(addr) {
			return c, nil
		}
		_ = c.Close()
		l.refused(addr)
	}
}

func (l *allowList) allowed(a netip.Addr) bool {
	for _, p := range l.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// refused logs refused connections, at most one line a second.
func (l *allowList) refused(a netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropped++
	if time.Since(l.lastLog) < time.Second {
		return
	}
	l.log.Warn("dashboard: connection refused: client not allowed (see dashboard.WithAllowedClients)", "client", a.String(), "refused_since_last_line", l.dropped)
	l.lastLog, l.dropped = time.Now(), 0
}

// limitListener bounds the connections served at once: past the bound a
// new connection waits in the kernel's backlog, and the ones being served
// are not slowed down.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

var errClosed = errors.New("dashboard: agent closed")
