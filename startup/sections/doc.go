// Package sections brings the dashboard and cluster sections of a startup
// file (package startup): each is a startup.Section that a program passes to
// startup.Open, Load or OpenFile with startup.WithSection, so that the file
// that declares the datasources also connects the Sentinel dashboard and
// cluster flow control:
//
//	app: shop
//	datasource:
//	  flow:
//	    file: {file: /etc/shop/flow-rules.json, rule-type: flow}
//	dashboard:
//	  server: dashboard.internal:8080
//	  listen: 0.0.0.0:8719
//	  allowed-clients: 10.0.0.0/24
//	cluster:
//	  mode: client
//	  servers: [10.0.0.7:18730, 10.0.0.8:18730]
//
// and in Go:
//
//	h, err := startup.OpenFile(ctx, e, "rulesync.yaml", backends,
//		startup.WithSection(sections.Dashboard()),
//		startup.WithSection(sections.Cluster()))
//
// The settings are checked with the rest of the file at Load (`rulesync
// check-config` does so), each problem reported with its YAML path and
// line, and may be overridden from the environment like any other key
// (RULESYNC_DASHBOARD_LISTEN, RULESYNC_CLUSTER_MODE, ...).
//
// The package is separate so that neither package startup nor package
// dashboard imports the other: it is the one place where they meet.
package sections
