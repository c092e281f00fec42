package stat_test

import (
	"sync"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine/internal/stat"
)

func TestWindowSlides(t *testing.T) {
	w := stat.NewWindow(2, 1000)
	w.Add(10_000, stat.Pass, 3) // bucket [10000, 10500)
	w.Add(10_499, stat.Pass, 1)
	w.Add(10_500, stat.Pass, 2) // bucket [10500, 11000)
	tests := []struct {
		now  int64
		want int64
	}{
		{10_499, 4},
		{10_999, 6},
		{11_000, 2}, // the first bucket left the window
		{11_499, 2},
		{11_500, 0},
		{50_000, 0},
	}
	for _, tc := range tests {
		if got := w.Sum(tc.now, stat.Pass); got != tc.want {
			t.Errorf("Sum at %d = %d, want %d", tc.now, got, tc.want)
		}
	}
	// A slot reused a lap later starts from zero.
	w.Add(11_000, stat.Pass, 1)
	if got := w.Sum(11_000, stat.Pass); got != 3 {
		t.Errorf("after reuse: %d, want 3 (2 + 1)", got)
	}
	if got := w.BucketSum(10_500, stat.Pass); got != 2 {
		t.Errorf("BucketSum(10500) = %d, want 2", got)
	}
	if got := w.BucketSum(10_000, stat.Pass); got != 0 {
		t.Errorf("BucketSum of a replaced bucket = %d, want 0", got)
	}
}

func TestWindowInvalidArgsFallBack(t *testing.T) {
	for _, args := range [][2]int64{{0, 1000}, {3, 1000}, {2, -1}} {
		w := stat.NewWindow(int(args[0]), args[1])
		if w.SampleCount() != 2 || w.IntervalMs() != 1000 || w.BucketMs() != 500 {
			t.Errorf("NewWindow(%d, %d) = %d buckets over %d ms", args[0], args[1], w.SampleCount(), w.IntervalMs())
		}
	}
}

func TestWindowFutureSum(t *testing.T) {
	w := stat.NewWindow(2, 1000)
	w.Add(10_600, stat.Pass, 2) // promised to [10500, 11000)
	if got := w.FutureSum(10_400, stat.Pass); got != 2 {
		t.Errorf("FutureSum before the bucket = %d, want 2", got)
	}
	if got := w.FutureSum(10_500, stat.Pass); got != 0 {
		t.Errorf("FutureSum once the bucket began = %d, want 0", got)
	}
}

func TestNodeStatistics(t *testing.T) {
	n := stat.NewNode()
	if n.MinRT(1000) != 1 || n.AvgRT(1000) != 0 {
		t.Fatalf("empty node: min rt %v avg rt %v, want 1 and 0", n.MinRT(1000), n.AvgRT(1000))
	}
	// The previous-second window is kept only once read; the first read is 0.
	if got := n.PreviousPassQPS(1000); got != 0 {
		t.Fatalf("first previous-second read = %v, want 0", got)
	}
	n.AddPass(10_100, 2)
	n.AddPass(10_600, 1)
	n.AddBlock(10_600, 4)
	n.AddComplete(10_700, 1, 30, false)
	n.AddComplete(10_800, 2, 10, true)
	if got := n.PassQPS(10_900); got != 3 {
		t.Errorf("pass qps = %v, want 3", got)
	}
	if got := n.BlockQPS(10_900); got != 4 {
		t.Errorf("block qps = %v, want 4", got)
	}
	if got := n.SuccessQPS(10_900); got != 3 {
		t.Errorf("success qps = %v, want 3", got)
	}
	if got := n.ErrorQPS(10_900); got != 2 {
		t.Errorf("error qps = %v, want 2", got)
	}
	if got := n.AvgRT(10_900); got != 40.0/3 {
		t.Errorf("avg rt = %v, want %v", got, 40.0/3)
	}
	if got := n.MinRT(10_900); got != 10 {
		t.Errorf("min rt = %v, want 10", got)
	}
	// Both completions fell in one 500 ms bucket: 3 per half second is 6 per second.
	if got := n.MaxSuccessQPS(10_900); got != 6 {
		t.Errorf("max success qps = %v, want 6", got)
	}
	if got := n.Threads(); got != 0 {
		t.Errorf("threads = %d, want 0 (two passes, two completions)", got)
	}
	if got := n.PreviousPassQPS(11_200); got != 3 {
		t.Errorf("previous second's pass = %v, want 3", got)
	}
	if got := n.PreviousBlockQPS(11_200); got != 4 {
		t.Errorf("previous second's block = %v, want 4", got)
	}
	if got := n.PreviousPassQPS(12_200); got != 0 {
		t.Errorf("pass two seconds back = %v, want 0", got)
	}
}

func TestTryOccupyNext(t *testing.T) {
	tests := []struct {
		name      string
		passes    map[int64]int64 // ms -> count
		waiting   int64           // already promised to the next bucket
		now       int64
		threshold float64
		wantWait  int64
		wantOK    bool
	}{
		{"old bucket frees room", map[int64]int64{10_100: 2}, 0, 10_600, 2, 400, true},
		{"room only after the current bucket", map[int64]int64{10_600: 2}, 0, 10_700, 2, 0, false},
		{"borrowed already", map[int64]int64{10_100: 2}, 2, 10_600, 2, 0, false},
		{"partly borrowed", map[int64]int64{10_100: 2}, 1, 10_600, 2, 400, true},
		{"waits for the next bucket", map[int64]int64{10_100: 2}, 0, 10_550, 2, 450, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := stat.NewNode()
			for ms, c := range tc.passes {
				n.AddPass(ms, c)
			}
			if tc.waiting > 0 {
				n.AddWaiting(tc.now-tc.now%500+500, tc.waiting)
			}
			wait, ok := n.TryOccupyNext(tc.now, 1, tc.threshold, 500)
			if ok != tc.wantOK || (ok && wait != tc.wantWait) {
				t.Fatalf("TryOccupyNext = (%d, %v), want (%d, %v)", wait, ok, tc.wantWait, tc.wantOK)
			}
		})
	}
	n := stat.NewNode()
	n.AddPass(10_100, 2)
	if _, ok := n.TryOccupyNext(10_600, 1, 2, 300); ok {
		t.Fatal("a 400 ms wait was allowed under a 300 ms timeout")
	}
}

