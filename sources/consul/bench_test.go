package consul_test

import (
	"context"
	"testing"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/consul"
	"github.com/rulesync/rulesync/sources/consul/consultest"
)

var payload = []byte(`[{"resource":"GET:/orders","limitApp":"default","grade":1,"count":100,"strategy":0,"controlBehavior":0}]`)

// BenchmarkRead: one consistent GET of the key.
func BenchmarkRead(b *testing.B) {
	srv := harness.Consul(b)
	s, err := consul.New(consultest.Client(b, srv), "bench/read")
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

// BenchmarkWriteCAS: one check-and-set transaction at the current index.
func BenchmarkWriteCAS(b *testing.B) {
	srv := harness.Consul(b)
	s, err := consul.New(consultest.Client(b, srv), "bench/write")
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
