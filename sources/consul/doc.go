// Package consul is a datasource.Source for one key of Consul's KV store.
package consul
