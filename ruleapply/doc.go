// Package ruleapply is where datasources meet the engine's rule managers: it
// binds a rule property to a manager so that every change is loaded, and binds
// all rule families of an application at once using the Sentinel dashboard's
// naming conventions ({app}-flow-rules, {app}-degrade-rules, ...).
package ruleapply
