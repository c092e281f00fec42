package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func parse(s string) (any, error) { return readReply(bufio.NewReader(strings.NewReader(s))) }

func TestReadReply(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want any
	}{
		{"+OK\r\n", "OK"},
		{"+\r\n", ""},
		{"-ERR wrong type\r\n", respError("ERR wrong type")},
		{":0\r\n", int64(0)},
		{":-42\r\n", int64(-42)},
		{"$5\r\nhello\r\n", "hello"},
		{"$0\r\n\r\n", ""},
		{"$4\r\na\r\nb\r\n", "a\r\nb"}, // a bulk string may hold CRLF
		{"$-1\r\n", nil},
		{"*-1\r\n", nil},
		{"*0\r\n", []any{}},
		{"*3\r\n:1\r\n$1\r\nx\r\n-ERR in exec\r\n", []any{int64(1), "x", respError("ERR in exec")}},
		// A CLUSTER SLOTS entry: range, then [ip, port, id, metadata].
		{"*1\r\n*3\r\n:0\r\n:5460\r\n*4\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n*0\r\n",
			[]any{[]any{int64(0), int64(5460), []any{"127.0.0.1", int64(7000), "id", []any{}}}}},
	} {
		got, err := parse(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parse(%q) = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
}

func TestReadReplyRejectsBadInput(t *testing.T) {
	deep := strings.Repeat("*1\r\n", respMaxDepth+1) + ":1\r\n"
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"", io.EOF},
		{"+OK", io.ErrUnexpectedEOF},
		{"+OK\n", errProtocol},
		{"\r\n", errProtocol},
		{"%1\r\n", errProtocol},
		{":12x\r\n", errProtocol},
		{"$-2\r\n", errProtocol},
		{"$" + strconv.Itoa(respMaxBulk+1) + "\r\n", errProtocol},
		{"*" + strconv.Itoa(respMaxItems+1) + "\r\n", errProtocol},
		{"$5\r\nhel", io.ErrUnexpectedEOF},
		{"$5\r\nhelloXY", errProtocol},
		{"*2\r\n:1\r\n", io.ErrUnexpectedEOF},
		{"*1000000\r\n", io.ErrUnexpectedEOF}, // announced, never sent
		{"+" + strings.Repeat("a", respMaxLine+1) + "\r\n", errProtocol},
		{deep, errProtocol},
	} {
		got, err := parse(tc.in)
		if !errors.Is(err, tc.want) {
			name := tc.in
			if len(name) > 40 {
				name = name[:40] + "..."
			}
			t.Errorf("parse(%q) = %#v, %v; want error %v", name, got, err, tc.want)
		}
	}
	// The deepest nesting allowed still parses.
	ok := strings.Repeat("*1\r\n", respMaxDepth) + ":1\r\n"
	if _, err := parse(ok); err != nil {
		t.Errorf("%d nested arrays: %v", respMaxDepth, err)
	}
}

// A command is sent as an array of bulk strings; read back, it is the same
// arguments, binary ones included.
func TestWriteCommandRoundTrip(t *testing.T) {
	args := []string{"SET", "", "a\r\nb", "\x00\xff", strings.Repeat("x", 5000)}
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	if err := writeCommand(w, args); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := parse(b.String())
	if err != nil {
		t.Fatal(err)
	}
	want := make([]any, len(args))
	for i, a := range args {
		want[i] = a
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip: %q, want %q", got, want)
	}
}

// encodeReply writes v as RESP2, for the fuzz target's round trip: strings
// as bulk strings, nil as a null bulk string.
func encodeReply(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("$-1\r\n")
	case string:
		b.WriteString("$" + strconv.Itoa(len(v)) + "\r\n" + v + "\r\n")
	case respError:
		b.WriteString("-" + string(v) + "\r\n")
	case int64:
		b.WriteString(":" + strconv.FormatInt(v, 10) + "\r\n")
	case []any:
		b.WriteString("*" + strconv.Itoa(len(v)) + "\r\n")
		for _, e := range v {
			encodeReply(b, e)
		}
	default:
		panic("encodeReply: unexpected type " + reflect.TypeOf(v).String())
	}
}

