package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
)

// Frame limits and the default port.
const (
	// MaxFrameLen is the largest frame, length prefix included (Java's
	// LengthFieldBasedFrameDecoder(1024, 0, 2, 0, 2)).
	MaxFrameLen = 1024
	// LenSize is the size of the frame length prefix.
	LenSize = 2
	// MaxPayload is the largest payload a frame may carry.
	MaxPayload = MaxFrameLen - LenSize
	// DefaultPort is the token server's default TCP port.
	DefaultPort = 18730
)

// MsgType is a request or response type.
type MsgType int8

// Message types, with Sentinel's numbers. The concurrent-flow types exist only
// as constants in Sentinel's default transport: its server has no decoder for
// them and drops them.
const (
	TypePing              MsgType = 0
	TypeFlow              MsgType = 1
	TypeParamFlow         MsgType = 2
	TypeConcurrentAcquire MsgType = 3
	TypeConcurrentRelease MsgType = 4
)

// String names the type.
func (t MsgType) String() string {
	switch t {
	case TypePing:
		return "PING"
	case TypeFlow:
		return "FLOW"
	case TypeParamFlow:
		return "PARAM_FLOW"
	case TypeConcurrentAcquire:
		return "CONCURRENT_FLOW_ACQUIRE"
	case TypeConcurrentRelease:
		return "CONCURRENT_FLOW_RELEASE"
	}
	return fmt.Sprintf("type(%d)", int8(t))
}

// Response statuses (a signed byte), with Sentinel's numbers. StatusBad is the
// transport's "bad request" (RESPONSE_STATUS_BAD), which has the number of
// FAIL; BAD_REQUEST is what the token service answers to an invalid flow id
// or count.
const (
	StatusOK              int8 = 0
	StatusBlocked         int8 = 1
	StatusShouldWait      int8 = 2
	StatusNoRuleExists    int8 = 3
	StatusNoRefRuleExists int8 = 4
	StatusNotAvailable    int8 = 5
	StatusReleaseOK       int8 = 6
	StatusAlreadyRelease  int8 = 7
	StatusFail            int8 = -1
	StatusBad             int8 = -1
	StatusTooManyRequest  int8 = -2
	StatusBadRequest      int8 = -4
)

// Parameter tags of PARAM_FLOW values.
const (
	TagInt32   byte = 0 // java.lang.Integer
	TagInt64   byte = 1 // java.lang.Long
	TagInt8    byte = 2 // java.lang.Byte
	TagFloat64 byte = 3 // java.lang.Double
	TagFloat32 byte = 4 // java.lang.Float
	TagInt16   byte = 5 // java.lang.Short
	TagBool    byte = 6 // java.lang.Boolean
	TagString  byte = 7 // java.lang.String
)

// MaxXID is the largest request id; ids count 1..MaxXID and wrap to 1. PING
// uses id 0.
const MaxXID = 999_999_999

// XIDs hands out request ids as Sentinel's client does. The zero value is
// ready; it is safe for concurrent use.
type XIDs struct{ last atomic.Int32 }

// Next returns the next id: 1, 2, ... MaxXID, then 1 again.
func (x *XIDs) Next() int32 {
	for {
		prev := x.last.Load()
		next := prev + 1
		if prev >= MaxXID || prev < 0 {
			next = 1
		}
		if x.last.CompareAndSwap(prev, next) {
			return next
		}
	}
}

// Errors of the codec. Decoding errors mean that a Java peer would drop the
// message without a reply.
var (
	ErrFrameTooLarge    = errors.New("wire: frame exceeds 1024 bytes")
	ErrTruncated        = errors.New("wire: message truncated")
	ErrUnknownType      = errors.New("wire: unknown message type")
	ErrUnknownTag       = errors.New("wire: unknown parameter tag")
	ErrNoParams         = errors.New("wire: PARAM_FLOW request without parameters")
	ErrUnsupportedParam = errors.New("wire: parameter type not supported by the protocol")
	ErrBadRequest       = errors.New("wire: invalid request")
)

