package ruleapply_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/rulesync/rulesync/codec"
	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/ruleapply"
	"github.com/rulesync/rulesync/sources/file"
)

// bindFile loads payload from a file through a datasource into m and returns
// the datasource's status after the first load.
func bindFile[R any](t *testing.T, payload string, codec codec.Codec[[]R], m ruleapply.Loader[[]R]) datasource.Status {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.json")
	if err := os.WriteFile(path, []byte(payload), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := file.New(path)
	if err != nil {
		t.Fatal(err)
	}
	ds := datasource.New(src, codec)
	t.Cleanup(func() { ds.Close() })
	t.Cleanup(ruleapply.Bind(ds.Property(), m))
	if err := ds.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return ds.Status()
}

// outcome runs one call and reports whether it passed.
func outcome(t *testing.T, e *engine.Engine, ctx context.Context, res string, bizErr error, opts ...engine.EntryOption) bool {
	t.Helper()
	en, err := e.Entry(ctx, res, opts...)
	if err != nil {
		if !errors.Is(err, engine.ErrBlocked) {
			t.Fatalf("%s: %v", res, err)
		}
		return false
	}
	en.Exit(engine.WithError(bizErr))
	return true
}

// TestFamiliesFromHandWrittenPayloads loads, for each family, the JSON that
// Sentinel apps and the dashboard write (every field spelled out, as in
// RULE_FORMATS.md) with one bad rule among good ones, through a file
// datasource: the bad rule is reported and the good ones are enforced.
func TestFamiliesFromHandWrittenPayloads(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	newEngine := func(t *testing.T) *engine.Engine {
		e := engine.New(engine.WithClock(engine.NewManualClock(5_000_000)))
		t.Cleanup(func() { e.Close() })
		return e
	}
	pattern := func(t *testing.T, got []bool, want ...bool) {
		t.Helper()
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("passes = %v, want %v", got, want)
			}
		}
	}

	t.Run("flow", func(t *testing.T) {
		e := newEngine(t)
		st := bindFile(t, `[
		  {"id":1,"resource":"orders","limitApp":"default","grade":1,"count":2,"strategy":0,"refResource":null,
		   "controlBehavior":0,"warmUpPeriodSec":10,"maxQueueingTimeMs":500,"clusterMode":false,"clusterConfig":null},
		  {"id":2,"resource":"pay","limitApp":"default","grade":1,"count":-1}
		]`, converter.Flow(), e.Flow())
		if st.Rejected != 1 || st.RuleCount != 1 {
			t.Fatalf("status %+v, want 1 rule and 1 rejected", st)
		}
		var got []bool
		for range 3 {
			got = append(got, outcome(t, e, ctx, "orders", nil))
		}
		pattern(t, got, true, true, false)
	})

	t.Run("degrade", func(t *testing.T) {
		e := newEngine(t)
		st := bindFile(t, `[
		  {"id":3,"resource":"inventory","limitApp":"default","grade":2,"count":1,"timeWindow":10,
		   "minRequestAmount":1,"slowRatioThreshold":1.0,"statIntervalMs":1000},
		  {"id":4,"resource":"stock","grade":1,"count":1.5,"timeWindow":10}
		]`, converter.Degrade(), e.Degrade())
		if st.Rejected != 1 || st.RuleCount != 1 {
			t.Fatalf("status %+v, want 1 rule and 1 rejected", st)
		}
		// Error count > 1 opens the breaker: two errors, then the third call is refused.
		got := []bool{outcome(t, e, ctx, "inventory", boom), outcome(t, e, ctx, "inventory", boom), outcome(t, e, ctx, "inventory", nil)}
		pattern(t, got, true, true, false)
	})

	t.Run("system", func(t *testing.T) {
		e := newEngine(t)
		st := bindFile(t, `[
		  {"id":5,"highestSystemLoad":-1,"highestCpuUsage":-1,"qps":2,"avgRt":-1,"maxThread":-1},
		  {"id":6,"qps":"two"}
		]`, converter.System(), e.System())
		if st.Rejected != 1 || st.RuleCount != 1 {
			t.Fatalf("status %+v, want 1 rule and 1 rejected", st)
		}
		var got []bool
		for range 3 {
			got = append(got, outcome(t, e, ctx, "any", nil, engine.Inbound()))
		}
		pattern(t, got, true, true, false)
		if !outcome(t, e, ctx, "any", nil) {
			t.Fatal("an outbound call was blocked by a system rule")
		}
	})

	t.Run("authority", func(t *testing.T) {
		e := newEngine(t)
		st := bindFile(t, `[
		  {"id":7,"app":"shop","ip":"10.0.0.7","port":8719,"gmtCreate":1700000000000,"gmtModified":1700000000000,
		   "rule":{"resource":"admin","limitApp":"appA, appB","strategy":1}},
		  {"id":8,"app":"shop","rule":{"resource":"admin2","limitApp":"","strategy":0}}
		]`, converter.Authority(), e.Authority())
		if st.Rejected != 1 || st.RuleCount != 1 {
			t.Fatalf("status %+v, want 1 rule and 1 rejected", st)
		}
		got := []bool{
			outcome(t, e, engine.WithOrigin(ctx, "appA"), "admin", nil),
			outcome(t, e, engine.WithOrigin(ctx, "appB"), "admin", nil),
			outcome(t, e, engine.WithOrigin(ctx, "appC"), "admin", nil),
			outcome(t, e, ctx, "admin", nil),
		}
		pattern(t, got, false, false, true, true)
	})

	t.Run("param", func(t *testing.T) {
		e := newEngine(t)
		st := bindFile(t, `[
		  {"id":9,"resource":"query","limitApp":"default","grade":1,"paramIdx":0,"count":1,"controlBehavior":0,
		   "maxQueueingTimeMs":0,"burstCount":0,"durationInSec":1,
		   "paramFlowItemList":[{"object":"vip","count":3,"classType":"java.lang.String"},
		                        {"object":"42","count":2,"classType":"int"}],
		   "clusterMode":false},
		  {"id":10,"resource":"query2","count":1}
		]`, converter.Param(), e.Param())
		if st.Rejected != 1 || st.RuleCount != 1 {
			t.Fatalf("status %+v, want 1 rule and 1 rejected (missing paramIdx)", st)
		}
		count := func(arg any, n int) int {
			ok := 0
			for range n {
				if outcome(t, e, ctx, "query", nil, engine.WithArgs(arg)) {
					ok++
				}
			}
			return ok
		}
		if got := count("alice", 3); got != 1 {
			t.Fatalf("alice: %d of 3 passed, want 1", got)
		}
		if got := count("vip", 5); got != 3 {
			t.Fatalf("vip (exception item, count 3): %d of 5 passed", got)
		}
		if got := count(42, 5); got != 2 {
			t.Fatalf("42 (int exception item, count 2): %d of 5 passed", got)
		}
	})
}
