// Package datasource keeps a typed rule value in sync with a Source: initial
// load, watch, reconnect with backoff, dedupe, last-known-good, an optional local
// snapshot for disaster recovery, status and events, and compare-and-set writes.
package datasource
