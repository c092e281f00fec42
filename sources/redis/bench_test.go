package redis_test

import (
	"context"
	"testing"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/redis"
	"github.com/rulesync/rulesync/sources/redis/redistest"
)

var payload = []byte(`[{"resource":"GET:/orders","limitApp":"default","grade":1,"count":100,"strategy":0,"controlBehavior":0}]`)

// BenchmarkRead: one GET and the payload hash.
func BenchmarkRead(b *testing.B) {
	srv := harness.Redis(b)
	s, err := redis.New(redistest.Client(b, srv), "bench-read", "bench-read-channel")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Write(ctx, payload, datasource.AnyRevision); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteCAS: WATCH, GET, hash compare, MULTI/SET/PUBLISH/EXEC.
func BenchmarkWriteCAS(b *testing.B) {
	srv := harness.Redis(b)
	s, err := redis.New(redistest.Client(b, srv), "bench-write", "bench-write-channel")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rev := ""
	for b.Loop() {
		snap, err := s.Write(ctx, payload, rev)
		if err != nil {
			b.Fatal(err)
		}
		rev = snap.Revision
	}
}
