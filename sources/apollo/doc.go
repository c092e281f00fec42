// Package apollo is a datasource.Source for one item of an Apollo namespace,
// the way the Sentinel samples keep rules in Apollo: the item
// {app}-flow-rules (and so on) of a properties namespace holds the rules'
// JSON, and a release publishes it.
PLACEHOLDER
package apollo
