// Package datasource keeps a typed rule value in sync with a Source: initial
// load, watch, reconnect with backoff, dedupe, last-known-good, an optional local
// snapshot for disaster recovery, status and events, and compare-and-set writes.
//
// # Who logs what
//
// A DataSource logs what happens to it, through WithLogger, and it is the
// only layer that does: every event gets exactly one line, with the
// datasource's name as the "datasource" attribute (once, from the logger) and
// the revision as "revision" (once; error messages in log lines leave both
// out, while the errors in Status and events keep them, since those are read
// on their own).
//
//   - An applied payload (Loaded or Updated, and the Rejected that may come
//     with it) is one line: INFO "rules applied" with the rule count; WARN when
//     some rules were rejected or keys are unknown, carrying the report, which
//     is printed nowhere else; WARN "every rule cleared" with "removed" when the
//     change leaves no rules where there were some.
//   - Unreadable is one ERROR line with the decoder's message, saying whether
//     earlier rules stay in force or none are (nothing was loaded yet).
//   - A missing value at start is one INFO line; Deleted one line (WARN with
//     "removed" when rules were cleared).
//   - SourceError is one WARN line, Reconnected and Written one INFO line each,
//     SnapshotUsed one WARN line.
//
// Each line is written before its event reaches the observers, so that an
// observer (or a test) that reacts to an event finds it logged.
//
// Observers (WithObserver) are for programs that act on events: metrics,
// health checks, tests. An observer that logs the same events again prints
// every fact twice; one that wants other wording should be given a logger
// that discards (slog.New(slog.DiscardHandler)) and log on its own. ruleapply logs only what
// the engine's managers reject, which the codec has not already reported.
package datasource
