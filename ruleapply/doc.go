// Package ruleapply is where datasources meet the engine's rule managers.
//
// It holds the rule-type table: one Type per rule family (Flow, Degrade,
// System, Authority, Param, GatewayFlow, GatewayAPI) with its Spring Cloud
// Alibaba name, the Sentinel dashboard's data id, its codec and how its
// value reaches an engine's manager. Everything that loops over rule types
// (BindApp, the command line, startup files, the dashboard's commands) loops
// over RuleTypes; code that holds a name at run time uses LookupRuleType and
// the untyped RuleType and Binding faces.
//
// Bind loads every value of a rule property into a manager. BindApp binds
// every rule type of an application at once, one datasource per data id
// ({app}-flow-rules, {app}-degrade-rules, ...), and returns the App whose
// Bindings write rules back through their datasources.
//
// The table also holds the Sentinel dashboard's cluster configuration
// (ClusterMap, ServerNamespaceSet, ServerTransport, ServerFlow), whose
// Target says they configure a token server or the cluster assignment rather
// than an engine's manager; BindApp leaves them out. ClusterRules is a token
// server's rule supplier over a SourceFactory: each namespace's flow and
// param rules from {namespace}-flow-rules and {namespace}-param-rules, opened
// when the namespace is served and closed when it is dropped.
// BindTokenServer binds a whole token server (namespace set, transport and
// flow configs, rules); with Embedded(app) the server shares app's own rule
// datasources, so that the application and its server read the same rules.
package ruleapply
