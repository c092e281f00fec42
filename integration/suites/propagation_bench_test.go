package suites

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/sources/file"
)

// BenchmarkPropagation measures how long a rule change takes to be enforced,
// per config center, on loopback:
//
//   - write-p50-ms / write-p99-ms: DataSource.Write called -> returned. The
//     writing datasource applies its own write at once, so an engine bound to
//     it enforces the rule when Write returns.
//   - p50-ms / p99-ms: DataSource.Write called -> the rule enforced by the
//     engine of another datasource with its own connection (another replica of
//     the service): config-center notification, read, decode, property,
//     flow.Manager.Load. Budget: p99 <= 50 ms.
//   - notify-p50-ms / notify-p99-ms: the difference of the two for each change,
//     i.e. the time from the write being committed and acknowledged to the peer
//     enforcing it, without the config center's own commit (etcd's WAL fsync
//     dominates its write latency on a busy disk).
//   - Nacos only, notify split in two: push-p50-ms / push-p99-ms from the
//     write's return to the server's change notification reaching a client
//     (the server's dump of the change to its cache, then the push), and
//     client-p50-ms / client-p99-ms from there to the peer enforcing the rule
//     (nacos-sdk-go's listen request and config query, two round trips, then
//     decode and load).
//
// conflicts counts Writes that failed with ErrConflict although this writer is
// the only one: its datasource applied a late watch echo of an earlier own write
// after the newer one, which happens with sources whose revisions cannot be
// ordered (content hashes: file, Redis). Those changes are retried with
// datasource.Update and the retry's time is included.
//
// Nacos's changes are paced, one every 500 ms: nacos-sdk-go lets a process
// read a config 5 times a second, and each change costs a read by each
// datasource's listener (two here); past that the SDK's listener loop waits
// for its limiter and the delay would be the limiter's, not Nacos's. And the
// measurement starts 6 s after the datasources: the SDK registers a new
// listener with the server on its next listen round, up to 5 s later, and
// until then a change reaches the peer only then (or at its next quiet read).
//
// Run with -benchtime 200x for 200 changes per source.
func BenchmarkPropagation(b *testing.B) {
	sources := []struct {
		name string
		new  func(b *testing.B) (writer, reader datasource.Source)
		pace time.Duration // the least time from one change to the next
		// pushes, when set, returns when the server's change notifications
		// reached a client, to split the peer's time into the server's and
		// the client's part.
		pushes func(b *testing.B) <-chan time.Time
		// warmup is how long to wait after the datasources started.
		warmup time.Duration
	}{
		{"etcd", func(b *testing.B) (datasource.Source, datasource.Source) {
			f := newEtcdFixture(b, "bench-flow-rules")
			return f.Source(b), f.Source(b)
		}, 0, nil, 0},
		{"redis", func(b *testing.B) (datasource.Source, datasource.Source) {
			f := newRedisFixture(b, "bench-flow-rules")
			return f.Source(b), f.Source(b)
		}, 0, nil, 0},
		{"consul", func(b *testing.B) (datasource.Source, datasource.Source) {
			f := newConsulFixture(b, "bench-flow-rules")
			return f.Source(b), f.Source(b)
		}, 0, nil, 0},
		{"nacos", func(b *testing.B) (datasource.Source, datasource.Source) {
			f := newNacosFixture(b, "bench-flow-rules")
			return f.Source(b), f.Source(b)
		}, 500 * time.Millisecond, nacosPushes, 6 * time.Second},
		{"file", func(b *testing.B) (datasource.Source, datasource.Source) {
			path := filepath.Join(b.TempDir(), "flow-rules.json")
			w, err := file.New(path)
			if err != nil {
				b.Fatal(err)
			}
			r, err := file.New(path)
			if err != nil {
				b.Fatal(err)
			}
			return w, r
		}, 0, nil, 0},
	}
	for _, s := range sources {
		b.Run(s.name, func(b *testing.B) {
			wsrc, rsrc := s.new(b)
			ctx := context.Background()
			writer, e, seen := propagationPair(b, wsrc, rsrc)
			time.Sleep(s.warmup)
			var write, peer, notify, push, client []time.Duration
			var pushes <-chan time.Time
			if s.pushes != nil {
				pushes = s.pushes(b)
			}
			conflicts := 0
			var last time.Time
			for i := 0; b.Loop(); i++ {
				rule := flow.DefaultRule()
				rule.Resource, rule.Count = fmt.Sprintf("bench-%d", i), 0
				time.Sleep(time.Until(last.Add(s.pace)))
				t0 := time.Now()
				last = t0
				w, p, conflicted := changeAndWait(b, ctx, writer, seen, rule)
				if conflicted {
					conflicts++
				}
				write, peer, notify = append(write, w), append(peer, p), append(notify, p-w)
				if pushes != nil {
					// The first notification since the write began: the
					// reader's came before it enforced the rule; the writer's
					// may come later and is skipped next time.
					done := t0.Add(write[len(write)-1])
				drain:
					for {
						select {
						case at := <-pushes:
							if at.After(t0) && len(push) < len(peer) {
								push = append(push, at.Sub(done))
								client = append(client, peer[len(peer)-1]-at.Sub(t0))
							}
						default:
							break drain
						}
					}
				}
			}
			if _, err := e.Entry(ctx, fmt.Sprintf("bench-%d", len(peer)-1)); err == nil {
				b.Fatal("last rule not enforced by the peer engine")
			}
			reportPercentiles(b, "write-", write)
			reportPercentiles(b, "", peer)
			reportPercentiles(b, "notify-", notify)
			reportPercentiles(b, "push-", push)
			reportPercentiles(b, "client-", client)
			b.ReportMetric(float64(conflicts), "conflicts")
		})
	}
}

