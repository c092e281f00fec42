// Package redis is a datasource.Source for rules kept in Redis the way Java
// Sentinel's RedisDataSource keeps them: the rules live at a key (read with
// GET), and every change is published on a channel with the full payload as the
// message. Standalone, Sentinel and Cluster deployments work through
// redis.UniversalClient; TLS, passwords and ACL users are the client's options.
//
// Redis has no version for a key, so a Snapshot's Revision is the hex SHA-256 of
// the payload; a missing key has revision "". Writes use WATCH, compare the
// stored payload's hash with the expected revision and then
// MULTI / SET / PUBLISH / EXEC, so Java readers see exactly what they expect: a
// plain JSON array at the key and the same bytes on the channel. A concurrent
// change aborts the transaction and surfaces as datasource.ErrConflict.
//
// Delete runs DEL and publishes an empty message in the same transaction: Java
// readers treat an empty message as "no rules", and watchers of this package
// re-read the key on an empty message to tell a deletion (Exists false) from a
// key set to the empty string.
//
// Watch subscribes to the channel and reads the key again each time the
// subscription is (re)established, so a change made between the caller's Read
// and the subscription, or published while a connection was down, is not lost.
package redis
