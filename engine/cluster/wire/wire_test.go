package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The byte examples of the protocol notes (PROTOCOLS.md, section 2), length
// prefix included: each is encoded and decoded exactly.
var requestVectors = []struct {
	name string
	hex  string
	req  Request
}{
	{"ping app", "000C 00000000 00 00000003 617070", Request{XID: 0, Type: TypePing, Namespace: "app"}},
	{"flow 111", "0012 00000001 01 000000000000006F 00000001 00", Request{XID: 1, Type: TypeFlow, FlowID: 111, Count: 1}},
	{"param flow 222", "0020 00000002 02 00000000000000DE 00000001 00000002 07 00000001 61 00 00000005",
		Request{XID: 2, Type: TypeParamFlow, FlowID: 222, Count: 1, Params: []any{"a", int32(5)}}},
}

var responseVectors = []struct {
	name string
	hex  string
	resp Response
}{
	{"ping reply, 1 client", "000A 00000000 00 00 00000001", Response{XID: 0, Type: TypePing, Status: StatusOK, HasData: true, Connected: 1}},
	{"flow OK, remaining 9", "000E 00000001 01 00 00000009 00000000", Response{XID: 1, Type: TypeFlow, Status: StatusOK, HasData: true, Remaining: 9}},
}

func TestRequestVectors(t *testing.T) {
	for _, v := range requestVectors {
		t.Run(v.name, func(t *testing.T) {
			want := unhex(t, v.hex)
			got, err := AppendRequest(nil, &v.req)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("encode = % X, %v\n want % X", got, err, want)
			}
			dec, err := DecodeRequest(want[LenSize:])
			if err != nil || !reflect.DeepEqual(dec, v.req) {
				t.Fatalf("decode = %+v, %v\n want %+v", dec, err, v.req)
			}
			if n, err := RequestSize(&v.req); err != nil || n != len(want) {
				t.Fatalf("RequestSize = %d, %v; want %d", n, err, len(want))
			}
		})
	}
	flow := AppendFlowRequest(nil, 1, 111, 1, false)
	if !bytes.Equal(flow, unhex(t, requestVectors[1].hex)) {
		t.Fatalf("AppendFlowRequest = % X", flow)
	}
}

func TestResponseVectors(t *testing.T) {
	for _, v := range responseVectors {
		t.Run(v.name, func(t *testing.T) {
			want := unhex(t, v.hex)
			if got := AppendResponse(nil, &v.resp); !bytes.Equal(got, want) {
				t.Fatalf("encode = % X\n want % X", got, want)
			}
			dec, err := DecodeResponse(want[LenSize:])
			if err != nil || dec != v.resp {
				t.Fatalf("decode = %+v, %v\n want %+v", dec, err, v.resp)
			}
		})
	}
}

func TestBadReplyIsHeaderOnly(t *testing.T) {
	got := AppendResponse(nil, &Response{XID: 7, Type: TypePing, Status: StatusBad})
	if want := unhex(t, "0006 00000007 00 FF"); !bytes.Equal(got, want) {
		t.Fatalf("bad reply = % X, want % X", got, want)
	}
	// An unknown type with data becomes a bad reply, as Java's writer does.
	got = AppendResponse(nil, &Response{XID: 7, Type: 9, Status: StatusOK, HasData: true})
	if want := unhex(t, "0006 00000007 09 FF"); !bytes.Equal(got, want) {
		t.Fatalf("unknown type reply = % X, want % X", got, want)
	}
	r, err := DecodeResponse(unhex(t, "00000007 01 FF"))
	if err != nil || r.HasData || r.Status != StatusBad {
		t.Fatalf("decoding a header-only FLOW reply: %+v, %v", r, err)
	}
}

