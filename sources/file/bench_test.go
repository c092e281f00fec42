package file

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/rulesync/rulesync/datasource"
)

// BenchmarkEditToProperty measures from the moment an edit becomes visible
// (the rename of a fully written file over the old one) to the subscriber
// seeing the new rules, through fsnotify, the debounce, the read, the decode
// and the property. The writer's own fsyncs are left out: they delay the
// writer, not the propagation. Budget: p99 <= 50 ms with the default debounce.
func BenchmarkEditToProperty(b *testing.B) {
	for _, debounce := range []time.Duration{20 * time.Millisecond, time.Millisecond} {
		b.Run(fmt.Sprintf("debounce=%v", debounce), func(b *testing.B) {
			path := b.TempDir() + "/rules.json"
			tmp := path + ".new"
			if err := os.WriteFile(path, []byte(`["start"]`), 0o644); err != nil {
				b.Fatal(err)
			}
			src, err := New(path, WithDebounce(debounce))
			if err != nil {
				b.Fatal(err)
			}
			d := datasource.New[[]string](src, nameCodec{}, datasource.WithLogger(slog.New(slog.DiscardHandler)))
			defer d.Close()
			if err := d.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			seen := make(chan []string, 16)
			d.Property().Subscribe(func(v []string) { seen <- v })
			<-seen
			var lat []time.Duration
			for i := 0; b.Loop(); i++ {
				want := fmt.Sprintf("r%d", i)
				data, _ := json.Marshal([]string{want})
				if err := os.WriteFile(tmp, data, 0o644); err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				if err := os.Rename(tmp, path); err != nil {
					b.Fatal(err)
				}
				for v := range seen {
					if slices.Equal(v, []string{want}) {
						break
					}
				}
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkRead10k: reading and hashing a 10,000-rule file, the cost of every
// re-read after a file system event.
func BenchmarkRead10k(b *testing.B) {
	names := make([]string, 10_000)
	for i := range names {
		names[i] = fmt.Sprintf("GET:/api/v1/resource/%d", i)
	}
	data, _ := json.Marshal(names)
	path := b.TempDir() + "/rules.json"
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	src, _ := New(path)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.Read(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
