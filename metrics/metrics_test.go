package metrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/metrics"
)

// fixedStatus is a datasource whose status the test sets.
type fixedStatus struct{ st datasource.Status }

func (f fixedStatus) Status() datasource.Status { return f.st }

func TestDataSourceMetrics(t *testing.T) {
	c := metrics.NewCollector()
	c.AddDataSource(fixedStatus{datasource.Status{
		Name: "flow", RuleCount: 12, Rejected: 2, Health: datasource.HealthWatching,
		LastSuccess: time.Unix(1700000000, 500_000_000),
	}})
	c.AddDataSource(fixedStatus{datasource.Status{
		Name: "degrade", Health: datasource.HealthBackingOff, UsingSnapshot: true,
		LastError: errors.New("read: connection refused"),
	}})
	obs := c.Observer()
	obs.Observe(datasource.Event{Name: "flow", Kind: datasource.Loaded})
	obs.Observe(datasource.Event{Name: "flow", Kind: datasource.Updated})
	obs.Observe(datasource.Event{Name: "flow", Kind: datasource.Updated})
	obs.Observe(datasource.Event{Name: "degrade", Kind: datasource.SourceError})

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	want := `
# HELP rulesync_datasource_events_total Events reported by datasources, by kind (loaded, updated, rejected, unreadable, deleted, source-error, reconnected, snapshot-used, written).
# TYPE rulesync_datasource_events_total counter
rulesync_datasource_events_total{datasource="degrade",kind="source-error"} 1
rulesync_datasource_events_total{datasource="flow",kind="loaded"} 1
rulesync_datasource_events_total{datasource="flow",kind="updated"} 2
# HELP rulesync_datasource_failing 1 while the datasource's last read, watch or decode failed.
# TYPE rulesync_datasource_failing gauge
rulesync_datasource_failing{datasource="degrade"} 1
rulesync_datasource_failing{datasource="flow"} 0
# HELP rulesync_datasource_health The datasource's connection state: 1 for the current state, 0 for the others.
# TYPE rulesync_datasource_health gauge
rulesync_datasource_health{datasource="degrade",state="backing-off"} 1
rulesync_datasource_health{datasource="degrade",state="closed"} 0
rulesync_datasource_health{datasource="degrade",state="connecting"} 0
rulesync_datasource_health{datasource="degrade",state="idle"} 0
rulesync_datasource_health{datasource="degrade",state="watching"} 0
rulesync_datasource_health{datasource="flow",state="backing-off"} 0
rulesync_datasource_health{datasource="flow",state="closed"} 0
rulesync_datasource_health{datasource="flow",state="connecting"} 0
rulesync_datasource_health{datasource="flow",state="idle"} 0
rulesync_datasource_health{datasource="flow",state="watching"} 1
# HELP rulesync_datasource_last_success_timestamp_seconds When a value was last applied from the source or a write (0: never).
# TYPE rulesync_datasource_last_success_timestamp_seconds gauge
rulesync_datasource_last_success_timestamp_seconds{datasource="degrade"} 0
rulesync_datasource_last_success_timestamp_seconds{datasource="flow"} 1.7000000005e+09
# HELP rulesync_datasource_rejected_rules Rules left out of the last applied payload.
# TYPE rulesync_datasource_rejected_rules gauge
rulesync_datasource_rejected_rules{datasource="degrade"} 0
rulesync_datasource_rejected_rules{datasource="flow"} 2
# HELP rulesync_datasource_rules Rules in force from the datasource.
# TYPE rulesync_datasource_rules gauge
rulesync_datasource_rules{datasource="degrade"} 0
rulesync_datasource_rules{datasource="flow"} 12
# HELP rulesync_datasource_using_snapshot 1 when the rules in force came from the local snapshot, not the source.
# TYPE rulesync_datasource_using_snapshot gauge
rulesync_datasource_using_snapshot{datasource="degrade"} 1
rulesync_datasource_using_snapshot{datasource="flow"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

func TestEngineMetrics(t *testing.T) {
	clock := engine.NewManualClock(1_000_000)
	e := engine.New(engine.WithClock(clock))
	t.Cleanup(func() { _ = e.Close() })
	r := flow.DefaultRule()
	r.Resource, r.Count = "GET:/orders", 3
	e.Flow().Load([]flow.Rule{r})
	ctx := context.Background()
	var held *engine.Entry
	for i := range 5 {
		en, err := e.Entry(ctx, "GET:/orders")
		if err != nil {
			continue // calls 4 and 5 are blocked
		}
		if i == 0 {
			held = en // still in flight when metrics are read
			continue
		}
		clock.Advance(10 * time.Millisecond)
		en.Exit(engine.WithError(errors.New("boom")))
	}
	defer held.Exit()

	c := metrics.NewCollector(metrics.WithNamespace("app"))
	c.AddEngine("main", e)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			if labels(m)["resource"] == "GET:/orders" && labels(m)["engine"] == "main" {
				got[mf.GetName()] = m.GetGauge().GetValue()
			}
		}
	}
	want := map[string]float64{
		"app_resource_pass_per_second":                3,
		"app_resource_block_per_second":               2,
		"app_resource_complete_per_second":            2,
		"app_resource_error_per_second":               2,
		"app_resource_avg_response_time_milliseconds": 10, // each completed call took 10 ms
		"app_resource_concurrency":                    1,
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %v, want %v (all: %v)", name, got[name], v, got)
		}
	}
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}
