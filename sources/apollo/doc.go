// Package apollo is a datasource.Source for one item of an Apollo namespace,
// the way the Sentinel samples keep rules in Apollo: the item
// {app}-flow-rules (and so on) of a properties namespace holds the rules'
// JSON, and a release publishes it. It lives in a module of its own, so that
// agollo and its dependencies (viper among them) reach only programs that
// import it.
//
// # Reading
//
// Each Source runs an agollo (v5) client of its own for its (app, cluster,
// namespace), from the first read that finds the namespace released (until
// then the source reads it every second itself: agollo takes the config
// service's 404 for a namespace without release as a failed server). agollo holds the long poll on /notifications/v2 and reconnects
// by itself; when an event of the namespace touches the source's key, the
// source reads the namespace from the config service (GET /configs/{app}/
// {cluster}/{namespace}, signed with agollo's access-key code when a secret
// is set) and emits the key's value. Every emitted value is thus the
// server's current release, emitted in order from one goroutine, whatever
// order agollo's per-event goroutines run in; nothing waits in agollo's
// blocking GetValue. Reading the config service, rather than agollo's
// cache, is what lets Read tell a namespace without a release (404: the key
// is missing, no error) from a server that cannot be reached (an error),
// which agollo's cache cannot, and bound each read by a context, which
// agollo's requests are not. A watch that hears nothing for HealthCheck
// (default 30s) reads anyway, as Apollo's Java client refreshes every five
// minutes: a change agollo did not report is emitted then, and a config
// service that fails that read and the next one ends Watch with an error
// wrapping datasource.ErrSilent, so that the datasource reports it.
//
// agollo's backup files are off; a datasource's WithSnapshotDir (written
// atomically) covers a config service that is down at startup. Revisions
// are the SHA-256 of the value (datasource.ContentRevision): the config
// service exposes no version of one item.
//
// Several Sources in one process each have their own agollo client; agollo
// keeps a few package-level registries (its logger, a shared HTTP transport,
// and per config-service address the list of instances and which ones
// failed). A request that fails (a server restart, say) marks the config
// service down for every client of that address for 30 s, during which
// agollo's long polls pause; the sources' health reads do not depend on them
// (TestSeveralClientsInOneProcess, TestConvergesAfterServerRestart). In
// that window agollo's round robin would pick another instance that the
// config service listed, reading a flag that other clients write without
// its lock (a data race); the first Source to start agollo therefore
// replaces agollo's load balancer, process-wide, with one that picks none:
// agollo then waits out the 30 s, as it does when the configured address is
// the only instance. Give rulesync the address of a load balancer (or
// Apollo's meta server) rather than one instance.
//
// # Writing
//
// Apollo has no compare-and-set: an item update through the portal's OpenAPI
// is unconditional, and dataChangeLastModifiedTime is returned but never
// compared (nor served by the config service, so a revision cannot carry
// it). Write therefore checks around each step and returns an error
// wrapping datasource.ErrConflict wherever Apollo lets a conflict show:
//
//  1. It reads the latest release, then the namespace's items. The released
//     value must be at the expected revision; an unreleased edit of the key,
//     or of another key, by a user other than the Operator is refused, since
//     the release would publish it (a deleted key counts; edits by the
//     Operator are taken for another rulesync write in flight or the
//     leftover of a failed one).
//  2. It updates the item (PUT ...?createIfNotExists=true, as the Operator)
//     with a comment that marks this write: values can be equal, the marks
//     tell whose update the item holds.
//  3. It reads the item back (the mark must be its own: else a later update
//     stands and will be released by its writer) and the latest release: if
//     a release since step 1 carries another value of the key (neither the
//     one of step 1 nor this write's), the update just overwrote what it
//     published, so Write puts the released value back (if the item still
//     holds its mark) and fails.
//  4. It checks the mark once more and releases the namespace; the release
//     it gets back must carry its value, else a writer updated the item in
//     between and that value is in force.
//
// So of two rulesync writers that start from the same revision with
// different values, at most one succeeds, and a writer told it succeeded is
// never overwritten by one that did not see its value (TestRacingWritersOneConflicts
// runs such races). What remains, and what Apollo cannot guarantee:
//   - two writers that store equal bytes from the same revision can both
//     succeed: a release publishes values, not whose update they were. For
//     rules that is harmless (both wanted the same rules); a counter
//     incremented this way loses increments;
//   - an edit made in the portal and not released, between step 1 and step 2,
//     is overwritten and lost without anyone being told (its author sees the
//     item changed before releasing);
//   - an edit of another key made in the portal between step 1 and step 4 is
//     published by this write's release;
//   - the put-back of step 3 can itself overwrite an update that came
//     between its check and the put-back; if that update was also released,
//     its item then holds the older value until the next write, and a
//     release from the portal in between would publish it;
//   - a release from the portal publishes the Operator's leftover of a write
//     that failed after step 2 (its value was never confirmed);
//   - each write is six OpenAPI requests, so writers that contend
//     for one namespace conflict often: datasource.Update retries with
//     backoff.
//
// Use a namespace of its own for rules, and a portal user of its own as the
// Operator, to keep these windows to rulesync's own writers. With Apollo's
// namespace lock on, the editor may not release: give the Operator a role
// that may (or an emergency release), or writes fail.
//
// # TLS and credentials
//
// Config.TLS (or TLSFiles) applies to the source's own requests (reads and
// OpenAPI). agollo's long poll uses its own transport, which does not verify
// an https server's certificate (agollo sets InsecureSkipVerify for https);
// the values emitted always come from the source's own, verified reads. The
// access-key secret and the OpenAPI token never appear in errors, logs or a
// Config's String.
package apollo
