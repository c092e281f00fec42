package datasource

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
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
	d := New[[]string](f, nameCodec{})
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
	d := New[[]string](f, nameCodec{})
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
