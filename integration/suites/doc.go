// Package suites holds the end-to-end suites that run rulesync against
// real config-center servers: a source (sources/etcd, sources/redis) feeding a
// datasource.DataSource through the flow codec into an engine.Engine, and
// writes going back through the datasource with compare-and-set.
//
// The cluster suites run our token server and client against real Java
// Sentinel (the harness's Java interop program): a Java token client against
// our server, ours against Java's, and benchmarks of both servers in one run.
//
// The servers come from the harness subpackage (Docker images or local
// binaries); no SDK is ever mocked. Without a server the suites skip, unless
// RULESYNC_REQUIRE_SERVERS=1. The package has no non-test code besides this
// documentation.
package suites