func TestEveryParamTag(t *testing.T) {
	params := []any{int32(-2), int64(math.MinInt64), int8(-1), math.Pi, float32(1.5), int16(-300), true, false, "héllo", ""}
	req := Request{XID: MaxXID, Type: TypeParamFlow, FlowID: math.MaxInt64, Count: math.MaxInt32, Params: params}
	b, err := AppendRequest(nil, &req)
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "004A 3B9AC9FF 02 7FFFFFFFFFFFFFFF 7FFFFFFF 0000000A"+
		"00 FFFFFFFE 01 8000000000000000 02 FF 03 400921FB54442D18 04 3FC00000 05 FED4 06 01 06 00"+
		"07 00000006 68C3A96C6C6F 07 00000000")
	if !bytes.Equal(b, want) {
		t.Fatalf("encode = % X\n want % X", b, want)
	}
	dec, err := DecodeRequest(b[LenSize:])
	if err != nil || !reflect.DeepEqual(dec, req) {
		t.Fatalf("decode = %+v, %v", dec, err)
	}
}

func TestFrameLimit(t *testing.T) {
	// A PARAM_FLOW frame with one string: 2 + 5 + 16 + 5 + len bytes.
	fixed := LenSize + 5 + 16 + 5
	at := Request{Type: TypeParamFlow, FlowID: 1, Count: 1, Params: []any{strings.Repeat("x", MaxFrameLen-fixed)}}
	b, err := AppendRequest(nil, &at)
	if err != nil || len(b) != MaxFrameLen {
		t.Fatalf("frame at the limit: %d bytes, %v", len(b), err)
	}
	past := at
	past.Params = []any{strings.Repeat("x", MaxFrameLen-fixed+1)}
	if b, err := AppendRequest([]byte("keep"), &past); !errors.Is(err, ErrFrameTooLarge) || string(b) != "keep" {
		t.Fatalf("frame one past the limit: %q, %v", b, err)
	}
	// Many small values overflow too, and the error comes before all are walked.
	many := Request{Type: TypeParamFlow, FlowID: 1, Count: 1, Params: make([]any, 1<<20)}
	for i := range many.Params {
		many.Params[i] = int64(i)
	}
	if _, err := AppendRequest(nil, &many); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("a million longs: %v", err)
	}
	// The reader takes the frame at the limit and skips the one past it whole.
	long := make([]byte, 0, MaxFrameLen+1)
	long = append(long, 0x03, 0xFF) // payload 1023
	long = append(long, make([]byte, 1023)...)
	stream := append(append(append([]byte{}, b...), long...), b...)
	fr := NewFrameReader(iotest.OneByteReader(bytes.NewReader(stream)))
	if p, err := fr.Next(); err != nil || len(p) != MaxPayload {
		t.Fatalf("first frame: %d bytes, %v", len(p), err)
	}
	if _, err := fr.Next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("over-long frame: %v", err)
	}
	p, err := fr.Next()
	if err != nil || len(p) != MaxPayload {
		t.Fatalf("frame after the skipped one: %d bytes, %v", len(p), err)
	}
	if r, err := DecodeRequest(p); err != nil || r.Params[0] != at.Params[0] {
		t.Fatalf("decoding it: %v", err)
	}
	if _, err := fr.Next(); err != io.EOF {
		t.Fatalf("end of stream: %v", err)
	}
}

func TestTruncatedFrames(t *testing.T) {
	full := unhex(t, requestVectors[2].hex)
	for cut := 1; cut < len(full); cut++ {
		fr := NewFrameReader(bytes.NewReader(full[:cut]))
		if _, err := fr.Next(); err != io.ErrUnexpectedEOF {
			t.Fatalf("frame cut at %d: %v, want unexpected EOF", cut, err)
		}
	}
	if _, err := NewFrameReader(bytes.NewReader(nil)).Next(); err != io.EOF {
		t.Fatalf("empty stream: %v", err)
	}
	// A truncated payload: every cut of the param request's data is refused.
	payload := full[LenSize:]
	for cut := 0; cut < len(payload); cut++ {
		if _, err := DecodeRequest(payload[:cut]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("payload cut at %d: %v", cut, err)
		}
	}
}

