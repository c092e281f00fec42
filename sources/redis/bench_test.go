package redis_test

import (
	"testing"

	"github.com/rulesync/rulesync/datasource/sourcetest"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/redis"
	"github.com/rulesync/rulesync/sources/redis/redistest"
)

// BenchmarkRead: one GET and the payload hash.
func BenchmarkRead(b *testing.B) {
	srv := harness.Redis(b)
	s, err := redis.New(redistest.Client(b, srv), "bench-read", "bench-read-channel")
	if err != nil {
		b.Fatal(err)
	}
	sourcetest.BenchRead(b, s)
}

// BenchmarkWriteCAS: WATCH, GET, hash compare, MULTI/SET/PUBLISH/EXEC.
func BenchmarkWriteCAS(b *testing.B) {
	srv := harness.Redis(b)
	s, err := redis.New(redistest.Client(b, srv), "bench-write", "bench-write-channel")
	if err != nil {
		b.Fatal(err)
	}
	sourcetest.BenchWriteCAS(b, s)
}
