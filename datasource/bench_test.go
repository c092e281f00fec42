package datasource

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"testing"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/engine/flow"
)

func bigPayload(b *testing.B, n int) []byte {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("GET:/api/v1/resource/%d", i)
	}
	data, err := json.Marshal(names)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkUnchangedPayload: a source re-emits the same 10,000-rule payload
// under a new revision (a watch reconnect, a periodic poll). Budget: <= 1 ms.
func BenchmarkUnchangedPayload(b *testing.B) {
	data := bigPayload(b, 10_000)
	f := newFake()
	f.set(string(data), false)
	d := New[[]string](f, nameCodec{}, WithLogger(quietLogger))
	defer d.Close()
	if err := d.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	fired := 0
	d.Property().Subscribe(func([]string) { fired++ })
	fired = 0
	// A separate copy, as a source hands over freshly read bytes.
	same := append([]byte(nil), data...)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = d.apply(Snapshot{Data: same, Revision: strconv.Itoa(i + 2), Exists: true})
	}
	if fired != 0 {
		b.Fatalf("unchanged payload reached subscribers %d times", fired)
	}
}

// BenchmarkChangedPayload: the full path for a real change of a 10,000-rule
// payload (decode with the test codec, equality, property update), for scale.
func BenchmarkChangedPayload(b *testing.B) {
	p1, p2 := bigPayload(b, 10_000), bigPayload(b, 10_001)
	f := newFake()
	d := New[[]string](f, nameCodec{}, WithLogger(quietLogger))
	defer d.Close()
	if err := d.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := p1
		if i%2 == 1 {
			p = p2
		}
		_ = d.apply(Snapshot{Data: p, Revision: strconv.Itoa(i + 2), Exists: true})
	}
}

// BenchmarkFlow10kReformatted: the same 10,000 flow rules arrive with other
// bytes (re-indented by an editor or a config center), so the payload is
// decoded with the real flow codec and found equal: no property update.
func BenchmarkFlow10kReformatted(b *testing.B) {
	rules := make([]flow.Rule, 10_000)
	for i := range rules {
		rules[i] = flow.DefaultRule()
		rules[i].Resource = fmt.Sprintf("GET:/api/v1/resource/%d", i)
		rules[i].Count = float64(i%500 + 1)
	}
	codec := converter.Flow()
	indented, err := codec.Encode(rules) // canonical: indented
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, indented); err != nil {
		b.Fatal(err)
	}
	compact := buf.Bytes()
	if bytes.Equal(compact, indented) {
		b.Fatal("the two payloads are the same bytes; the benchmark would measure the unchanged path")
	}
	payloads := [][]byte{compact, indented}
	f := newFake()
	d := New(f, codec, WithLogger(quietLogger))
	defer d.Close()
	if err := d.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	_ = d.apply(Snapshot{Data: compact, Revision: "1", Exists: true})
	fired := 0
	d.Property().Subscribe(func([]flow.Rule) { fired++ })
	fired = 0
	b.SetBytes(int64(len(compact)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = d.apply(Snapshot{Data: payloads[(i+1)%2], Revision: strconv.Itoa(i + 2), Exists: true})
	}
	if fired != 0 {
		b.Fatalf("equal rules reached subscribers %d times", fired)
	}
}

// quietLogger keeps the apply lines out of the measurements.
var quietLogger = slog.New(slog.DiscardHandler)
