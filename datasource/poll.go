package datasource

import (
	"bytes"
	"context"
	"fmt"
	"time"
)

// Poll wraps src so that its Watch reads src every interval and emits a
// snapshot whenever the revision, the bytes or the existence changed. Use it
// for backends without change notifications. The result has the capabilities
// of src and no others: it is a WritableSource, a Deleter or both exactly when
// src is, passing Write and Delete through; Redact passes through too.
func Poll(src Source, interval time.Duration) Source {
	if interval <= 0 {
		interval = time.Second
	}
	p := &pollSource{src: src, interval: interval}
	w, writable := src.(WritableSource)
	d, deleter := src.(Deleter)
	switch {
	case writable && deleter:
		return &pollWriteDeleter{pollWriter{p, w}, d}
	case writable:
		return &pollWriter{p, w}
	case deleter:
		return &pollDeleter{p, d}
	}
	return p
}

// pollWriter is a polled WritableSource.
type pollWriter struct {
	*pollSource
	w WritableSource
}

func (p *pollWriter) Write(ctx context.Context, data []byte, expect string) (Snapshot, error) {
	return p.w.Write(ctx, data, expect)
}

// pollDeleter is a polled Deleter that cannot Write.
type pollDeleter struct {
	*pollSource
	d Deleter
}

func (p *pollDeleter) Delete(ctx context.Context, expect string) error {
	return p.d.Delete(ctx, expect)
}

// pollWriteDeleter is a polled WritableSource that is also a Deleter.
type pollWriteDeleter struct {
	pollWriter
	d Deleter
}

func (p *pollWriteDeleter) Delete(ctx context.Context, expect string) error {
	return p.d.Delete(ctx, expect)
}

type pollSource struct {
	src      Source
	interval time.Duration
}

func (p *pollSource) Read(ctx context.Context) (Snapshot, error) { return p.src.Read(ctx) }

func (p *pollSource) Watch(ctx context.Context, from Snapshot, emit func(Snapshot)) error {
	last := from
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		s, err := p.src.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("poll: %w", err)
		}
		if s.Exists != last.Exists || s.Revision != last.Revision || !bytes.Equal(s.Data, last.Data) {
			last = s
			emit(s)
		}
	}
}

func (p *pollSource) Close() error { return p.src.Close() }

// Redact passes through to src when it is a Redactor, so that wrapping a
// source in Poll does not lose its redaction.
func (p *pollSource) Redact(msg string) string {
	if r, ok := p.src.(Redactor); ok {
		return r.Redact(msg)
	}
	return msg
}
