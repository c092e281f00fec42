package datasource

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// pollReadOnly is a Source and nothing more.
type pollReadOnly struct{}

func (pollReadOnly) Read(context.Context) (Snapshot, error) {
	return Snapshot{Data: []byte("x"), Revision: "1", Exists: true}, nil
}
func (pollReadOnly) Watch(ctx context.Context, _ Snapshot, _ func(Snapshot)) error {
	<-ctx.Done()
	return ctx.Err()
}
func (pollReadOnly) Close() error { return nil }

// pollWritable can Write but not Delete.
type pollWritable struct {
	pollReadOnly
	wrote string
}

func (w *pollWritable) Write(_ context.Context, data []byte, expect string) (Snapshot, error) {
	w.wrote = string(data) + "@" + expect
	return Snapshot{Data: data, Revision: "2", Exists: true}, nil
}

// pollDeleting can Write and Delete.
type pollDeleting struct {
	pollWritable
	deleted string
}

func (d *pollDeleting) Delete(_ context.Context, expect string) error {
	d.deleted = expect
	return nil
}

// pollDeleteOnly can Delete but not Write (not what Deleter documents, but
// nothing stops a Source from it).
type pollDeleteOnly struct {
	pollReadOnly
	deleted string
}

func (d *pollDeleteOnly) Delete(_ context.Context, expect string) error {
	d.deleted = expect
	return nil
}

// pollRedacting is a read-only Redactor.
type pollRedacting struct{ pollReadOnly }

func (pollRedacting) Redact(msg string) string { return strings.ReplaceAll(msg, "secret", "***") }

func TestPollHasTheCapabilitiesOfItsSource(t *testing.T) {
	cases := []struct {
		name              string
		src               Source
		writable, deleter bool
	}{
		{"read-only", pollReadOnly{}, false, false},
		{"writable", &pollWritable{}, true, false},
		{"writable deleter", &pollDeleting{}, true, true},
		{"delete only", &pollDeleteOnly{}, false, true},
	}
	for _, tc := range cases {
		p := Poll(tc.src, time.Hour)
		if _, ok := p.(WritableSource); ok != tc.writable {
			t.Errorf("%s: Poll(src) is a WritableSource: %v, want %v", tc.name, ok, tc.writable)
		}
		if _, ok := p.(Deleter); ok != tc.deleter {
			t.Errorf("%s: Poll(src) is a Deleter: %v, want %v", tc.name, ok, tc.deleter)
		}
		if _, ok := p.(Redactor); !ok {
			t.Errorf("%s: Poll(src) lost Redact", tc.name)
		}
	}
}

func TestPollPassesThrough(t *testing.T) {
	ctx := context.Background()
	d := &pollDeleting{}
	p := Poll(d, time.Hour)
	if _, err := p.(WritableSource).Write(ctx, []byte("v"), "1"); err != nil || d.wrote != "v@1" {
		t.Fatalf("Write: err %v, source saw %q", err, d.wrote)
	}
	if err := p.(Deleter).Delete(ctx, "2"); err != nil || d.deleted != "2" {
		t.Fatalf("Delete: err %v, source saw %q", err, d.deleted)
	}
	do := &pollDeleteOnly{}
	if err := Poll(do, time.Hour).(Deleter).Delete(ctx, "3"); err != nil || do.deleted != "3" {
		t.Fatalf("Delete of a delete-only source: err %v, source saw %q", err, do.deleted)
	}
	if got := Poll(pollRedacting{}, time.Hour).(Redactor).Redact("a secret"); got != "a ***" {
		t.Fatalf("Redact = %q", got)
	}
	if got := Poll(pollReadOnly{}, time.Hour).(Redactor).Redact("a secret"); got != "a secret" {
		t.Fatalf("Redact of a non-redactor = %q", got)
	}
}

// A datasource over a polled read-only source refuses writes itself instead
// of reaching the source.
func TestPollReadOnlyDataSourceIsNotWritable(t *testing.T) {
	ds := New[[]string](pollReadOnly{}, nameCodec{}, WithPollInterval(time.Hour))
	defer ds.Close()
	err := ds.Write(context.Background(), []string{"a"})
	if !errors.Is(err, ErrNotWritable) {
		t.Fatalf("Write over a polled read-only source: %v, want ErrNotWritable", err)
	}
}
