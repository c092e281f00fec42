package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// readBufSize is the FrameReader's buffer: several frames per read system
// call under load, and always room for one frame of the maximum size.
const readBufSize = 8 << 10

// FrameReader splits a byte stream into frame payloads. It reads into one
// fixed buffer and never allocates after NewFrameReader, whatever the stream
// holds.
type FrameReader struct {
	r          io.Reader
	buf        []byte
	start, end int
	skip       int // bytes of an over-long frame still to discard
}

// NewFrameReader returns a FrameReader reading r.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: r, buf: make([]byte, readBufSize)}
}

// Next returns the payload of the next frame, valid until the next call. A
// frame longer than MaxFrameLen is skipped whole, as Java's frame decoder does,
// and reported as ErrFrameTooLarge: the stream stays in step, so the caller
// may go on reading. At the end of the stream Next returns io.EOF between
// frames and io.ErrUnexpectedEOF inside one; other errors are the reader's.
func (f *FrameReader) Next() ([]byte, error) {
	for f.skip > 0 {
		if f.start == f.end {
			if err := f.fill(); err != nil {
				return nil, unexpected(err)
			}
		}
		n := min(f.skip, f.end-f.start)
		f.start += n
		f.skip -= n
	}
	if err := f.need(LenSize); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(f.buf[f.start:]))
	if n > MaxPayload {
		f.start += LenSize
		f.skip = n
		return nil, fmt.Errorf("%w: payload of %d bytes skipped", ErrFrameTooLarge, n)
	}
	if err := f.need(LenSize + n); err != nil {
		return nil, unexpected(err)
	}
	p := f.buf[f.start+LenSize : f.start+LenSize+n]
	f.start += LenSize + n
	return p, nil
}

// Buffered reports how many bytes are read but not yet returned.
func (f *FrameReader) Buffered() int { return f.end - f.start }

// Complete reports whether the next call to Next can return without reading
// from the stream: a whole frame (or the length of an over-long one) is
// buffered. A server that answers each frame flushes its replies when it is
// not, since the client may be waiting for them before it sends more.
func (f *FrameReader) Complete() bool {
	if f.skip > 0 {
		return f.end-f.start >= f.skip+LenSize
	}
	n := f.end - f.start
	if n < LenSize {
		return false
	}
	l := int(binary.BigEndian.Uint16(f.buf[f.start:]))
	return l > MaxPayload || n >= LenSize+l
}

// need makes n bytes available at f.start, reading as needed. It returns
// io.EOF only when the stream ended with no byte of the frame read.
func (f *FrameReader) need(n int) error {
	for f.end-f.start < n {
		if f.start > 0 && len(f.buf)-f.start < n {
			f.end = copy(f.buf, f.buf[f.start:f.end])
			f.start = 0
		}
		had := f.end - f.start
		if err := f.fill(); err != nil {
			if errors.Is(err, io.EOF) && had > 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// fill reads at least one byte after f.end.
func (f *FrameReader) fill() error {
	if f.start == f.end {
		f.start, f.end = 0, 0
	}
	for empty := 0; ; empty++ {
		n, err := f.r.Read(f.buf[f.end:])
		f.end += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
		if empty > 100 {
			return io.ErrNoProgress
		}
	}
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