func TestDecodeLikeJava(t *testing.T) {
	tests := []struct {
		name    string
		hex     string
		want    Request
		wantErr error
	}{
		{"ping without data: bad reply", "00000000 00", Request{Type: TypePing}, nil},
		{"ping with a short length", "00000000 00 0000", Request{Type: TypePing}, nil},
		{"ping with length 0", "00000000 00 00000000", Request{Type: TypePing}, nil},
		{"ping with a negative length", "00000000 00 FFFFFFFF 61", Request{Type: TypePing}, nil},
		{"ping with a length and no bytes", "00000000 00 00000003", Request{Type: TypePing}, nil},
		{"ping shorter than its length", "00000000 00 00000003 6161", Request{}, ErrTruncated},
		{"flow without priority byte", "00000005 01 0000000000000001 00000002", Request{XID: 5, Type: TypeFlow, FlowID: 1, Count: 2}, nil},
		{"flow priority is any non-zero byte", "00000005 01 0000000000000001 00000002 07 FF", Request{XID: 5, Type: TypeFlow, FlowID: 1, Count: 2, Prioritized: true}, nil},
		{"flow short", "00000005 01 0000000000000001 000000", Request{}, ErrTruncated},
		{"unknown type", "00000005 09 0000000000000001 00000002 00", Request{}, ErrUnknownType},
		{"concurrent acquire is unknown to the server", "00000005 03 0000000000000001 00000002 00", Request{}, ErrUnknownType},
		{"header only", "00000005", Request{}, ErrTruncated},
		{"param count 0 is dropped", "00000002 02 00000000000000DE 00000001 00000000", Request{}, ErrNoParams},
		{"param count negative", "00000002 02 00000000000000DE 00000001 80000000 00 00000001", Request{}, ErrNoParams},
		{"param count beyond the bytes", "00000002 02 00000000000000DE 00000001 7FFFFFFF 00 00000001", Request{}, ErrTruncated},
		{"unknown tag", "00000002 02 00000000000000DE 00000001 00000001 08 00000001", Request{}, ErrUnknownTag},
		{"string longer than the rest", "00000002 02 00000000000000DE 00000001 00000001 07 00000009 6161", Request{}, ErrTruncated},
		{"string of negative length", "00000002 02 00000000000000DE 00000001 00000001 07 FFFFFFFF 6161", Request{}, ErrTruncated},
		{"trailing bytes are ignored", "00000002 02 00000000000000DE 00000001 00000001 06 01 DEADBEEF",
			Request{XID: 2, Type: TypeParamFlow, FlowID: 222, Count: 1, Params: []any{true}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRequest(unhex(t, tc.hex))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestDecodeResponseLikeJava(t *testing.T) {
	tests := []struct {
		hex  string
		want Response
		err  error
	}{
		{"00000001 01 01 00000000 00000000", Response{XID: 1, Type: TypeFlow, Status: StatusBlocked, HasData: true}, nil},
		{"00000001 01 02 00000000 0000000A", Response{XID: 1, Type: TypeFlow, Status: StatusShouldWait, HasData: true, WaitMs: 10}, nil},
		{"00000001 02 00 00000003", Response{XID: 1, Type: TypeParamFlow}, nil}, // data of another length is ignored
		{"00000000 00 00 05", Response{Type: TypePing, HasData: true, Connected: 5}, nil},
		{"00000000 00 00 0005", Response{Type: TypePing, HasData: true, Connected: -1}, nil},
		{"00000000 00 FF", Response{Type: TypePing, Status: StatusBad}, nil},
		{"00000000 05 00", Response{}, ErrUnknownType},
		{"00000000 00", Response{}, ErrTruncated},
	}
	for _, tc := range tests {
		got, err := DecodeResponse(unhex(t, tc.hex))
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: err %v, want %v", tc.hex, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.hex, got, err, tc.want)
		}
	}
}

func TestEncodeRefuses(t *testing.T) {
	tests := []struct {
		req Request
		err error
	}{
		{Request{Type: TypePing}, ErrBadRequest},
		{Request{Type: TypeParamFlow, FlowID: 1, Count: 1}, ErrNoParams},
		{Request{Type: TypeParamFlow, FlowID: 1, Count: 1, Params: []any{1}}, ErrUnsupportedParam}, // Go int: map it with JavaValue first
		{Request{Type: TypeParamFlow, FlowID: 1, Count: 1, Params: []any{struct{}{}}}, ErrUnsupportedParam},
		{Request{Type: TypeConcurrentAcquire}, ErrUnknownType},
	}
	for _, tc := range tests {
		if b, err := AppendRequest(nil, &tc.req); !errors.Is(err, tc.err) || b != nil {
			t.Errorf("%+v: %v, %v; want %v", tc.req, b, err, tc.err)
		}
	}
}

func TestXIDs(t *testing.T) {
	var x XIDs
	if x.Next() != 1 || x.Next() != 2 {
		t.Fatal("ids do not start at 1")
	}
	x.last.Store(MaxXID - 1)
	if x.Next() != MaxXID || x.Next() != 1 {
		t.Fatal("ids do not wrap from 999,999,999 to 1")
	}
}

type userID int32
type name string

func TestJavaValue(t *testing.T) {
	tests := []struct {
		in   any
		want any
		ok   bool
	}{
		{int32(1), int32(1), true},
		{1, int64(1), true},
		{int64(1), int64(1), true},
		{int8(-1), int8(-1), true},
		{int16(2), int16(2), true},
		{uint8(255), int64(255), true},
		{uint32(math.MaxUint32), int64(math.MaxUint32), true},
		{uint64(math.MaxUint64), nil, false},
		{float32(1.5), float32(1.5), true},
		{2.5, 2.5, true},
		{true, true, true},
		{"s", "s", true},
		{[]byte("b"), "b", true},
		{userID(7), int32(7), true},
		{name("n"), "n", true},
		{struct{}{}, nil, false},
		{nil, nil, false},
		{[]int{1}, nil, false},
	}
	for _, tc := range tests {
		got, ok := JavaValue(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("JavaValue(%#v) = %#v, %v; want %#v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestDecodeAllocationIsBounded(t *testing.T) {
	// Claims of huge counts and lengths cost nothing beyond the payload.
	liars := [][]byte{
		unhex(t, "00000002 02 00000000000000DE 00000001 7FFFFFFF"+strings.Repeat("06 01 ", 8)),
		unhex(t, "00000002 02 00000000000000DE 00000001 00000001 07 7FFFFFFF 61"),
		unhex(t, "00000000 00 7FFFFFFF 61"),
	}
	for _, p := range liars {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 100 {
			_, _ = DecodeRequest(p)
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / 100; per > 1024 {
			t.Errorf("decoding % X allocates %d bytes per call", p, per)
		}
	}
	// A FLOW request, the server's hot path, decodes without allocating.
	p := unhex(t, requestVectors[1].hex)[LenSize:]
	if n := testing.AllocsPerRun(100, func() { _, _ = DecodeRequest(p) }); n != 0 {
		t.Errorf("FLOW decode allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = AppendFlowRequest(make([]byte, 0, 32)[:0], 1, 2, 3, true) }); n > 1 {
		t.Errorf("AppendFlowRequest allocates %v times", n)
	}
}

type chunks [][]byte

func (c *chunks) Read(p []byte) (int, error) {
	if len(*c) == 0 {
		return 0, io.EOF
	}
	n := copy(p, (*c)[0])
	(*c)[0] = (*c)[0][n:]
	if len((*c)[0]) == 0 {
		*c = (*c)[1:]
	}
	return n, nil
}

func TestFrameReaderComplete(t *testing.T) {
	frame := unhex(t, requestVectors[1].hex)
	long := append(unhex(t, "03FF"), make([]byte, 1023)...)
	in := chunks{
		append(append([]byte{}, frame...), long[:10]...),
		append(append([]byte{}, long[10:]...), frame[:5]...),
		frame[5:],
	}
	fr := NewFrameReader(&in)
	if fr.Complete() {
		t.Fatal("complete before reading")
	}
	if _, err := fr.Next(); err != nil {
		t.Fatal(err)
	}
	if !fr.Complete() {
		t.Fatal("the length of an over-long frame is buffered: Next needs no read")
	}
	if _, err := fr.Next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatal(err)
	}
	if fr.Complete() {
		t.Fatal("the rest of the skipped frame is not buffered yet")
	}
	if p, err := fr.Next(); err != nil || len(p) != len(frame)-LenSize || fr.Complete() {
		t.Fatalf("frame after the skipped one: %d bytes, %v", len(p), err)
	}
}