// FuzzReadReply: any input either parses, and then what it parsed encodes
// and parses back to the same value, or fails with a protocol error or an
// EOF; it never panics.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"+OK\r\n", "-ERR x\r\n", ":-1\r\n", "$3\r\nabc\r\n", "$-1\r\n", "*-1\r\n",
		"*2\r\n$1\r\na\r\n*1\r\n:2\r\n", "*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$1\r\nn\r\n",
		"$9999999\r\n", "*3\r\n", "+a\rb\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := readReply(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			if !errors.Is(err, errProtocol) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unclassified error %v", err)
			}
			if errors.Is(err, io.EOF) && len(data) != 0 {
				t.Fatalf("io.EOF after %d bytes, want io.ErrUnexpectedEOF", len(data))
			}
			return
		}
		var b bytes.Buffer
		encodeReply(&b, v)
		again, err := readReply(bufio.NewReader(&b))
		if err != nil || !reflect.DeepEqual(again, v) {
			t.Fatalf("%#v encoded as %q parses to %#v, %v", v, b.String(), again, err)
		}
	})
}

func TestRESPAgainstRedis(t *testing.T) {
	const password = `p"w\d`
	s := Redis(t, WithPassword(password))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if _, err := dialRedis(ctx, s.Addr, "wrong"); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("wrong password: %v, want WRONGPASS", err)
	}
	if _, err := redisDo(ctx, s.Addr, "", "PING"); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("no password: %v, want NOAUTH", err)
	}
	c, err := dialRedis(ctx, s.Addr, password)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	for _, step := range []struct {
		args []string
		want any
	}{
		{[]string{"SET", "k", "a\r\nb"}, "OK"},
		{[]string{"GET", "k"}, "a\r\nb"},
		{[]string{"GET", "missing"}, nil},
		{[]string{"RPUSH", "l", "x", ""}, int64(2)},
		{[]string{"LRANGE", "l", "0", "-1"}, []any{"x", ""}},
		{[]string{"LRANGE", "missing", "0", "-1"}, []any{}},
	} {
		got, err := c.do(step.args...)
		if err != nil || !reflect.DeepEqual(got, step.want) {
			t.Fatalf("%q: %#v, %v; want %#v", step.args, got, err, step.want)
		}
	}
	// An error reply is an error, and the connection goes on.
	var re respError
	if _, err := c.do("INCR", "k"); !errors.As(err, &re) || !strings.HasPrefix(string(re), "ERR") {
		t.Fatalf("INCR on a string: %v, want an ERR reply", err)
	}
	if v, err := c.do("PING"); err != nil || v != "PONG" {
		t.Fatalf("PING after an error reply: %v %v", v, err)
	}
	// Cancelling the context unblocks a read that would never end.
	bctx, bcancel := context.WithCancel(ctx)
	b, err := dialRedis(bctx, s.Addr, password)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	done := make(chan error, 1)
	go func() {
		_, err := b.do("BLPOP", "never", "0")
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let BLPOP block (if it has not, it fails all the same)
	bcancel()
	if err := <-done; err == nil {
		t.Fatal("BLPOP returned without error after cancel")
	}
}

// NodeForKey names the node that holds a key: written there directly, with
// no cluster client to follow redirections, SET succeeds instead of
// answering MOVED, and the keys of the test land on every node.
func TestRedisClusterNodeForKey(t *testing.T) {
	c := RedisCluster(t, WithPassword("cl"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	owners := map[*RedisServer]bool{}
	for i := range 30 {
		key := "k" + strconv.Itoa(i)
		n, err := c.NodeForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		owners[n] = true
		if v, err := redisDo(ctx, n.Addr, n.Password, "SET", key, "v"); err != nil || v != "OK" {
			t.Fatalf("SET %s on its node %s: %v %v", key, n.Addr, v, err)
		}
		for _, other := range c.Nodes {
			if other == n {
				continue
			}
			if _, err := redisDo(ctx, other.Addr, other.Password, "GET", key); err == nil || !strings.HasPrefix(err.Error(), "MOVED") {
				t.Fatalf("GET %s on %s, not its node: %v, want MOVED", key, other.Addr, err)
			}
		}
	}
	if len(owners) != len(c.Nodes) {
		t.Fatalf("30 keys landed on %d nodes, want all %d", len(owners), len(c.Nodes))
	}
}
