package cluster_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine/cluster"
	"github.com/rulesync/rulesync/engine/cluster/tokenclient"
	"github.com/rulesync/rulesync/engine/cluster/tokenserver"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/property"
)

// unlimited lifts the namespace's request limit (30,000 per second by
// default), which a benchmark exceeds.
func unlimited() tokenserver.Option {
	cfg := cluster.DefaultFlowConfig()
	cfg.MaxAllowedQps = 1e12
	return tokenserver.WithFlowConfig(property.New(property.WithInitial(cfg)))
}

// reportPercentiles reports the p50 and p99 of the latencies, in µs.
func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkTokenRoundTrip is one FLOW request and its answer on loopback,
// one at a time from one client.
func BenchmarkTokenRoundTrip(b *testing.B) {
	s := startServer(b, 0, []flow.Rule{clusterFlow("r", 1, 1e12, flow.ThresholdGlobal, false)}, nil, unlimited())
	c := newClient(b, s.Addr().String(), time.Second)
	waitFor(b, "the client to connect", started(c))
	ctx := context.Background()
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		r, err := c.RequestToken(ctx, 1, 1, false)
		if err != nil || r.Status != 0 {
			b.Fatal(r, err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
	}
	reportPercentiles(b, lat)
}

// BenchmarkServerThroughput is how many requests per second one server
// answers for 4 clients, each with its own connection, driven by many
// goroutines at once.
func BenchmarkServerThroughput(b *testing.B) {
	s := startServer(b, 0, []flow.Rule{clusterFlow("r", 1, 1e12, flow.ThresholdGlobal, false)}, nil, unlimited())
	clients := make([]*tokenclient.Client, 4)
	for i := range clients {
		clients[i] = newClient(b, s.Addr().String(), time.Second)
		waitFor(b, "a client to connect", started(clients[i]))
	}
	var next atomic.Int64
	var failed atomic.Int64
	b.SetParallelism(8)
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		c := clients[next.Add(1)%int64(len(clients))]
		ctx := context.Background()
		for pb.Next() {
			if r, err := c.RequestToken(ctx, 1, 1, false); err != nil || r.Status != 0 {
				failed.Add(1)
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
	if failed.Load() > 0 {
		b.Logf("%d of %d requests failed (timeouts under load)", failed.Load(), b.N)
	}
}

// BenchmarkEmbeddedRequestToken is the server called in process, as an
// embedded server's own application calls it.
func BenchmarkEmbeddedRequestToken(b *testing.B) {
	s := startServer(b, 0, []flow.Rule{clusterFlow("r", 1, 1e12, flow.ThresholdGlobal, false)}, nil, unlimited())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if r, _ := s.RequestToken(ctx, 1, 1, false); r.Status != 0 {
			b.Fatal(r)
		}
	}
}
