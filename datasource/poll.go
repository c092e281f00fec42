package datasource

import (
	"bytes"
	"context"
	"fmt"
	"time"
)

// Poll wraps src so that its Watch reads src every interval and emits a
// snapshot whenever the revision, the bytes or the existence changed. Use it
// for backends without change notifications. Write and Delete pass through to
// src when it supports them.
func Poll(src Source, interval time.Duration) Source {
	if interval <= 0 {
		interval = time.Second
	}
	return &pollSource{src: src, interval: interval}
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

func (p *pollSource) Write(ctx context.Context, data []byte, expect string) (Snapshot, error) {
	w, ok := p.src.(WritableSource)
	if !ok {
		return Snapshot{}, ErrNotWritable
	}
	return w.Write(ctx, data, expect)
}

func (p *pollSource) Delete(ctx context.Context, expect string) error {
	d, ok := p.src.(Deleter)
	if !ok {
		return ErrNotWritable
	}
	return d.Delete(ctx, expect)
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
