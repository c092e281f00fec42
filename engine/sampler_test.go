package engine_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/system"
)

// settles waits until cond holds; it fails the test if cond stays false long
// after any healthy run, never asserting how long it took.
func settles(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("%s: still not so after 30 s (%d goroutines)", what, runtime.NumGoroutine())
		case <-time.After(time.Millisecond):
		}
	}
}

// An engine runs the system sampler only once a system rule needs it, and
// Close stops it. Several engines make a goroutine each stand out from the
// test binary's own, which may come and go.
func TestSamplerStartsWithTheFirstSystemRuleThatNeedsIt(t *testing.T) {
	const n = 8
	before := runtime.NumGoroutine()
	engines := make([]*engine.Engine, n)
	for i := range engines {
		engines[i] = engine.New(engine.WithSystemSampler(fakeSampler{load: 0.5, cpu: 0.25}))
	}
	if got := runtime.NumGoroutine(); got >= before+n {
		t.Fatalf("%d engines without system rules run %d more goroutines", n, got-before)
	}
	qps := system.DefaultRule()
	qps.QPS = 100
	cpu := system.DefaultRule()
	cpu.HighestCPUUsage = 0.9
	for _, e := range engines {
		e.System().Load([]system.Rule{qps})
		if e.System().CPUUsage() != -1 {
			t.Fatal("a QPS system rule started the sampler")
		}
		e.System().Load([]system.Rule{qps, cpu})
		if e.System().CPUUsage() != 0.25 {
			t.Fatalf("after a CPU rule: cpu usage %v, want the sampled 0.25", e.System().CPUUsage())
		}
	}
	for _, e := range engines {
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
	settles(t, "goroutines back to where they were after Close", func() bool { return runtime.NumGoroutine() <= before })
}