func TestRegistry(t *testing.T) {
	r := stat.NewRegistry(2)
	a := r.GetOrCreate("a")
	if a == nil || r.GetOrCreate("a") != a || r.Lookup("a") != a || a.Name != "a" {
		t.Fatal("GetOrCreate does not return one node per resource")
	}
	r.GetOrCreate("b")
	if r.GetOrCreate("c") != nil || r.Lookup("c") != nil || r.Len() != 2 {
		t.Fatal("registry grew past its bound")
	}
	if a.LookupOrigin("x") != nil {
		t.Fatal("origin node exists before use")
	}
	o := a.Origin("x")
	if o == nil || a.Origin("x") != o || a.LookupOrigin("x") != o || a.Entrance("x") == o {
		t.Fatal("origin nodes are not one per (resource, origin), apart from entrance nodes")
	}
	seen := 0
	r.Range(func(*stat.ResourceNode) bool { seen++; return true })
	if seen != 2 {
		t.Fatalf("Range saw %d resources", seen)
	}
}

func TestRegistryConcurrentCreate(t *testing.T) {
	r := stat.NewRegistry(0)
	var wg sync.WaitGroup
	got := make([]*stat.ResourceNode, 8)
	origins := make([]*stat.Node, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = r.GetOrCreate("res")
			origins[i] = got[i].Origin("o")
			got[i].Node.AddPass(1000, 1)
		}()
	}
	wg.Wait()
	for i := range got {
		if got[i] != got[0] || origins[i] != origins[0] {
			t.Fatal("concurrent creators got different nodes")
		}
	}
	if n := got[0].Node.PassQPS(1000); n != 8 {
		t.Fatalf("pass = %v, want 8", n)
	}
}

func TestNow(t *testing.T) {
	c := stat.NewManualClock(1234)
	c.Advance(567 * time.Microsecond)
	ms, ns := stat.Now(c)
	if ms != 1234 || ns != 1234*int64(time.Millisecond)+567*int64(time.Microsecond) {
		t.Fatalf("Now = %d ms, %d ns", ms, ns)
	}
	ms, ns = stat.Now(stat.SystemClock{})
	if ms != ns/int64(time.Millisecond) {
		t.Fatalf("system clock: %d ms vs %d ns", ms, ns)
	}
	c.Sleep(time.Second)
	if c.NowMs() != 2234 {
		t.Fatalf("manual Sleep did not advance: %d", c.NowMs())
	}
}

func TestCoarseClock(t *testing.T) {
	c := stat.NewCoarseClock(time.Millisecond)
	first := c.NowNanos()
	if ms, ns := stat.Now(c); ms != ns/int64(time.Millisecond) || ns < first {
		t.Fatalf("Now = %d ms, %d ns (first reading %d)", ms, ns, first)
	}
	// It moves on its own; poll rather than assume how fast.
	deadline := time.Now().Add(10 * time.Second)
	for c.NowNanos() == first {
		if time.Now().After(deadline) {
			t.Fatal("coarse clock never moved")
		}
		time.Sleep(time.Millisecond)
	}
	c.Stop()
	c.Stop() // idempotent
	stopped := c.NowNanos()
	time.Sleep(5 * time.Millisecond)
	if c.NowNanos() != stopped {
		t.Fatal("coarse clock moved after Stop")
	}
}

func TestWindowOutOfOrderWrites(t *testing.T) {
	// Writers whose clocks disagree slightly must still land in their own buckets.
	w := stat.NewWindow(2, 1000)
	for _, ms := range []int64{10_600, 10_100, 10_700, 10_200, 10_999, 10_000} {
		w.Add(ms, stat.Pass, 1)
	}
	if got := w.BucketSum(10_000, stat.Pass); got != 3 {
		t.Errorf("bucket 10000 = %d, want 3", got)
	}
	if got := w.BucketSum(10_500, stat.Pass); got != 3 {
		t.Errorf("bucket 10500 = %d, want 3", got)
	}
	w.Reset()
	if got := w.Sum(10_600, stat.Pass); got != 0 {
		t.Errorf("after Reset: %d", got)
	}
	w.Add(10_600, stat.Pass, 1)
	if got := w.Sum(10_600, stat.Pass); got != 1 {
		t.Errorf("after Reset and one add: %d, want 1", got)
	}
}

func TestPreviousSecondTrackedOnlyOnceRead(t *testing.T) {
	n := stat.NewNode()
	n.AddPass(10_100, 5)
	if got := n.PreviousPassQPS(11_100); got != 0 {
		t.Fatalf("passes before the first read = %v, want 0 (not tracked yet)", got)
	}
	n.AddPass(11_200, 7)
	if got := n.PreviousPassQPS(12_100); got != 7 {
		t.Fatalf("passes after the first read = %v, want 7", got)
	}
}
