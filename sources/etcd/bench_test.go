package etcd_test

import (
	"context"
	"testing"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/etcd"
	"github.com/rulesync/rulesync/sources/etcd/etcdtest"
)

var payload = []byte(`[{"resource":"GET:/orders","limitApp":"default","grade":1,"count":100,"strategy":0,"controlBehavior":0}]`)

// BenchmarkRead: one linearizable GET of the key on loopback.
func BenchmarkRead(b *testing.B) {
	srv := harness.Etcd(b)
	s, err := etcd.New(etcdtest.Client(b, srv), "/bench/read")
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

// BenchmarkWriteCAS: one compare-and-set transaction (includes etcd's WAL fsync).
func BenchmarkWriteCAS(b *testing.B) {
	srv := harness.Etcd(b)
	s, err := etcd.New(etcdtest.Client(b, srv), "/bench/write")
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
