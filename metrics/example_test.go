package metrics_test

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/metrics"
	"github.com/rulesync/rulesync/sources/file"
)

// A service exports its datasources and its engine on /metrics.
func ExampleCollector() {
	e := engine.New()
	defer e.Close()
	c := metrics.NewCollector()
	c.AddEngine("main", e)

	src, err := file.New("/etc/myapp/flow-rules.json")
	if err != nil {
		return
	}
	ds := datasource.New(src, converter.Flow(), datasource.WithName("flow"), datasource.WithObserver(c.Observer()))
	defer ds.Close()
	c.AddDataSource(ds)

	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}
