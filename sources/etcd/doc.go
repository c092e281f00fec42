// Package etcd is a datasource.Source for one etcd key, writable with
// compare-and-set on the key's mod revision.
//
// Revisions are the key's ModRevision in decimal; a missing key has revision "".
// Watch resumes from the revision the caller holds, so nothing that happened
// while the caller was away is skipped; when etcd has compacted that history, the
// source reads the key again, emits it, and watches on from the new revision.
//
// New wraps a client the caller owns (TLS and auth configured there); Dial
// creates, and Close closes, a client of its own. Passwords never appear in
// errors or logs.
package etcd