// Request is one request in either direction's view.
type Request struct {
	XID  int32
	Type MsgType
	// Namespace is PING's data; "" when the PING carried none (a server
	// answers that with StatusBad).
	Namespace string
	// FlowID and Count are the data of FLOW and PARAM_FLOW.
	FlowID int64
	Count  int32
	// Prioritized is FLOW's last byte (false when it is missing).
	Prioritized bool
	// Params are PARAM_FLOW's values, each an int32, int64, int8, float64,
	// float32, int16, bool or string.
	Params []any
}

// Response is one response.
type Response struct {
	XID    int32
	Type   MsgType
	Status int8
	// HasData is false for a header-only reply (a bad request) and, when
	// decoding, for a reply whose data part had an unexpected length.
	HasData bool
	// Remaining and WaitMs are the data of FLOW and PARAM_FLOW replies.
	Remaining int32
	WaitMs    int32
	// Connected is a PING reply's data: the clients of the namespace. It is
	// -1 when a reply's data part could not be read (as Java's client does).
	Connected int32
}

// ParamSize is the number of bytes v takes in a PARAM_FLOW request (tag and
// value), or 0 when v is not one of the eight wire types.
func ParamSize(v any) int {
	switch x := v.(type) {
	case int32, float32:
		return 5
	case int64, float64:
		return 9
	case int8, bool:
		return 2
	case int16:
		return 3
	case string:
		return 1 + 4 + len(x)
	}
	return 0
}

