// Package dashboard lets an unmodified Sentinel dashboard manage a Go
// service: it registers the service with the dashboard (the heartbeat of
// Java's sentinel-transport-simple-http), answers the dashboard's commands
// with Java's wire behaviour (rules, metrics, resources, cluster roles), and
// writes every rule change the dashboard makes through the rule type's
// datasource with compare-and-set, so that the config center stays the one
// source of truth and every instance follows it.
//
//	e := engine.New()
//	app, _ := ruleapply.BindApp(ctx, e, "orders", ruleapply.FactoryFor(etcd.Backend(), params))
//	agent, err := dashboard.New(e, "orders",
//		dashboard.WithListenAddr("10.0.0.7:8719"),
//		dashboard.WithDashboards("sentinel-dashboard.internal:8080"),
//		dashboard.WithRules(app))
//	...
//	err = agent.Start(ctx)
//	defer agent.Close()
//
// # Write-back
//
// The dashboard sends a machine's whole list of a rule type after each
// change. A set command decodes it (the dashboard's formats: entities
// without ids, flow and degrade rules without their regex flag, gateway
// rules with interval and intervalUnit), validates every rule, and stores
// the list with compare-and-set through the binding of ruleapply.App
// (WithRules); the rules are applied only from what was stored. The answer
// is "success" only when the store accepted the list: a refusal is a 4xx or
// 5xx with the reason as body. The dashboard shows that reason for flow and
// param-flow rules; for degrade, system, authority and gateway rules it
// logs the failure and shows success, and the rule disappears from its page
// at the next refresh, since the application answers the rules in force.
//
// A list is refused (409) when the rules changed since the client last
// read them (getRules) or wrote them: the change made meanwhile, through
// another instance or the config center, is reported rather than
// overwritten. It is also refused when it removes more rules than
// WithMaxRemoved allows (one): the dashboard changes one rule per action,
// so such a list comes from a dashboard that forgot the rules it read,
// typically after a restart, and would delete them everywhere.
//
// Rules keep their ids: a rule that arrives without one (the dashboard
// drops flow, degrade and system ids) takes the id of the rule in force it
// matches; a new rule, or one whose id another rule holds, gets a fresh id
// at most MaxID (2^53), so a restarted dashboard's small ids never take
// over an existing rule (Sentinel issue #2434).
//
// A rule type without a binding is refused, or applied in memory only as
// Java does (WithUnbound).
//
// # Security
//
// The command server listens on WithListenAddr (loopback by default) and
// serves only the clients of WithAllowedClients (loopback and the
// dashboards' hosts by default); other connections are closed before a byte
// is read. A request's data is bounded (WithMaxDataBytes), as is the time a
// client may take to send it. Every write is logged with the client's
// address, what changed and the revision it produced.
//
// # Statistics
//
// The agent makes the engine keep per-second history (engine.KeepHistory,
// WithHistorySeconds) for the metric command, which answers Sentinel's
// metric lines, and serves clusterNode and jsonTree from the engine's
// resources and call tree.
package dashboard
