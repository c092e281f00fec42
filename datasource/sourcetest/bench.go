package sourcetest

import (
	"context"
	"testing"

	"github.com/rulesync/rulesync/datasource"
)

// BenchPayload is a one-rule payload, as the backends' benchmarks store it.
var BenchPayload = []byte(`[{"resource":"GET:/orders","limitApp":"default","grade":1,"count":100,"strategy":0,"controlBehavior":0}]`)

// BenchRead measures one Read of s, after storing BenchPayload in it: the
// round trip to the config center and the revision of what it answers.
func BenchRead(b *testing.B, s datasource.WritableSource) {
	b.Helper()
	ctx := context.Background()
	if _, err := s.Write(ctx, BenchPayload, datasource.AnyRevision); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchWriteCAS measures one compare-and-set Write of s at the revision the
// previous one returned, the path every write-back takes.
func BenchWriteCAS(b *testing.B, s datasource.WritableSource) {
	b.Helper()
	ctx := context.Background()
	rev := ""
	for b.Loop() {
		snap, err := s.Write(ctx, BenchPayload, rev)
		if err != nil {
			b.Fatal(err)
		}
		rev = snap.Revision
	}
}
