// Package cluster is cluster flow control: flow and hot-param rules whose
// thresholds hold for a whole cluster of application instances rather than
// for each one, wire-compatible with Java Sentinel's cluster modules. This
// package holds the cluster assignment, the Sentinel dashboard's
// {app}-cluster-map: ServerGroup lists a token server and its clients, and
// Assign tells a machine its role. The parts live in sub-packages:
//
//   - wire: the byte layout of Sentinel's cluster protocol (frames, PING,
//     FLOW and PARAM_FLOW requests and their answers, Java-typed values).
//   - tokenserver: a token server serving namespaces, each with the cluster
//     rules of a property that a supplier makes; embedded in an application
//     (a flow.TokenService with no network) or standalone on TCP.
//   - tokenclient: a token client with a bounded request timeout, periodic
//     PINGs, reconnection with backoff and failover across several servers.
//   - redistoken: a token service that counts in Redis instead of a token
//     server (standalone, Sentinel or Cluster).
//
// Every one of them is a flow.TokenService and a base.ParamTokenService. An
// application hands one to its rule managers:
//
//	e.Flow().SetTokenService(ts)
//	e.Param().SetTokenService(ts)
//
// and its cluster-mode rules then ask it for tokens, falling back as Sentinel
// does when it cannot answer: flow rules check locally when their
// clusterConfig.fallbackToLocalWhenFail is set (the default) and pass
// otherwise; param rules the same, with fallbackToLocalWhenFail false by
// default. The server and the clients must read the same rules: a client
// whose rule the server lacks gets NO_RULE_EXISTS and falls back. Package
// ruleapply makes that hold: ruleapply.ClusterRules gives the server each
// namespace's rules from the keys the applications read
// ({namespace}-flow-rules), and ruleapply.Embedded shares one datasource
// between an application's engine and its embedded server.
package cluster
