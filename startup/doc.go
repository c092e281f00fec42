// Package startup registers every datasource of a service from one YAML file
// at startup: the file declares the datasources, keyed the way Spring Cloud
// Alibaba keys spring.cloud.sentinel.datasource, and one call opens them all,
// binds each to its rule family in an engine, and returns one Handle that
// closes everything and reports every datasource's status.
//
//	app: shop
//	snapshot-dir: /var/lib/shop/rules
//	resync: 5m
//	datasource:
//	  flow:
//	    file:
//	      file: /etc/shop/flow-rules.json
//	      rule-type: flow
//	  degrade:
//	    etcd:
//	      endpoints: 10.0.0.1:2379,10.0.0.2:2379
//	      key-prefix: /sentinel/
//	      data-id: ${app}-degrade-rules
//	      rule-type: degrade
//	      username: shop
//	      password-env: ETCD_PASSWORD
//
// and in Go:
//
//	backends := datasource.Backends{file.Backend(), etcd.Backend()}
//	h, err := startup.OpenFile(ctx, e, "rulesync.yaml", backends)
//	if err != nil { ... } // every problem of the file, each with its YAML path and line
//	defer h.Close()
//
// # The file
//
// Top-level keys: app (the application's name, which ${app} stands for in
// datasource values), snapshot-dir (the last good payload of each datasource
// is kept there and used when its source cannot be reached at startup),
// resync (a full read of every source this often, under its watch),
// initial-timeout (how long the first read of each source may take, default
// 3s) and datasource. The keys dashboard and cluster connect the Sentinel
// dashboard's heartbeat and command API and cluster flow control (a token
// client or an embedded token server); package startup/sections brings
// them, and a program passes them with WithSection:
//
//	h, err := startup.OpenFile(ctx, e, "rulesync.yaml", backends,
//		startup.WithSection(sections.Dashboard()), startup.WithSection(sections.Cluster()))
//
// A file with either key is refused unless its Section is given. Any
// Section's settings are checked with the rest of the file at Load (its
// Params and its Check), and Handle.Section returns what it started.
//
// Each datasource.<name> holds exactly one backend key, a name from the
// backend table the program passes (file, etcd, redis, ...), and under it:
//
//   - rule-type (required): a name from the rule-type table (flow, degrade,
//     system, authority, param-flow, gw-flow, gw-api-group);
//   - data-type (optional): json (the default) or yaml; payloads are read as
//     JSON or YAML whatever it says, other values (Spring's xml) are refused;
//   - data-id (optional): the payload's data id, which the backend turns into
//     its own keys (file: dir/<data id>.json; etcd: key-prefix + data id);
//   - every parameter of that backend, as the backend table describes it
//     (`rulesync get -h` lists them). A secret parameter (password, token) may
//     be given as <name>-env, the environment variable holding it, or
//     <name>-file, a file holding it; a secret is never printed.
//
// A list value (endpoints: [a, b]) is the same as a comma-separated one. An
// empty value is the same as leaving the key out.
//
// One rule type is bound by one datasource: a second datasource of the same
// rule type would overwrite the first one's rules with each of its changes,
// so it is refused.
//
// # Environment
//
// An environment variable named after a key's path overrides or adds that
// key: the prefix (RULESYNC by default, see WithEnvPrefix), then the path
// with dots and dashes written as underscores, upper-cased.
// RULESYNC_RESYNC=1m sets resync; RULESYNC_DATASOURCE_DEGRADE_ETCD_ENDPOINTS
// sets the endpoints of the datasource named degrade, which the file must
// declare (with its backend). A variable under RULESYNC_DATASOURCE_ that names
// no key is a problem like a misspelt key.
//
// # Errors
//
// Load and Parse check the whole file against the two tables without
// connecting anything (the CLI's `rulesync check-config` does the same), and
// return one *ConfigError (errors.Is(err, ErrInvalid)) that lists every
// problem with its YAML path and line: a key that is not known (with the one
// probably meant), an unknown backend or rule type, a missing required key, a
// value that is not of its kind, a secret whose variable or file cannot be
// read. Probe then tries each source once.
//
// # Logging
//
// Open passes its logger (WithLogger, default slog.Default()) to every
// datasource, which logs each of its events in one line; this package logs
// nothing of its own.
package startup
