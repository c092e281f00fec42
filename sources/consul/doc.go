// Package consul is a datasource.Source for one key of Consul's KV store,
// followed with blocking queries and written with check-and-set.
//
// Revisions are the key's ModifyIndex in decimal; a missing key has revision
// "". Read is a consistent read. Watch reads the key, then long-polls it
// with blocking queries from the index of the last answer (WithWaitTime),
// emitting only what changed; a request that fails ends Watch, and the
// datasource's sync loop backs off with jitter, reads the key again and
// watches on, so nothing written during an outage is missed.
//
// Write and Delete are one-operation transactions (/v1/txn): "cas" on the
// expected ModifyIndex (index 0: create only), "set" for
// datasource.AnyRevision, "delete-cas" and "delete"; the answer carries the
// new ModifyIndex, so a write knows its own revision without a second read.
// A refused check-and-set wraps datasource.ErrConflict.
//
// Keys are normalised: a leading "/" is dropped, so "/sentinel/app" and
// "sentinel/app" are the same key (Consul's reads strip it, its writes
// refuse it).
//
// New wraps a client the caller owns (TLS and token configured there); Dial
// creates one from a Config, with Consul's CONSUL_HTTP_* variables as
// defaults. A request Consul refuses to the token wraps ErrPermissionDenied
// and says which permission is missing (Consul names tokens by accessor ID);
// the token's secret never appears in errors or logs.
package consul