func reportPercentiles(b *testing.B, prefix string, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	b.ReportMetric(ms(d[len(d)/2]), prefix+"p50-ms")
	b.ReportMetric(ms(d[(len(d)*99)/100]), prefix+"p99-ms")
}

// propagationPair starts a writing datasource on wsrc and a reading one on
// rsrc whose rules an engine of its own loads (another replica of the
// service), returned as peer; seen gets the resource of every one-rule list
// the reader applied.
func propagationPair(b *testing.B, wsrc, rsrc datasource.Source) (writer *datasource.DataSource[[]flow.Rule], peer *engine.Engine, seen <-chan string) {
	b.Helper()
	ctx := context.Background()
	writer = datasource.New(wsrc, converter.Flow())
	b.Cleanup(func() { writer.Close() })
	if err := writer.Start(ctx); err != nil {
		b.Fatal(err)
	}
	reader := datasource.New(rsrc, converter.Flow())
	b.Cleanup(func() { reader.Close() })
	e := engine.New()
	b.Cleanup(func() { e.Close() })
	ch := make(chan string, 1024)
	reader.Property().Subscribe(func(rules []flow.Rule) {
		e.Flow().Load(rules)
		if len(rules) == 1 {
			ch <- rules[0].Resource
		}
	})
	if err := reader.Start(ctx); err != nil {
		b.Fatal(err)
	}
	return writer, e, ch
}

// changeAndWait writes rule as the only rule through writer and waits until
// the reader enforces it: write is how long Write took, peer how long until
// the reader applied it, both from the same start. A Write refused with
// ErrConflict (the writer's own view was stale) falls back to
// read-modify-write, whose time counts, and reports conflicted.
func changeAndWait(b *testing.B, ctx context.Context, writer *datasource.DataSource[[]flow.Rule], seen <-chan string, rule flow.Rule) (write, peer time.Duration, conflicted bool) {
	b.Helper()
	t0 := time.Now()
	err := writer.Write(ctx, []flow.Rule{rule})
	if errors.Is(err, datasource.ErrConflict) {
		conflicted = true
		err = datasource.Update(ctx, writer, func([]flow.Rule) ([]flow.Rule, error) { return []flow.Rule{rule}, nil })
	}
	if err != nil {
		b.Fatalf("write %s: %v", rule.Resource, err)
	}
	write = time.Since(t0)
	timeout := time.After(converge)
	for {
		select {
		case res := <-seen:
			if res == rule.Resource {
				return write, time.Since(t0), conflicted
			}
		case <-timeout:
			b.Fatalf("change %s not enforced by the peer within %v", rule.Resource, converge)
		}
	}
}
