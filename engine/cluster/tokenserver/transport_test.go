package tokenserver

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine/cluster"
	"github.com/rulesync/rulesync/engine/cluster/wire"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/internal/stat"
	"github.com/rulesync/rulesync/property"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// frame prefixes a payload given in hex with its length.
func frame(t *testing.T, payload string) []byte {
	p := unhex(t, payload)
	return append([]byte{byte(len(p) >> 8), byte(len(p))}, p...)
}

// startLoopback starts s on a free loopback port and returns its address.
func startLoopback(t *testing.T, s *Server) string {
	t.Helper()
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s.Addr().String()
}

func loopbackServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	tp := property.New(property.WithInitial(cluster.TransportConfig{Port: 0, IdleSeconds: 600}))
	return newServer(t, stat.SystemClock{}, append([]Option{WithListenHost("127.0.0.1"), WithTransportConfig(tp)}, opts...)...)
}

type rawClient struct {
	t  *testing.T
	nc net.Conn
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t, nc}
}

func (c *rawClient) send(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// expect reads exactly the bytes of want.
func (c *rawClient) expect(want []byte) {
	c.t.Helper()
	got := make([]byte, len(want))
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c.nc, got); err != nil {
		c.t.Fatalf("reading %d bytes: %v", len(want), err)
	}
	if !bytes.Equal(got, want) {
		c.t.Fatalf("got % X\nwant % X", got, want)
	}
}

// TestWireVectorsAgainstServer drives the server with the protocol notes'
// byte examples and with the requests a Java server drops: a dropped
// request gets no reply and the connection stays usable, which the next
// request (answered with its own xid) shows.
func TestWireVectorsAgainstServer(t *testing.T) {
	s := loopbackServer(t, WithNamespaces(property.New(property.WithInitial([]string{"app"}))))
	r := clusterFlow(111, 10, flow.ThresholdGlobal)
	loadFlow(t, s, "app", r)
	c := dialRaw(t, startLoopback(t, s))

	c.send(unhex(t, "000C 00000000 00 00000003 617070"))
	c.expect(unhex(t, "000A 00000000 00 00 00000001"))
	c.send(unhex(t, "0012 00000001 01 000000000000006F 00000001 00"))
	c.expect(unhex(t, "000E 00000001 01 00 00000009 00000000"))

	dropped := [][]byte{
		frame(t, "00000002 02 00000000000000DE 00000001 00000000"), // paramCount 0
		frame(t, "00000003 09 000000000000006F 00000001 00"),       // unknown type
		frame(t, "00000004 03 000000000000006F 00000001 00"),       // concurrent acquire: no decoder
		frame(t, "00000005 01 000000000000006F 0000"),              // truncated FLOW data
		append(unhex(t, "03FF"), make([]byte, 1023)...),            // one past the frame limit
		frame(t, ""), // empty frame
		frame(t, "00000006 02 00000000000000DE 00000001 00000001 09 000000"), // unknown tag
	}
	for _, d := range dropped {
		c.send(d)
	}
	// Still in step: the next FLOW is answered (remaining 8).
	c.send(unhex(t, "0012 00000007 01 000000000000006F 00000001 00"))
	c.expect(unhex(t, "000E 00000007 01 00 00000008 00000000"))

	// A PING without namespace gets the 6-byte bad reply.
	c.send(unhex(t, "0005 00000000 00"))
	c.expect(unhex(t, "0006 00000000 00 FF"))
	// Unknown flow id and bad count, prioritized byte missing.
	c.send(unhex(t, "0011 00000008 01 0000000000000999 00000001"))
	c.expect(unhex(t, "000E 00000008 01 03 00000000 00000000"))
	c.send(unhex(t, "0012 00000009 01 000000000000006F 00000000 01"))
	c.expect(unhex(t, "000E 00000009 01 FC 00000000 00000000"))
	// The frame at the limit is read and answered (NO_RULE_EXISTS: flow 222 has no rule).
	big, err := wire.AppendRequest(nil, &wire.Request{XID: 10, Type: wire.TypeParamFlow, FlowID: 222, Count: 1,
		Params: []any{strings.Repeat("x", wire.MaxFrameLen-28)}})
	if err != nil || len(big) != wire.MaxFrameLen {
		t.Fatalf("frame at the limit: %d bytes, %v", len(big), err)
	}
	c.send(big)
	c.expect(unhex(t, "000E 0000000A 02 03 00000000 00000000"))

	info := s.Info()
	if len(info.Connection) != 2 || info.Connection[0].Namespace != "app" || info.Connection[0].ConnectedCount != 1 ||
		info.Connection[0].ConnectionSet[0].Host != "127.0.0.1" {
		t.Fatalf("info connections %+v", info.Connection)
	}
}

