package tokenserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rulesync/rulesync/engine/cluster"
	"github.com/rulesync/rulesync/engine/cluster/wire"
)

// clientGroup is the clients of one namespace: connections that sent a PING
// naming it, by address (ip:port, as Sentinel keys them).
type clientGroup struct {
	name   string
	n      atomic.Int32
	addrs  map[string]struct{} // under the registry's mutex
	pinned bool                // served: kept when empty
}

func (g *clientGroup) count() int32 { return g.n.Load() }

type clientRegistry struct {
	mu     sync.Mutex
	groups map[string]*clientGroup
}

func (r *clientRegistry) init() { r.groups = map[string]*clientGroup{} }

// group returns the group of a served namespace, created on first use and
// kept for good.
func (r *clientRegistry) group(name string) *clientGroup {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.getLocked(name)
	g.pinned = true
	return g
}

func (r *clientRegistry) getLocked(name string) *clientGroup {
	g, ok := r.groups[name]
	if !ok {
		g = &clientGroup{name: name, addrs: map[string]struct{}{}}
		r.groups[name] = g
	}
	return g
}

// join moves the connection at addr into namespace ns (leaving the one it
// pinged before) and returns the namespace's client count.
func (r *clientRegistry) join(addr, prev, ns string) int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev != "" && prev != ns {
		r.leaveLocked(addr, prev)
	}
	g := r.getLocked(ns)
	if _, ok := g.addrs[addr]; !ok {
		g.addrs[addr] = struct{}{}
		g.n.Add(1)
	}
	return g.n.Load()
}

func (r *clientRegistry) leave(addr, ns string) {
	if ns == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.leaveLocked(addr, ns)
}

func (r *clientRegistry) leaveLocked(addr, ns string) {
	g, ok := r.groups[ns]
	if !ok {
		return
	}
	if _, ok := g.addrs[addr]; ok {
		delete(g.addrs, addr)
		g.n.Add(-1)
	}
	if len(g.addrs) == 0 && !g.pinned {
		delete(r.groups, ns) // clients may name any namespace: do not keep them all
	}
}

// ConnectionInfo is one client connection (Sentinel's ConnectionDescriptor).
type ConnectionInfo struct {
	Address string `json:"address"` // ip:port
	Host    string `json:"host"`
}

func (r *clientRegistry) snapshot(ns string) []ConnectionInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.groups[ns]
	if !ok {
		return []ConnectionInfo{}
	}
	out := make([]ConnectionInfo, 0, len(g.addrs))
	for a := range g.addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			host = a
		}
		out = append(out, ConnectionInfo{Address: a, Host: host})
	}
	slices.SortFunc(out, func(a, b ConnectionInfo) int { return strings.Compare(a.Address, b.Address) })
	return out
}

// transport is the TCP side of a server: one listener at a time and its
// connections.
type transport struct {
	mu      sync.Mutex
	cfg     cluster.TransportConfig // in force
	started bool
	stopped bool
	ln      net.Listener
	conns   map[*conn]struct{}
	wg      sync.WaitGroup
	bindErr string
}

type conn struct {
	nc   net.Conn
	addr string
	ln   net.Listener // the listener that accepted it
	ns   string       // namespace of its last PING; only its goroutine touches it
}

// writeTimeout bounds a reply's write: a client that stops reading must not
// hold its connection's goroutine for ever.
const writeTimeout = 10 * time.Second

// ErrStarted is returned by Start on a server already started.
var ErrStarted = errors.New("tokenserver: already started")

// Start listens on the transport config's port and serves token clients
// until ctx ends or Close; then the listener and every connection close (the
// server still answers its own application's calls until Close). It returns
// once the listener is bound, or the error of binding it. A server starts
// once.
func (s *Server) Start(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	t := &s.tr
	t.mu.Lock()
	if t.started || t.stopped {
		t.mu.Unlock()
		return ErrStarted
	}
	ln, err := s.listen(t.cfg.Port)
	if err != nil {
		t.mu.Unlock()
		return err
	}
	t.started = true
	t.conns = map[*conn]struct{}{}
	t.ln = ln
	t.wg.Add(1)
	go s.accept(ln)
	t.mu.Unlock()
	s.log.Info("tokenserver: listening", "addr", ln.Addr().String())
	if ctx.Done() != nil {
		context.AfterFunc(ctx, t.stop)
	}
	return nil
}

func (s *Server) listen(port int) (net.Listener, error) {
	addr := net.JoinHostPort(s.opts.host, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tokenserver: listen on %s: %w", addr, err)
	}
	return ln, nil
}

// Addr returns the address the server listens on, nil when it does not.
func (s *Server) Addr() net.Addr {
	s.tr.mu.Lock()
	defer s.tr.mu.Unlock()
	if s.tr.ln == nil {
		return nil
	}
	return s.tr.ln.Addr()
}

