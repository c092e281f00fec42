package consul_test

import (
	"testing"

	"github.com/rulesync/rulesync/datasource/sourcetest"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/consul"
	"github.com/rulesync/rulesync/sources/consul/consultest"
)

// BenchmarkRead: one consistent GET of the key.
func BenchmarkRead(b *testing.B) {
	srv := harness.Consul(b)
	s, err := consul.New(consultest.Client(b, srv), "bench/read")
	if err != nil {
		b.Fatal(err)
	}
	sourcetest.BenchRead(b, s)
}

// BenchmarkWriteCAS: one check-and-set transaction at the current index.
func BenchmarkWriteCAS(b *testing.B) {
	srv := harness.Consul(b)
	s, err := consul.New(consultest.Client(b, srv), "bench/write")
	if err != nil {
		b.Fatal(err)
	}
	sourcetest.BenchWriteCAS(b, s)
}
