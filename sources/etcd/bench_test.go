package etcd_test

import (
	"testing"

	"github.com/rulesync/rulesync/datasource/sourcetest"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/etcd"
	"github.com/rulesync/rulesync/sources/etcd/etcdtest"
)

// BenchmarkRead: one linearizable GET of the key on loopback.
func BenchmarkRead(b *testing.B) {
	srv := harness.Etcd(b)
	s, err := etcd.New(etcdtest.Client(b, srv), "/bench/read")
	if err != nil {
		b.Fatal(err)
	}
	sourcetest.BenchRead(b, s)
}

// BenchmarkWriteCAS: one compare-and-set transaction (includes etcd's WAL fsync).
func BenchmarkWriteCAS(b *testing.B) {
	srv := harness.Etcd(b)
	s, err := etcd.New(etcdtest.Client(b, srv), "/bench/write")
	if err != nil {
		b.Fatal(err)
	}
	sourcetest.BenchWriteCAS(b, s)
}
