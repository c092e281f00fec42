package suites

import (
	"context"
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine/cluster/tokenclient"
	"github.com/rulesync/rulesync/integration/harness"
)

// Cluster token benchmarks: our token client against our token server and
// against Java Sentinel's (sentinel-cluster-server-default 1.8.9), in the same
// run on the same machine, so that the two read as a ratio. Both servers
// serve one GLOBAL cluster flow rule that is never exhausted, with the
// per-namespace request limit lifted, on loopback. Java's server runs in the
// interop program's JVM with full JIT compilation (the harness keeps test
// JVMs at C1 to start fast) and is warmed up first, like ours.
//
//	go test -run '^$' -bench 'Cluster' -benchtime 20000x -count 3 ./integration/suites

const benchFlowRule = `[{"resource":"bench","count":1e12,"grade":1,"clusterMode":true,"clusterConfig":{"flowId":1,"thresholdType":1}}]`

// benchServer starts the server named by kind and returns its address.
func benchServer(b *testing.B, kind string) string {
	b.Helper()
	switch kind {
	case "rulesync":
		dir := b.TempDir()
		writeText(b, dir, "token-server-cs-flow-config.json", `{"maxAllowedQps":1e12}`)
		ts := startOurServer(b, dir, benchFlowRule, "[]")
		return ts.Server().Addr().String()
	case "java":
		port := freePort(b)
		flow := writeText(b, b.TempDir(), "flow.json", benchFlowRule)
		harness.Java(b, "token-server", "--port="+strconv.Itoa(port), "--namespaces=app1", "--flow-rules=app1="+flow,
			"--max-allowed-qps=1e12", "-J-XX:TieredStopAtLevel=4", "-J-Xmx512m")
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	b.Fatalf("unknown server %q", kind)
	return ""
}

func benchClient(b *testing.B, addr string) *tokenclient.Client {
	b.Helper()
	c, err := tokenclient.New(tokenclient.WithLogger(clusterQuiet), tokenclient.WithServers(addr), tokenclient.WithNamespace("app1"),
		tokenclient.WithRequestTimeout(time.Second))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	deadline := time.Now().Add(30 * time.Second)
	for c.State().ClientState != tokenclient.StateStarted {
		if time.Now().After(deadline) {
			b.Fatalf("client not connected to %s", addr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return c
}

// warmUp sends n requests through each client, so that both servers (the
// JVM's JIT above all) run their steady-state code when timing starts.
func warmUp(b *testing.B, n int, clients ...*tokenclient.Client) {
	b.Helper()
	ctx := context.Background()
	for _, c := range clients {
		for range n {
			if r, err := c.RequestToken(ctx, 1, 1, false); err != nil || r.Status != 0 {
				b.Fatalf("warm-up: %+v %v", r, err)
			}
		}
	}
}

var benchServers = []string{"rulesync", "java"}

// BenchmarkClusterTokenRoundTrip is one FLOW request and its answer, one at
// a time from one client: ns/op and the p50 and p99 of the round trips.
func BenchmarkClusterTokenRoundTrip(b *testing.B) {
	for _, kind := range benchServers {
		b.Run("server="+kind, func(b *testing.B) {
			c := benchClient(b, benchServer(b, kind))
			warmUp(b, 20000, c)
			ctx := context.Background()
			lat := make([]time.Duration, 0, 1<<20)
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
			reportLatency(b, lat)
		})
	}
}

// BenchmarkClusterServerThroughput is how many requests per second one
// server answers for 4 clients, each with its own connection, driven by 16
// goroutines at once (GOMAXPROCS 2 x parallelism 8). failed counts requests
// that timed out (1 s) or were not OK.
func BenchmarkClusterServerThroughput(b *testing.B) {
	for _, kind := range benchServers {
		b.Run("server="+kind, func(b *testing.B) {
			addr := benchServer(b, kind)
			clients := make([]*tokenclient.Client, 4)
			for i := range clients {
				clients[i] = benchClient(b, addr)
			}
			warmUp(b, 5000, clients...)
			var next, failed atomic.Int64
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
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
			b.ReportMetric(float64(failed.Load()), "failed")
		})
	}
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}
