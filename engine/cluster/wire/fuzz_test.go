package wire

import (
	"bytes"
	"errors"
	"io"
	"math"
	"reflect"
	"testing"
)

func seedFrames(f *testing.F, payloads bool) {
	for _, v := range requestVectors {
		b := unhex(f, v.hex)
		if payloads {
			b = b[LenSize:]
		}
		f.Add(b)
	}
	for _, v := range responseVectors {
		b := unhex(f, v.hex)
		if payloads {
			b = b[LenSize:]
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xFF, 0xFF, 0, 0})
}

// sameParams compares decoded values, treating NaNs with equal bits as equal.
func sameParams(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		switch x := a[i].(type) {
		case float64:
			y, ok := b[i].(float64)
			if !ok || math.Float64bits(x) != math.Float64bits(y) {
				return false
			}
		case float32:
			y, ok := b[i].(float32)
			if !ok || math.Float32bits(x) != math.Float32bits(y) {
				return false
			}
		default:
			if a[i] != b[i] {
				return false
			}
		}
	}
	return true
}

// FuzzDecodeRequest: no panic on any payload; what decodes re-encodes (when
// it fits a frame) to bytes that decode to the same request.
func FuzzDecodeRequest(f *testing.F) {
	seedFrames(f, true)
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := DecodeRequest(p)
		if err != nil {
			return
		}
		b, err := AppendRequest(nil, &r)
		if err != nil {
			if r.Type == TypePing && r.Namespace == "" || errors.Is(err, ErrFrameTooLarge) {
				return
			}
			t.Fatalf("decoded %+v does not re-encode: %v", r, err)
		}
		again, err := DecodeRequest(b[LenSize:])
		if err != nil {
			t.Fatalf("re-encoded % X does not decode: %v", b, err)
		}
		if !sameParams(r.Params, again.Params) {
			t.Fatalf("params round trip %v -> %v", r.Params, again.Params)
		}
		r.Params, again.Params = nil, nil
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("round trip %+v -> %+v", r, again)
		}
	})
}

// FuzzDecodeResponse: no panic; a response with data re-encodes to bytes that
// decode to the same response.
func FuzzDecodeResponse(f *testing.F) {
	seedFrames(f, true)
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := DecodeResponse(p)
		if err != nil {
			return
		}
		if r.Type == TypePing && r.Connected == -1 && len(p) != 10 {
			return // a malformed count reads as -1, which re-encodes as a real -1
		}
		b := AppendResponse(nil, &r)
		again, err := DecodeResponse(b[LenSize:])
		if err != nil || again != r {
			t.Fatalf("round trip %+v -> %+v, %v", r, again, err)
		}
	})
}

// FuzzFrameReader: any stream splits into frames without panic or hang, every
// payload fits the limit, and the reader holds no more than its buffer.
func FuzzFrameReader(f *testing.F) {
	seedFrames(f, false)
	f.Fuzz(func(t *testing.T, stream []byte) {
		fr := NewFrameReader(bytes.NewReader(stream))
		for i := 0; ; i++ {
			if i > len(stream) {
				t.Fatalf("%d frames from %d bytes", i, len(stream))
			}
			p, err := fr.Next()
			if errors.Is(err, ErrFrameTooLarge) {
				continue
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p) > MaxPayload || cap(fr.buf) != readBufSize {
				t.Fatalf("payload %d bytes, buffer %d", len(p), cap(fr.buf))
			}
			_, _ = DecodeRequest(p)
			_, _ = DecodeResponse(p)
		}
	})
}
