// Package param is hot-parameter flow control: Sentinel's ParamFlowRule, which
// limits calls per value of one argument (a user id, an item id, a client IP)
// rather than per resource.
//
// A Manager holds the rules in force. Check selects the argument named by a
// rule's paramIdx from the call's arguments (engine.WithArgs) and keeps one
// small state per value: a token bucket (QPS grade, reject behaviour), a
// last-pass timestamp (QPS grade, rate-limiter behaviour) or a concurrency counter
// (thread grade). The values tracked per rule are bounded by an LRU
// (WithMaxTrackedValues), whose short lock is the only one a call can meet. A
// lock-free slot in front of the LRU holds the state of the value looked up
// last, so a value that repeats (a constant argument, a burst of one user's
// calls) costs no lock and no hash.
//
// # Values and exception items
//
// Arguments are normalized before they are counted or matched, so that one
// value is one bucket whatever Go type carries it:
//
//   - all integer kinds (int, int8..int64, uint..uint64, and named types of
//     those kinds, including rune and byte) become an int64; a uint64 above
//     math.MaxInt64 stays a distinct unsigned value;
//   - float32 and float64 become a float64, and a float with an integral value
//     that fits an int64 becomes that int64: numbers are equal when their
//     values are equal (5, int64(5) and 5.0 are one value; 5.5 is another);
//   - strings (and named string types), []byte and StringRef become a string;
//   - bools stay bools;
//   - any other comparable value (a struct, a pointer) is used as is; values
//     that cannot be compared (maps, funcs, structs holding slices) never match
//     a rule, so the rule does not apply to them.
//
// An argument that implements Argument (Sentinel's ParamFlowArgument) is
// replaced by its ParamFlowKey before any of this.
//
// An exception item's Object is parsed by its ClassType and normalized the
// same way: "int"/"Integer", "long", "short", "byte" (and their java.lang
// names) parse as integers within the Java type's range; "double" and "float"
// as floats; "boolean" as true or false (case-insensitive); "char" as exactly
// one character, whose code point is an integer (Go's rune is an int32, so a
// char item 'a' matches the argument 'a' and the integer 97, not the string
// "a"); anything else, including "" and "String", is a string. An item whose
// Object does not parse for its ClassType, or whose Count is negative, is
// dropped: the rule itself still loads with the other items, the manager logs
// the dropped item at warn level, and Rule.ValidItems reports it. When two items
// name the same value, the later one wins.
//
// An argument that is a slice or array (other than []byte) is checked element
// by element, as Sentinel checks collections: the call passes only if every
// element passes. Nested slices are not looked into.
//
// # Semantics
//
// The checks follow Sentinel 1.8's ParamFlowChecker:
//
//   - paramIdx selects Args[paramIdx]; a negative index counts from the end
//     (-1 is the last argument). An index out of range or a nil argument means
//     the rule does not apply to the call.
//   - The threshold of a value is the count of its exception item, or else the
//     rule's count truncated to an integer. A threshold of 0 blocks the value.
//   - QPS grade with the reject behaviour (and with warm-up, which Sentinel's
//     param rules do not implement either): a token bucket per value holding at
//     most threshold+burstCount tokens, refilled by threshold tokens per
//     durationInSec; the refill happens once a whole duration has passed since
//     the last refill and adds threshold*elapsed/duration tokens, capped at the
//     maximum.
//   - QPS grade with the rate-limiter behaviour: calls of one value are spaced
//     durationInSec*1000/threshold ms apart; a call that would have to wait
//     strictly less than maxQueueingTimeMs sleeps (on the manager's clock)
//     and passes, the others are blocked. Behaviour 3 (warm-up + rate limiter)
//     is treated like behaviour 0, as Sentinel does.
//   - Thread grade: a concurrency counter per value. Check takes a slot when the
//     call passes and Exit gives it back. A value pushed out of the LRU forgets
//     its count, as in Sentinel, so keep the bound above the number of distinct
//     values in flight at once.
//   - limitApp is carried but not checked, as in Sentinel, whose hot-param
//     checker ignores it.
//   - Cluster mode (QPS grade): with a token service set (SetTokenService,
//     for example a cluster token client or an embedded token server), the
//     values of the rule's argument (one value, or the elements of a slice)
//     are sent in one request. OK passes, BLOCKED blocks, and any other answer
//     or an error (no server, a timeout, NO_RULE_EXISTS, SHOULD_WAIT...) falls
//     back to the local check when clusterConfig.fallbackToLocalWhenFail is set
//     (false by default for param rules) and passes otherwise, as Sentinel's
//     ParamFlowChecker does. Without a token service the rule falls back the
//     same way. Thread-grade rules are always checked locally, as in Sentinel.
//   - A rule with regex set applies to every resource its resource pattern
//     matches (the whole name, as Java's String.matches), and counts each of
//     those resources apart.
//
// # Reloads
//
// Load swaps in a new immutable rule set; Check and Exit never wait for it. A
// rule equal to one in force (Rule.Equal: the id and a blank vs "default"
// limitApp do not matter) keeps the previous rule's per-value state, so its
// buckets, rate-limiter slots and concurrency counts go on as if nothing had
// happened. A changed rule starts from empty state: calls still in flight
// under the old rule then do not count against it, and their Exit finds
// nothing to give back (counts never go below zero).
//
// # Contract with the caller
//
// Whoever calls Check and receives nil must call Exit with the same Context
// (same Resource and Args) exactly once, also when a later check blocks the
// call: thread-grade rules hold a slot from Check until Exit. When Check blocks,
// it has already given back the slots it took, and Exit must not be called.
package param
