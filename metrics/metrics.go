// Package metrics exports what rulesync knows as Prometheus metrics: the
// status of each datasource (rules in force, rejected rules, connection
// health, last success, the snapshot fallback), the events they report, and
// the per-resource statistics of an engine (pass, block, success and error
// rates, average response time, concurrency).
//
//	c := metrics.NewCollector()
//	ds := datasource.New(src, codec, datasource.WithObserver(c.Observer()))
//	c.AddDataSource(ds)
//	c.AddEngine("main", e)
//	prometheus.MustRegister(c)
package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
)

// StatusReporter is what the collector reads of a datasource;
// *datasource.DataSource implements it.
type StatusReporter interface {
	Status() datasource.Status
}

// healthStates are the values of the health metric's state label, one series
// each, the current one at 1 (the Prometheus "state set" pattern).
var healthStates = []datasource.Health{
	datasource.HealthIdle, datasource.HealthConnecting, datasource.HealthWatching,
	datasource.HealthBackingOff, datasource.HealthClosed,
}

// Collector is a prometheus.Collector over datasources and engines added to
// it. It is safe for concurrent use; add sources and engines at any time.
type Collector struct {
	mu      sync.Mutex
	sources []StatusReporter
	engines map[string]*engine.Engine

	events *prometheus.CounterVec

	rules, rejected, health, lastSuccess, snapshot, failing *prometheus.Desc
	pass, block, success, errs, rt, threads                 *prometheus.Desc
}

// Option configures a Collector.
type Option func(*options)

type options struct{ namespace string }

// WithNamespace sets the metric name prefix (default "rulesync").
func WithNamespace(ns string) Option { return func(o *options) { o.namespace = ns } }

// NewCollector returns a collector with nothing added yet.
func NewCollector(opts ...Option) *Collector {
	o := options{namespace: "rulesync"}
	for _, opt := range opts {
		opt(&o)
	}
	ds := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(o.namespace, "datasource", name), help, append([]string{"datasource"}, labels...), nil)
	}
	res := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(o.namespace, "resource", name), help, []string{"engine", "resource"}, nil)
	}
	return &Collector{
		engines: map[string]*engine.Engine{},
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: o.namespace, Subsystem: "datasource", Name: "events_total",
			Help: "Events reported by datasources, by kind (loaded, updated, rejected, unreadable, deleted, source-error, reconnected, snapshot-used, written).",
		}, []string{"datasource", "kind"}),
		rules:       ds("rules", "Rules in force from the datasource."),
		rejected:    ds("rejected_rules", "Rules left out of the last applied payload."),
		health:      ds("health", "The datasource's connection state: 1 for the current state, 0 for the others.", "state"),
		lastSuccess: ds("last_success_timestamp_seconds", "When a value was last applied from the source or a write (0: never)."),
		snapshot:    ds("using_snapshot", "1 when the rules in force came from the local snapshot, not the source."),
		failing:     ds("failing", "1 while the datasource's last read, watch or decode failed."),
		pass:        res("pass_per_second", "Calls admitted in the last second."),
		block:       res("block_per_second", "Calls blocked in the last second."),
		success:     res("complete_per_second", "Calls completed (Exit) in the last second."),
		errs:        res("error_per_second", "Completed calls that reported an error in the last second."),
		rt:          res("avg_response_time_milliseconds", "Average response time of the calls completed in the last second."),
		threads:     res("concurrency", "Calls in flight."),
	}
}

// AddDataSource makes the collector report ds under its Status().Name; give
// each datasource its own name (datasource.WithName).
func (c *Collector) AddDataSource(ds StatusReporter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sources = append(c.sources, ds)
}

// AddEngine makes the collector report the resources of e under the engine
// label name, replacing an engine added under the same name.
func (c *Collector) AddEngine(name string, e *engine.Engine) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.engines[name] = e
}

// Observer returns a datasource observer that counts events by datasource and
// kind; pass it with datasource.WithObserver.
func (c *Collector) Observer() datasource.Observer {
	return datasource.ObserverFunc(func(e datasource.Event) {
		c.events.WithLabelValues(e.Name, e.Kind.String()).Inc()
	})
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.events.Describe(ch)
	for _, d := range []*prometheus.Desc{
		c.rules, c.rejected, c.health, c.lastSuccess, c.snapshot, c.failing,
		c.pass, c.block, c.success, c.errs, c.rt, c.threads,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.events.Collect(ch)
	c.mu.Lock()
	sources := append([]StatusReporter(nil), c.sources...)
	engines := make(map[string]*engine.Engine, len(c.engines))
	for k, v := range c.engines {
		engines[k] = v
	}
	c.mu.Unlock()

	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, ds := range sources {
		st := ds.Status()
		gauge(c.rules, float64(st.RuleCount), st.Name)
		gauge(c.rejected, float64(st.Rejected), st.Name)
		for _, h := range healthStates {
			gauge(c.health, boolFloat(st.Health == h), st.Name, h.String())
		}
		var ts float64
		if !st.LastSuccess.IsZero() {
			ts = float64(st.LastSuccess.UnixNano()) / 1e9
		}
		gauge(c.lastSuccess, ts, st.Name)
		gauge(c.snapshot, boolFloat(st.UsingSnapshot), st.Name)
		gauge(c.failing, boolFloat(st.LastError != nil), st.Name)
	}
	for name, e := range engines {
		for r := range e.Resources() {
			st := r.Stats()
			gauge(c.pass, st.PassQPS, name, st.Resource)
			gauge(c.block, st.BlockQPS, name, st.Resource)
			gauge(c.success, st.SuccessQPS, name, st.Resource)
			gauge(c.errs, st.ErrorQPS, name, st.Resource)
			gauge(c.rt, st.AvgRTMs, name, st.Resource)
			gauge(c.threads, float64(st.Concurrency), name, st.Resource)
		}
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
