package tokenclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/rulesync/rulesync/engine/cluster/wire"
)

// writeTimeout bounds one write to the server: a server that stops reading
// loses its connection instead of holding the writer for ever. Callers never
// wait for writes; their own timeout ends their wait.
const writeTimeout = 2 * time.Second

// outFrame is one request for the writer: a FLOW request by value (no
// allocation), anything else encoded in buf.
type outFrame struct {
	buf    []byte
	xid    int32
	flowID int64
	count  int32
	prio   bool
}

type callResult struct {
	resp wire.Response
	err  error
}

// call is one request waiting for its answer. Calls are pooled with their
// timer; the reader or fail sends exactly one result to a call it removed
// from pending.
type call struct {
	ch    chan callResult
	timer *time.Timer
}

var calls = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &call{ch: make(chan callResult, 1), timer: t}
}}

// conn is one connection to a token server, with a reader and a writer
// goroutine.
type conn struct {
	c      *Client
	nc     net.Conn
	addr   string
	writes chan outFrame
	pong   chan int32 // PING answers: the namespace's client count
	done   chan struct{}

	mu      sync.Mutex
	pending map[int32]*call
	dead    bool
	failErr error
	wg      sync.WaitGroup
}

func newConn(c *Client, nc net.Conn, addr string) *conn {
	cn := &conn{
		c:       c,
		nc:      nc,
		addr:    addr,
		writes:  make(chan outFrame, c.opts.queue),
		pong:    make(chan int32, 1),
		done:    make(chan struct{}),
		pending: map[int32]*call{},
	}
	cn.wg.Add(2)
	go cn.readLoop()
	go cn.writeLoop()
	return cn
}

func (cn *conn) err() error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.failErr
}

// fail closes the connection once: every pending request gets err at once.
func (cn *conn) fail(err error) {
	cn.mu.Lock()
	if cn.dead {
		cn.mu.Unlock()
		return
	}
	cn.dead, cn.failErr = true, err
	pending := cn.pending
	cn.pending = nil
	cn.mu.Unlock()
	close(cn.done)
	_ = cn.nc.Close()
	lost := err
	if !errors.Is(err, ErrClosed) && !errors.Is(err, ErrConnectionLost) {
		lost = fmt.Errorf("%w: %v", ErrConnectionLost, err)
	}
	for _, cl := range pending {
		cl.ch <- callResult{err: lost}
	}
}

// close fails the connection and waits for its goroutines. Not for the
// reader or writer themselves.
func (cn *conn) close(err error) {
	cn.fail(err)
	cn.wg.Wait()
}

// ping queues a PING with the client's namespace.
func (cn *conn) ping() error {
	b, err := wire.AppendRequest(nil, &wire.Request{XID: 0, Type: wire.TypePing, Namespace: cn.c.opts.namespace})
	if err != nil {
		return err
	}
	select {
	case cn.writes <- outFrame{buf: b}:
		return nil
	case <-cn.done:
		return cn.err()
	default:
		return ErrBusy
	}
}

// roundTrip sends f and waits for its answer, at most timeout and no longer
// than ctx. Nothing here blocks: the queue to the writer is tried, not waited
// for.
func (cn *conn) roundTrip(ctx context.Context, timeout time.Duration, f outFrame) (wire.Response, error) {
	if err := ctx.Err(); err != nil {
		return wire.Response{}, err
	}
	cl := calls.Get().(*call)
	cn.mu.Lock()
	if cn.dead {
		cn.mu.Unlock()
		calls.Put(cl)
		return wire.Response{}, ErrNotConnected
	}
	cn.pending[f.xid] = cl
	cn.mu.Unlock()
	select {
	case cn.writes <- f:
	default:
		return wire.Response{}, cn.abandon(f.xid, cl, ErrBusy)
	}
	cl.timer.Reset(timeout)
	select {
	case r := <-cl.ch:
		cl.timer.Stop()
		calls.Put(cl)
		return r.resp, r.err
	case <-cl.timer.C:
		return wire.Response{}, cn.abandon(f.xid, cl, ErrTimeout)
	case <-ctx.Done():
		cl.timer.Stop()
		return wire.Response{}, cn.abandon(f.xid, cl, ctx.Err())
	}
}

// abandon gives a call up. If the reader (or fail) took it from pending
// first, its result is on the way and is drained, so that the pooled call
// holds nothing stale.
func (cn *conn) abandon(xid int32, cl *call, err error) error {
	cn.mu.Lock()
	mine := cn.pending != nil && cn.pending[xid] == cl
	if mine {
		delete(cn.pending, xid)
	}
	cn.mu.Unlock()
	if !mine {
		<-cl.ch
	}
	calls.Put(cl)
	return err
}

func (cn *conn) readLoop() {
	defer cn.wg.Done()
	fr := wire.NewFrameReader(cn.nc)
	for {
		p, err := fr.Next()
		if errors.Is(err, wire.ErrFrameTooLarge) {
			continue
		}
		if err != nil {
			cn.fail(err)
			return
		}
		resp, err := wire.DecodeResponse(p)
		if err != nil {
			cn.c.log.Debug("tokenclient: response dropped", "server", cn.addr, "err", err)
			continue
		}
		if resp.Type == wire.TypePing {
			if resp.Status != wire.StatusOK {
				cn.c.log.Warn("tokenclient: PING refused", "server", cn.addr, "status", resp.Status)
			}
			select {
			case cn.pong <- resp.Connected:
			default:
			}
			continue
		}
		cn.mu.Lock()
		cl := cn.pending[resp.XID]
		if cl != nil {
			delete(cn.pending, resp.XID)
		}
		cn.mu.Unlock()
		if cl != nil {
			cl.ch <- callResult{resp: resp}
		}
	}
}

func (cn *conn) writeLoop() {
	defer cn.wg.Done()
	buf := make([]byte, 0, 16<<10)
	for {
		var f outFrame
		select {
		case f = <-cn.writes:
		case <-cn.done:
			return
		}
		buf = appendFrame(buf[:0], &f)
	more:
		for len(buf) < 12<<10 {
			select {
			case f = <-cn.writes:
				buf = appendFrame(buf, &f)
			default:
				break more
			}
		}
		_ = cn.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := cn.nc.Write(buf); err != nil {
			cn.fail(err)
			return
		}
	}
}

func appendFrame(b []byte, f *outFrame) []byte {
	if f.buf != nil {
		return append(b, f.buf...)
	}
	return wire.AppendFlowRequest(b, f.xid, f.flowID, f.count, f.prio)
}