// A reply is flushed even when part of the next request is already read:
// the client may wait for the reply before it sends the rest.
func TestReplyFlushedBeforePartialRequest(t *testing.T) {
	s := loopbackServer(t)
	c := dialRaw(t, startLoopback(t, s))
	ping := unhex(t, "000C 00000000 00 00000003 617070")
	c.send(append(append([]byte{}, ping...), ping[:3]...))
	c.expect(unhex(t, "000A 00000000 00 00 00000001"))
	c.send(ping[3:])
	c.expect(unhex(t, "000A 00000000 00 00 00000001"))
}

func TestIdleConnectionClosed(t *testing.T) {
	tp := property.New(property.WithInitial(cluster.TransportConfig{Port: 0, IdleSeconds: 1}))
	s := newServer(t, stat.SystemClock{}, WithListenHost("127.0.0.1"), WithTransportConfig(tp))
	c := dialRaw(t, startLoopback(t, s))
	c.send(unhex(t, "000C 00000000 00 00000003 617070"))
	c.expect(unhex(t, "000A 00000000 00 00 00000001"))
	_ = c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.nc.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read on an idle connection: %v, want EOF (closed by the server)", err)
	}
	waitFor(t, "the closed client to leave its namespace", func() bool { return s.ConnectedCount("app") == 0 })
}

func TestPortChangeMovesServer(t *testing.T) {
	tp := property.New(property.WithInitial(cluster.TransportConfig{Port: 0, IdleSeconds: 600}))
	s := newServer(t, stat.SystemClock{}, WithListenHost("127.0.0.1"), WithTransportConfig(tp))
	old := startLoopback(t, s)
	c := dialRaw(t, old)
	c.send(unhex(t, "000C 00000000 00 00000003 617070"))
	c.expect(unhex(t, "000A 00000000 00 00 00000001"))

	// A free port to move to.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	tp.Update(cluster.TransportConfig{Port: port, IdleSeconds: 600})
	if got := s.Info().Port; got != port {
		t.Fatalf("info port %d, want %d", got, port)
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Read(make([]byte, 1)); err == nil {
		t.Fatal("the old connection survived the move")
	}
	if _, err := net.DialTimeout("tcp", old, time.Second); err == nil {
		t.Fatal("the old port still accepts")
	}
	// The old connection's goroutine takes it off the namespace as it ends.
	deadline := time.Now().Add(10 * time.Second)
	for s.ConnectedCount("app") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the closed connection is still counted: %d", s.ConnectedCount("app"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	c2 := dialRaw(t, s.Addr().String())
	c2.send(unhex(t, "000C 00000000 00 00000003 617070"))
	c2.expect(unhex(t, "000A 00000000 00 00 00000001"))

	// A port that cannot be bound keeps the server where it is, and says why.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tp.Update(cluster.TransportConfig{Port: busy.Addr().(*net.TCPAddr).Port, IdleSeconds: 600})
	if s.Info().Port != port || s.Status().ListenError == "" {
		t.Fatalf("after a refused port: port %d, status %+v", s.Info().Port, s.Status())
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
