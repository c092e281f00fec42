package datasource

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Write validates v, encodes it and stores it in the source with
// compare-and-set against the revision this datasource last saw, then applies
// it locally at once (the echo through the watch is then a no-op). It returns
// an error wrapping ErrInvalid when v has rules the codec rejects,
// ErrNotWritable when the source cannot be written, and ErrConflict when the
// source changed since it was last seen (use Update to read-modify-write).
func (d *DataSource[T]) Write(ctx context.Context, v T) error {
	if d.closed.Load() {
		return fmt.Errorf("datasource %q: %w", d.o.name, ErrClosed)
	}
	ws, ok := d.src.(WritableSource)
	if !ok {
		return fmt.Errorf("datasource %q: %w", d.o.name, ErrNotWritable)
	}
	data, err := d.encodeValid(v)
	if err != nil {
		return err
	}
	d.applyMu.Lock()
	expect := ""
	if d.seenSet && d.seen.Exists {
		expect = d.seen.Revision
	}
	d.applyMu.Unlock()
	return d.write(ctx, ws, data, expect)
}

// Current returns the value in force together with the compare-and-set token
// of the payload last seen ("" when the value does not exist), read at one
// instant: a caller that shows v to someone and later writes that person's
// change with WriteIf(ctx, v2, token) stores it only if nothing changed in
// between.
func (d *DataSource[T]) Current() (v T, token string) {
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	v, _ = d.prop.Get()
	if d.seenSet && d.seen.Exists {
		token = d.seen.Revision
	}
	return v, token
}

// WriteIf is Write with compare-and-set against token (from Current) rather
// than against the revision last seen, and returns the revision it stored.
// It fails with ErrConflict when the source no longer holds the payload
// token names, even if this datasource has seen the change already.
func (d *DataSource[T]) WriteIf(ctx context.Context, v T, token string) (string, error) {
	if d.closed.Load() {
		return "", fmt.Errorf("datasource %q: %w", d.o.name, ErrClosed)
	}
	ws, ok := d.src.(WritableSource)
	if !ok {
		return "", fmt.Errorf("datasource %q: %w", d.o.name, ErrNotWritable)
	}
	data, err := d.encodeValid(v)
	if err != nil {
		return "", err
	}
	d.applyMu.Lock()
	seen := ""
	if d.seenSet && d.seen.Exists {
		seen = d.seen.Revision
	}
	d.applyMu.Unlock()
	if seen != token {
		// The datasource has applied a newer payload already: the source
		// would accept the write only if that payload were written back.
		return "", fmt.Errorf("datasource %q: write: %w (revision %q was expected; %q is in force)", d.o.name, ErrConflict, token, seen)
	}
	return d.writeRev(ctx, ws, data, token)
}

func (d *DataSource[T]) write(ctx context.Context, ws WritableSource, data []byte, expect string) error {
	_, err := d.writeRev(ctx, ws, data, expect)
	return err
}

func (d *DataSource[T]) writeRev(ctx context.Context, ws WritableSource, data []byte, expect string) (string, error) {
	d.applyMu.Lock()
	gen := d.gen
	d.applyMu.Unlock()
	s, err := ws.Write(ctx, data, expect)
	if err != nil {
		return "", d.redact(fmt.Errorf("datasource %q: write: %w", d.o.name, err))
	}
	if s.Data == nil {
		s.Data = data
	}
	s.Exists = true
	d.applyMu.Lock()
	d.rememberWrite(s.Revision)
	// If the watch applied something while the write was in flight and the
	// revisions cannot be ordered, that may be a change made after ours:
	// applying ours now could hide it for good. The watch delivers our write
	// too, so leave it to the watch.
	_, comparable := d.o.order(s.Revision, d.seen.Revision)
	if d.gen == gen || comparable || !d.seenSet {
		err = d.applyLocked(s, false)
	}
	d.applyMu.Unlock()
	if err != nil {
		return "", err
	}
	d.log.Info("rules written", "revision", s.Revision)
	d.emit(Event{Kind: Written, Revision: s.Revision})
	return s.Revision, nil
}

// encodeValid encodes v and decodes the result again: a value is written only
// if what readers will decode from it is exactly what was validated.
func (d *DataSource[T]) encodeValid(v T) ([]byte, error) {
	data, err := d.codec.Encode(v)
	if err != nil {
		return nil, fmt.Errorf("datasource %q: encode: %w: %w", d.o.name, ErrInvalid, err)
	}
	_, rep, err := d.codec.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("datasource %q: encoded value does not decode: %w: %w", d.o.name, ErrInvalid, err)
	}
	if len(rep.Rejected) > 0 {
		parts := make([]string, len(rep.Rejected))
		for i, r := range rep.Rejected {
			parts[i] = r.String()
		}
		return nil, fmt.Errorf("datasource %q: %w: %s", d.o.name, ErrInvalid, strings.Join(parts, "; "))
	}
	return data, nil
}

// Update reads the current value fresh from the source (not the cached
// property), passes it to fn and writes fn's result with compare-and-set. When
// another writer got there first it starts over, at most WithMaxRetries times
// with a short jittered pause, and then returns an error wrapping ErrConflict.
// An error from fn is returned as is and nothing is written. fn may be called
// several times and must not keep cur. cur holds only the rules the codec
// accepts: rules of the stored payload that it rejects are not written back.
func Update[T any](ctx context.Context, d *DataSource[T], fn func(cur T) (T, error)) error {
	if d.closed.Load() {
		return fmt.Errorf("datasource %q: %w", d.o.name, ErrClosed)
	}
	ws, ok := d.src.(WritableSource)
	if !ok {
		return fmt.Errorf("datasource %q: %w", d.o.name, ErrNotWritable)
	}
	bo := backoff{initial: time.Millisecond, max: 50 * time.Millisecond}
	for attempt := 0; ; attempt++ {
		s, err := ws.Read(ctx)
		if err != nil {
			return d.redact(fmt.Errorf("datasource %q: update: read: %w", d.o.name, err))
		}
		cur := d.emptyValue()
		expect := ""
		if s.Exists {
			expect = s.Revision
			if cur, _, err = d.codec.Decode(s.Data); err != nil {
				return fmt.Errorf("datasource %q: update: current value (revision %q): %w", d.o.name, s.Revision, err)
			}
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		data, err := d.encodeValid(next)
		if err != nil {
			return err
		}
		err = d.write(ctx, ws, data, expect)
		if err == nil || !errors.Is(err, ErrConflict) {
			return err
		}
		if attempt >= d.o.maxRetries {
			return fmt.Errorf("datasource %q: update gave up after %d attempts: %w", d.o.name, attempt+1, err)
		}
		if !sleep(ctx, bo.next()) {
			return fmt.Errorf("datasource %q: update: %w", d.o.name, ctx.Err())
		}
	}
}
