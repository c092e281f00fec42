package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// The harness speaks RESP2 itself rather than through a Redis SDK: whatever
// this package imports becomes a requirement of every module whose tests use
// it, and of every program that requires one of those modules. It needs only
// a handful of commands on short-lived connections (readiness, CLUSTER,
// SENTINEL and INFO checks), so a small client is enough.

// errProtocol marks a reply that is not valid RESP2.
var errProtocol = errors.New("redis protocol error")

// respError is an error reply ("-ERR ...") from the server.
type respError string

func (e respError) Error() string { return string(e) }

// Limits on a reply. The harness reads small replies from its own servers;
// the limits keep a malformed or hostile stream from making the parser
// allocate without bound or recurse deeply.
const (
	respMaxLine  = 64 << 10 // a status, error or length line
	respMaxBulk  = 64 << 20 // one bulk string (CLUSTER NODES, INFO: a few KiB)
	respMaxItems = 1 << 20  // elements of one array
	respMaxDepth = 8        // nested arrays (CLUSTER SLOTS needs 3)
)

// respConn is one connection to a Redis server or Sentinel.
type respConn struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	stop func() bool // detaches the context watch
}

// defaultDeadline bounds a connection whose context has no deadline.
const defaultDeadline = 10 * time.Second

// dialRedis connects to addr and authenticates with password unless it is
// empty (requirepass, the "default" user). Every read and write on the
// connection ends when ctx does: its deadline becomes the connection's, and
// cancelling ctx unblocks a pending read.
func dialRedis(ctx context.Context, addr, password string) (*respConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultDeadline)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return nil, err
	}
	c := &respConn{conn: conn, r: bufio.NewReader(conn), w: bufio.NewWriter(conn)}
	c.stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	if password != "" {
		if _, err := c.do("AUTH", password); err != nil {
			c.close()
			// The password stays out of the error: it ends up in test logs.
			return nil, fmt.Errorf("auth: %w", err)
		}
	}
	return c, nil
}

func (c *respConn) close() {
	c.stop()
	c.conn.Close()
}

// do sends one command and reads its reply. An error reply is returned as a
// respError error; otherwise the reply is one of string (simple or bulk),
// int64, nil (null bulk string or array) and []any of those, where an element
// may also be a respError.
func (c *respConn) do(args ...string) (any, error) {
	if err := writeCommand(c.w, args); err != nil {
		return nil, err
	}
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	v, err := readReply(c.r)
	if err != nil {
		return nil, err
	}
	if e, ok := v.(respError); ok {
		return nil, e
	}
	return v, nil
}

// redisDo runs one command on a connection of its own.
func redisDo(ctx context.Context, addr, password string, args ...string) (any, error) {
	c, err := dialRedis(ctx, addr, password)
	if err != nil {
		return nil, err
	}
	defer c.close()
	return c.do(args...)
}

// writeCommand writes args as a RESP array of bulk strings, the form in which
// a client sends every command.
func writeCommand(w *bufio.Writer, args []string) error {
	w.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		w.WriteString("$" + strconv.Itoa(len(a)) + "\r\n")
		w.WriteString(a)
		w.WriteString("\r\n")
	}
	// bufio.Writer keeps the first error; Flush reports it too.
	_, err := w.Write(nil)
	return err
}

// readReply reads one RESP2 reply.
func readReply(r *bufio.Reader) (any, error) { return readValue(r, 0) }

func readValue(r *bufio.Reader, depth int) (any, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	if len(line) == 0 {
		return nil, fmt.Errorf("%w: empty reply line", errProtocol)
	}
	switch kind, rest := line[0], line[1:]; kind {
	case '+':
		return string(rest), nil
	case '-':
		return respError(rest), nil
	case ':':
		return parseInt(rest)
	case '$':
		n, err := parseLen(rest, respMaxBulk)
		if err != nil || n < 0 {
			return nil, err
		}
		return readBulk(r, n)
	case '*':
		n, err := parseLen(rest, respMaxItems)
		if err != nil || n < 0 {
			return nil, err
		}
		if depth >= respMaxDepth {
			return nil, fmt.Errorf("%w: arrays nested deeper than %d", errProtocol, respMaxDepth)
		}
		// Grown as elements arrive, so that a large announced count
		// costs nothing until the elements are actually there.
		items := make([]any, 0, min(n, 64))
		for range n {
			v, err := readValue(r, depth+1)
			if err != nil {
				return nil, unexpectedEOF(err, 1)
			}
			items = append(items, v)
		}
		return items, nil
	default:
		return nil, fmt.Errorf("%w: unknown reply type %q", errProtocol, kind)
	}
}

// readLine reads up to CRLF and returns the line without it.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > respMaxLine+2 {
			return nil, fmt.Errorf("%w: line longer than %d bytes", errProtocol, respMaxLine)
		}
		line = append(line, chunk...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, unexpectedEOF(err, len(line))
		}
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("%w: line not ended by CRLF", errProtocol)
	}
	return line[:len(line)-2], nil
}

// readBulk reads a bulk string's n bytes and its CRLF.
func readBulk(r *bufio.Reader, n int) (string, error) {
	var b bytes.Buffer
	// CopyN grows b with what actually arrives, not with what n announces.
	if _, err := io.CopyN(&b, r, int64(n)+2); err != nil {
		return "", unexpectedEOF(err, 1)
	}
	data := b.Bytes()
	if !bytes.HasSuffix(data, []byte("\r\n")) {
		return "", fmt.Errorf("%w: bulk string of %d bytes not ended by CRLF", errProtocol, n)
	}
	return string(data[:n]), nil
}

// unexpectedEOF turns an EOF after read bytes into io.ErrUnexpectedEOF: the
// server went away mid-reply.
func unexpectedEOF(err error, read int) error {
	if errors.Is(err, io.EOF) && read > 0 {
		return io.ErrUnexpectedEOF
	}
	return err
}

func parseInt(b []byte) (int64, error) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: bad integer %q", errProtocol, b)
	}
	return n, nil
}

// parseLen parses the length of a bulk string or array: -1 (null) up to max.
func parseLen(b []byte, max int) (int, error) {
	n, err := parseInt(b)
	if err != nil {
		return 0, err
	}
	if n < -1 || n > int64(max) {
		return 0, fmt.Errorf("%w: length %d out of range", errProtocol, n)
	}
	return int(n), nil
}

// Reply conversions: each names what it expected, so that a surprising
// reply shows up as such in a readiness error.

func replyString(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%w: want a string reply, got %T", errProtocol, v)
	}
	return s, nil
}

func replyInt(v any) (int64, error) {
	n, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("%w: want an integer reply, got %T", errProtocol, v)
	}
	return n, nil
}

// replyArray accepts a null array as an empty one.
func replyArray(v any) ([]any, error) {
	if v == nil {
		return nil, nil
	}
	a, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: want an array reply, got %T", errProtocol, v)
	}
	return a, nil
}

// replyStrings converts an array of strings.
func replyStrings(v any) ([]string, error) {
	a, err := replyArray(v)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(a))
	for _, e := range a {
		s, err := replyString(e)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// replyMap converts a flat array of field, value, field, value... (how
// RESP2 carries SENTINEL REPLICAS entries).
func replyMap(v any) (map[string]string, error) {
	kv, err := replyStrings(v)
	if err != nil {
		return nil, err
	}
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("%w: odd number of elements (%d) in a field/value reply", errProtocol, len(kv))
	}
	m := make(map[string]string, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m, nil
}