// RequestSize is the frame size of r (length prefix included), or an error
// when r cannot be encoded.
func RequestSize(r *Request) (int, error) {
	n := LenSize + 5
	switch r.Type {
	case TypePing:
		if r.Namespace == "" {
			return 0, fmt.Errorf("%w: PING without a namespace", ErrBadRequest)
		}
		n += 4 + len(r.Namespace)
	case TypeFlow:
		n += 8 + 4 + 1
	case TypeParamFlow:
		if len(r.Params) == 0 {
			return 0, ErrNoParams
		}
		n += 8 + 4 + 4
		for i, p := range r.Params {
			s := ParamSize(p)
			if s == 0 {
				return 0, fmt.Errorf("%w: params[%d] is a %T", ErrUnsupportedParam, i, p)
			}
			n += s
			if n > MaxFrameLen {
				// Stop early: a huge string must not be walked (or added up) in full.
				return n, fmt.Errorf("%w: %d parameters need more than %d bytes", ErrFrameTooLarge, len(r.Params), MaxPayload)
			}
		}
	default:
		return 0, fmt.Errorf("%w: %v", ErrUnknownType, r.Type)
	}
	if n > MaxFrameLen {
		return n, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	return n, nil
}

// AppendRequest appends r as a frame (length prefix included) to dst. It
// returns dst unchanged and an error when r cannot be encoded: a frame over
// MaxFrameLen, an unknown type, a PING without namespace, a PARAM_FLOW without
// parameters or with a value of another type than the eight wire types.
func AppendRequest(dst []byte, r *Request) ([]byte, error) {
	n, err := RequestSize(r)
	if err != nil {
		return dst, err
	}
	b := binary.BigEndian.AppendUint16(dst, uint16(n-LenSize))
	b = binary.BigEndian.AppendUint32(b, uint32(r.XID))
	b = append(b, byte(r.Type))
	switch r.Type {
	case TypePing:
		b = binary.BigEndian.AppendUint32(b, uint32(len(r.Namespace)))
		b = append(b, r.Namespace...)
	case TypeFlow:
		b = binary.BigEndian.AppendUint64(b, uint64(r.FlowID))
		b = binary.BigEndian.AppendUint32(b, uint32(r.Count))
		b = appendBool(b, r.Prioritized)
	case TypeParamFlow:
		b = binary.BigEndian.AppendUint64(b, uint64(r.FlowID))
		b = binary.BigEndian.AppendUint32(b, uint32(r.Count))
		b = binary.BigEndian.AppendUint32(b, uint32(len(r.Params)))
		for _, p := range r.Params {
			b = appendParam(b, p)
		}
	}
	return b, nil
}

// AppendFlowRequest appends a FLOW request frame; it cannot fail (20 bytes),
// and does not allocate when dst has room.
func AppendFlowRequest(dst []byte, xid int32, flowID int64, count int32, prioritized bool) []byte {
	b := binary.BigEndian.AppendUint16(dst, 18)
	b = binary.BigEndian.AppendUint32(b, uint32(xid))
	b = append(b, byte(TypeFlow))
	b = binary.BigEndian.AppendUint64(b, uint64(flowID))
	b = binary.BigEndian.AppendUint32(b, uint32(count))
	return appendBool(b, prioritized)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendParam(b []byte, p any) []byte {
	switch x := p.(type) {
	case int32:
		b = append(b, TagInt32)
		return binary.BigEndian.AppendUint32(b, uint32(x))
	case int64:
		b = append(b, TagInt64)
		return binary.BigEndian.AppendUint64(b, uint64(x))
	case int8:
		return append(b, TagInt8, byte(x))
	case float64:
		b = append(b, TagFloat64)
		return binary.BigEndian.AppendUint64(b, math.Float64bits(x))
	case float32:
		b = append(b, TagFloat32)
		return binary.BigEndian.AppendUint32(b, math.Float32bits(x))
	case int16:
		b = append(b, TagInt16)
		return binary.BigEndian.AppendUint16(b, uint16(x))
	case bool:
		return appendBool(append(b, TagBool), x)
	case string:
		b = append(b, TagString)
		b = binary.BigEndian.AppendUint32(b, uint32(len(x)))
		return append(b, x...)
	}
	return b // unreachable: RequestSize refused p
}

// AppendResponse appends r as a frame to dst: the header, then (when
// r.HasData) the data of r.Type. A response of an unknown type is encoded as
// a header-only bad reply, as Sentinel's server does.
func AppendResponse(dst []byte, r *Response) []byte {
	status, data := r.Status, 0
	if r.HasData {
		switch r.Type {
		case TypePing:
			data = 4
		case TypeFlow, TypeParamFlow:
			data = 8
		default:
			status = StatusBad
		}
	}
	b := binary.BigEndian.AppendUint16(dst, uint16(6+data))
	b = binary.BigEndian.AppendUint32(b, uint32(r.XID))
	b = append(b, byte(r.Type), byte(status))
	switch data {
	case 4:
		b = binary.BigEndian.AppendUint32(b, uint32(r.Connected))
	case 8:
		b = binary.BigEndian.AppendUint32(b, uint32(r.Remaining))
		b = binary.BigEndian.AppendUint32(b, uint32(r.WaitMs))
	}
	return b
}

// DecodeRequest decodes a request payload (the frame without its length
// prefix). Trailing bytes after the data are ignored, as Java does. An error
// means a Java server would not answer the request: a payload shorter than
// the header or the type's data, an unknown type, a PARAM_FLOW without
// parameters or with an unknown tag. A PING whose namespace is missing or
// empty decodes with Namespace "" (Java answers it with StatusBad).
func DecodeRequest(p []byte) (Request, error) {
	var r Request
	if len(p) < 5 {
		return r, fmt.Errorf("%w: request of %d bytes, the header needs 5", ErrTruncated, len(p))
	}
	r.XID = int32(binary.BigEndian.Uint32(p))
	r.Type = MsgType(p[4])
	d := p[5:]
	switch r.Type {
	case TypePing:
		if len(d) < 4 {
			return r, nil
		}
		n := int32(binary.BigEndian.Uint32(d))
		if n <= 0 || len(d) == 4 {
			return r, nil
		}
		if int64(n) > int64(len(d)-4) {
			return r, fmt.Errorf("%w: namespace of %d bytes, %d left", ErrTruncated, n, len(d)-4)
		}
		r.Namespace = string(d[4 : 4+n])
		return r, nil
	case TypeFlow:
		if len(d) < 12 {
			return r, fmt.Errorf("%w: FLOW data of %d bytes, needs 12", ErrTruncated, len(d))
		}
		r.FlowID = int64(binary.BigEndian.Uint64(d))
		r.Count = int32(binary.BigEndian.Uint32(d[8:]))
		r.Prioritized = len(d) > 12 && d[12] != 0
		return r, nil
	case TypeParamFlow:
		if len(d) < 16 {
			return r, fmt.Errorf("%w: PARAM_FLOW data of %d bytes, needs 16", ErrTruncated, len(d))
		}
		r.FlowID = int64(binary.BigEndian.Uint64(d))
		r.Count = int32(binary.BigEndian.Uint32(d[8:]))
		n := int32(binary.BigEndian.Uint32(d[12:]))
		if n <= 0 {
			return r, fmt.Errorf("%w: paramCount %d", ErrNoParams, n)
		}
		params, err := decodeParams(d[16:], int(n))
		if err != nil {
			return r, err
		}
		r.Params = params
		return r, nil
	}
	return r, fmt.Errorf("%w: %v", ErrUnknownType, r.Type)
}

// decodeParams reads n values. Every value takes at least two bytes, so a
// count the bytes cannot hold is refused before anything is allocated for it.
func decodeParams(d []byte, n int) ([]any, error) {
	if n > len(d)/2 {
		return nil, fmt.Errorf("%w: %d parameters cannot fit in %d bytes", ErrTruncated, n, len(d))
	}
	params := make([]any, 0, n)
	for i := range n {
		if len(d) < 1 {
			return nil, fmt.Errorf("%w: params[%d] missing", ErrTruncated, i)
		}
		tag := d[0]
		d = d[1:]
		need := 0
		switch tag {
		case TagInt32, TagFloat32:
			need = 4
		case TagInt64, TagFloat64:
			need = 8
		case TagInt8, TagBool:
			need = 1
		case TagInt16:
			need = 2
		case TagString:
			need = 4
		default:
			// Java skips the byte and reads the next one as a tag, which
			// desynchronizes the rest; we refuse the request instead.
			return nil, fmt.Errorf("%w: %d at params[%d]", ErrUnknownTag, tag, i)
		}
		if len(d) < need {
			return nil, fmt.Errorf("%w: params[%d] (tag %d) needs %d bytes, %d left", ErrTruncated, i, tag, need, len(d))
		}
		switch tag {
		case TagInt32:
			params = append(params, int32(binary.BigEndian.Uint32(d)))
		case TagFloat32:
			params = append(params, math.Float32frombits(binary.BigEndian.Uint32(d)))
		case TagInt64:
			params = append(params, int64(binary.BigEndian.Uint64(d)))
		case TagFloat64:
			params = append(params, math.Float64frombits(binary.BigEndian.Uint64(d)))
		case TagInt8:
			params = append(params, int8(d[0]))
		case TagBool:
			params = append(params, d[0] != 0)
		case TagInt16:
			params = append(params, int16(binary.BigEndian.Uint16(d)))
		case TagString:
			sl := int32(binary.BigEndian.Uint32(d))
			if sl < 0 || int64(sl) > int64(len(d)-4) {
				return nil, fmt.Errorf("%w: params[%d] string of %d bytes, %d left", ErrTruncated, i, sl, len(d)-4)
			}
			params = append(params, string(d[4:4+sl]))
			need += int(sl)
		}
		d = d[need:]
	}
	return params, nil
}

// DecodeResponse decodes a response payload as Sentinel's client does: the
// 6-byte header, then FLOW and PARAM_FLOW data only when exactly 8 bytes
// follow, and PING data from 1 byte (an old server's count) or 4 and more.
func DecodeResponse(p []byte) (Response, error) {
	var r Response
	if len(p) < 6 {
		return r, fmt.Errorf("%w: response of %d bytes, the header needs 6", ErrTruncated, len(p))
	}
	r.XID = int32(binary.BigEndian.Uint32(p))
	r.Type = MsgType(p[4])
	r.Status = int8(p[5])
	d := p[6:]
	switch r.Type {
	case TypeFlow, TypeParamFlow:
		if len(d) == 8 {
			r.HasData = true
			r.Remaining = int32(binary.BigEndian.Uint32(d))
			r.WaitMs = int32(binary.BigEndian.Uint32(d[4:]))
		}
		return r, nil
	case TypePing:
		switch {
		case len(d) == 0:
		case len(d) == 1:
			r.HasData, r.Connected = true, int32(int8(d[0]))
		case len(d) >= 4:
			r.HasData, r.Connected = true, int32(binary.BigEndian.Uint32(d))
		default:
			r.HasData, r.Connected = true, -1
		}
		return r, nil
	}
	return r, fmt.Errorf("%w: %v", ErrUnknownType, r.Type)
}