// applyTransportConfig validates a new transport config; a new port moves a
// started server to it.
func (s *Server) applyTransportConfig(c cluster.TransportConfig) {
	if err := c.Validate(); err != nil {
		s.configError(err)
		return
	}
	s.idle.Store(int64(c.IdleSeconds))
	t := &s.tr
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.started || t.stopped || c.Port == t.cfg.Port {
		t.cfg = c
		return
	}
	ln, err := s.listen(c.Port)
	if err != nil {
		// Keep serving on the old port rather than on none.
		t.bindErr = err.Error()
		s.log.Error("tokenserver: new port refused, still on the old one", "err", err, "port", t.cfg.Port)
		t.cfg.IdleSeconds = c.IdleSeconds
		return
	}
	old := t.ln
	t.ln, t.cfg, t.bindErr = ln, c, ""
	_ = old.Close()
	for cn := range t.conns {
		if cn.ln == old {
			_ = cn.nc.Close()
		}
	}
	t.wg.Add(1)
	go s.accept(ln)
	s.log.Info("tokenserver: moved to a new port", "addr", ln.Addr().String())
}

func (t *transport) stop() {
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		t.wg.Wait()
		return
	}
	t.stopped = true
	if t.ln != nil {
		_ = t.ln.Close()
	}
	for cn := range t.conns {
		_ = cn.nc.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
}

func (s *Server) accept(ln net.Listener) {
	t := &s.tr
	defer t.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn("tokenserver: accept failed, listener closed", "err", err)
			}
			return
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		cn := &conn{nc: nc, addr: remoteKey(nc), ln: ln}
		t.mu.Lock()
		if t.stopped || t.ln != ln {
			t.mu.Unlock()
			_ = nc.Close()
			continue
		}
		t.conns[cn] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go s.serve(cn)
	}
}

// remoteKey is a connection's key as Sentinel writes it: ip:port.
func remoteKey(nc net.Conn) string {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return net.JoinHostPort(a.IP.String(), strconv.Itoa(a.Port))
	}
	return nc.RemoteAddr().String()
}

// serve answers one connection's requests in order. Replies are buffered
// and flushed when no further whole request is waiting in the read buffer,
// so a client that sends many requests gets them back in few writes.
func (s *Server) serve(cn *conn) {
	t := &s.tr
	defer t.wg.Done()
	defer func() {
		s.clients.leave(cn.addr, cn.ns)
		_ = cn.nc.Close()
		t.mu.Lock()
		delete(t.conns, cn)
		t.mu.Unlock()
	}()
	fr := wire.NewFrameReader(cn.nc)
	bw := bufio.NewWriterSize(cn.nc, 4096)
	out := make([]byte, 0, 64)
	for {
		if !fr.Complete() {
			// About to wait for the client: a silent one is closed after idleSeconds.
			_ = cn.nc.SetReadDeadline(time.Now().Add(time.Duration(s.idle.Load()) * time.Second))
		}
		p, err := fr.Next()
		if errors.Is(err, wire.ErrFrameTooLarge) {
			s.log.Debug("tokenserver: frame too large, dropped", "client", cn.addr, "err", err)
			continue
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				s.log.Info("tokenserver: idle connection closed", "client", cn.addr, "idleSeconds", s.idle.Load())
			}
			return
		}
		req, err := wire.DecodeRequest(p)
		if err != nil {
			s.log.Debug("tokenserver: request dropped", "client", cn.addr, "err", err)
			continue
		}
		resp := s.handle(cn, &req)
		out = wire.AppendResponse(out[:0], &resp)
		if bw.Available() < len(out) {
			// The write below flushes first.
			_ = cn.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		}
		if _, err := bw.Write(out); err != nil {
			return
		}
		if !fr.Complete() {
			_ = cn.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := bw.Flush(); err != nil {
				return
			}
		}
	}
}

// handle answers one decoded request (Sentinel's TokenServerHandler and its
// request processors).
func (s *Server) handle(cn *conn, req *wire.Request) wire.Response {
	resp := wire.Response{XID: req.XID, Type: req.Type}
	ctx := context.Background()
	switch req.Type {
	case wire.TypePing:
		if strings.TrimSpace(req.Namespace) == "" {
			resp.Status = wire.StatusBad
			return resp
		}
		resp.Connected = s.clients.join(cn.addr, cn.ns, req.Namespace)
		cn.ns = req.Namespace
		resp.HasData = true
	case wire.TypeFlow:
		r, _ := s.RequestToken(ctx, req.FlowID, int64(req.Count), req.Prioritized)
		resp.Status, resp.HasData = int8(r.Status), true
		resp.Remaining, resp.WaitMs = clamp32(r.Remaining), clamp32(r.WaitMs)
	case wire.TypeParamFlow:
		r, _ := s.RequestParamToken(ctx, req.FlowID, int64(req.Count), req.Params)
		resp.Status, resp.HasData = int8(r.Status), true
		resp.Remaining = clamp32(r.Remaining)
	default:
		resp.Status = wire.StatusBad
	}
	return resp
}

func clamp32(n int64) int32 {
	switch {
	case n > 1<<31-1:
		return 1<<31 - 1
	case n < -1<<31:
		return -1 << 31
	}
	return int32(n)
}
