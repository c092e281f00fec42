package nacostest

import (
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
)

// Relay forwards TCP connections to a Nacos-protocol server's HTTP port P and
// gRPC port P+1000 from a port pair of its own (Q, Q+1000, as the SDK derives
// it), so that a test can cut the network between a client and the server
// while the server keeps running and others write to it.
type Relay struct {
	// Addr is host:port of the relay's HTTP port, for a client's server-addr.
	Addr string

	up    [2]string // the server's HTTP and gRPC addresses
	ls    [2]net.Listener
	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewRelay relays to the server whose HTTP API is on host:port; it stops when t ends.
func NewRelay(t testing.TB, host string, port int) *Relay {
	t.Helper()
	r := &Relay{
		up:    [2]string{net.JoinHostPort(host, strconv.Itoa(port)), net.JoinHostPort(host, strconv.Itoa(port+1000))},
		conns: map[net.Conn]struct{}{},
	}
	var err error
	for range 100 {
		q := 10000 + rand.IntN(21000)
		if r.ls[0], err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(q))); err != nil {
			continue
		}
		if r.ls[1], err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(q+1000))); err != nil {
			r.ls[0].Close()
			continue
		}
		r.Addr = r.ls[0].Addr().String()
		break
	}
	if r.Addr == "" {
		t.Fatalf("nacostest: no free port pair for the relay: %v", err)
	}
	for i := range r.ls {
		r.wg.Go(func() { r.accept(r.ls[i], r.up[i]) })
	}
	t.Cleanup(r.close)
	return r
}

// Cut stops the traffic: relayed connections stay open but carry nothing
// more, in either direction (a partition, not a reset), and new connections
// are closed at once.
func (r *Relay) Cut() {
	r.mu.Lock()
	r.cut = true
	r.mu.Unlock()
}

// Heal ends a cut: the connections that were cut are closed (as a router
// that lost their state would), and new ones are relayed again.
func (r *Relay) Heal() {
	r.mu.Lock()
	r.cut = false
	for c := range r.conns {
		c.Close()
		delete(r.conns, c)
	}
	r.mu.Unlock()
}

func (r *Relay) isCut() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cut
}

func (r *Relay) accept(l net.Listener, up string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		if r.isCut() {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", up)
		if err != nil {
			c.Close()
			continue
		}
		r.mu.Lock()
		r.conns[c], r.conns[s] = struct{}{}, struct{}{}
		r.mu.Unlock()
		r.wg.Go(func() { r.pipe(c, s) })
		r.wg.Go(func() { r.pipe(s, c) })
	}
}

// pipe copies from src to dst, dropping what comes during a cut.
func (r *Relay) pipe(src, dst net.Conn) {
	defer func() {
		src.Close()
		dst.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !r.isCut() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (r *Relay) close() {
	for _, l := range r.ls {
		l.Close()
	}
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}
