// Package nacos is a datasource.Source for one Nacos config (namespace, group,
// data id), read, listened to and written with nacos-sdk-go v2 over Nacos 2.x's
// gRPC API: where Sentinel's dashboard in push mode, Spring Cloud Alibaba's
// spring.cloud.sentinel.datasource.<name>.nacos.* and Java Sentinel's
// NacosDataSource keep their rules.
//
// A Snapshot's Revision is the MD5 of the content in lower-case hex, which is
// what Nacos stores. Reads never fall back on the SDK's local snapshot: a
// stale copy must not pass for the server's value, so a server that cannot be
// reached is an error, and the datasource keeps its rules and retries. A
// missing config reads as Snapshot{Exists: false}; Nacos cannot store empty
// content, so a config deleted under a listener is a deletion too.
//
// Write publishes with the SDK's CasMd5: Nacos updates the config only when
// its md5 is the one read, and creates a config that does not exist whatever
// the md5, so a write that must create passes an md5 that cannot match. A
// refused compare-and-set is datasource.ErrConflict; the SDK keeps only the
// server's message, which the source recognises. Clearing the rules publishes
// "[]" (Nacos refuses empty content). There is no Delete: Nacos cannot delete
// on a condition.
//
// Watch registers one listener per Source for its life, then reads, so that
// nothing changed between the caller's read and the listener is lost. The SDK
// runs every listener call in a goroutine of its own, so calls that come close
// together can arrive out of order: the source emits what arrives, and a read
// shortly after settles which content is current. A quiet watch reads the
// config every WithHealthCheck period; a failed read ends it, and the
// datasource reconnects and reads again. The SDK reconnects by itself after a
// server restart or a network cut and then compares its listeners' md5s with
// the server's, so a change made while it was cut off is notified too.
//
// The SDK limits each process to 5 reads per second per config, listener
// refreshes included: past that, Read waits and retries until its context
// ends. Many writers of one config in one process (datasource.Update reads
// before each attempt) are paced by this limit.
//
// The SDK keeps one logger per process; Dial routes it to slog through an
// adapter that removes credentials (SetSDKLogger), and the SDK writes no log
// files. Passwords and secret keys never appear in errors, Status or events.
//
// nacos-sdk-go v2.3.5 has data races of its own, in
// common/remote/rpc/rpc_client.go: its reconnect replaces the current
// connection while requests read it (reconnect, Request), its lazy start on
// a client's first request writes that connection while concurrent first
// requests read it (Start; the source runs its first request alone), and
// Shutdown deletes the client from a process-wide map without the lock that
// every request takes to look it up (Shutdown, CreateClient; the source
// cancels its listener first, which keeps its own client's listen loop away
// from the map). The race detector reports the first whenever a client
// outlives a lost connection, so the repository's tests that keep a client
// across a server restart or a network cut run without it (`make
// test-norace`); the last can be reported when one client closes while
// another one in the process works.
package nacos
