// Package tokenserver is a cluster token server: it grants tokens for the
// cluster-mode flow and hot-param rules of the namespaces it serves, with the
// semantics of Sentinel 1.8's default token server (DefaultTokenService,
// ClusterFlowChecker, ClusterParamFlowChecker), and speaks Sentinel's cluster
// protocol (package wire) to Go and Java token clients.
//
//	nsSet := property.New(property.WithInitial([]string{"orders", "payments"}))
//	s, err := tokenserver.New(
//		tokenserver.WithNamespaces(nsSet),
//		// datasources of "<ns>-flow-rules" and "<ns>-param-rules", opened and
//		// closed as namespaces come and go (package ruleapply):
//		tokenserver.WithRuleSupplier(ruleapply.ClusterRules(ctx, factory)),
//		tokenserver.WithFlowConfig(flowCfg),           // *property.Property[FlowConfig]
//		tokenserver.WithTransportConfig(transportCfg)) // *property.Property[TransportConfig]
//	err = s.Start(ctx) // standalone: listen on the transport port
//
// Embedded in an application (WithEmbedded), the server is also the
// application's own token service: e.Flow().SetTokenService(s).
// ruleapply.BindTokenServer binds all of it (namespace set, transport and
// flow configs, rules) to a config center under the dashboard's data ids;
// with ruleapply.Embedded it serves the application's namespace from the
// application's own rule datasources.
//
// # Namespaces and rules
//
// The namespace set is a property; "default" (and an embedded application's
// namespace) is always served. When a namespace enters the set, the supplier
// makes its rule properties; when it leaves, the server unsubscribes and calls
// their Close. Only rules with clusterMode set count; invalid ones are
// skipped and reported in Status. A flowId is unique across the namespaces of
// a server (flow and param rules each have their own ids): a second rule with
// a flowId already served is not served, and is logged and reported
// (Status.Conflicts) rather than silently shadowing the first. A rule keeps
// its counters across reloads as long as its flowId and window stay.
//
// # Checks
//
// A FLOW request for flowId: no rule -> NO_RULE_EXISTS; the namespace's
// requests per second over maxAllowedQps -> TOO_MANY_REQUEST; then remaining
// = threshold x exceedCount - average passed QPS of the rule's window -
// acquireCount, where threshold is the rule's count (GLOBAL) or count x the
// clients connected in the rule's namespace (AVG_LOCAL; none connected blocks
// everything). remaining >= 0 -> OK(remaining). Else a prioritized request
// whose waiting share is within maxOccupyRatio x threshold, and for which the
// window has room once its oldest bucket drops out, is promised to the next
// bucket: SHOULD_WAIT(waitInMs); otherwise BLOCKED. A PARAM_FLOW request
// passes only if every value has room under its own threshold (its exception
// item's count, else the rule's count, x the clients for AVG_LOCAL; no
// exceedCount, as in Sentinel), and then counts every value; values are
// compared with their Java types, so Integer 1 and Long 1 are two values. An
// invalid flowId or count is BAD_REQUEST.
//
// # Where this server differs from Sentinel's, on purpose
//
//   - Check and count are one step per rule (Sentinel's are not atomic, so
//     concurrent requests can together pass more than the threshold).
//   - SHOULD_WAIT's waitInMs is the time until the next bucket starts;
//     Sentinel answers 1000 / sampleCount whatever the time.
//   - A rule's counters use its clusterConfig window (sampleCount,
//     windowIntervalMs). The server config's intervalMs and sampleCount shape
//     each namespace's request counter; Sentinel uses them to re-create every
//     rule's counters when they change.
//   - Invalid flow and transport configs are refused (logged, Status) and the
//     previous ones stay. Port 0 picks a free port.
//   - A client that PINGs another namespace moves to it (Sentinel keeps
//     counting it in the first one too).
//   - A PARAM_FLOW request with an unknown parameter tag is dropped whole
//     (Sentinel skips the byte and reads on out of step).
//   - Exception items' classType accepts the names engine/param accepts
//     ("Integer" as well as "int" and "java.lang.Integer"); "float" and
//     "double" are told apart, and a "char" item never matches (the protocol
//     cannot carry a Character).
//
// As in Sentinel, an embedded application's own calls do not count as a
// connected client for AVG_LOCAL, and a connection silent for idleSeconds is
// closed (token clients of package tokenclient ping to stay connected).
package tokenserver
