// Package engine is a Sentinel-style flow-control engine: Entry checks a call
// against the rule families (authority, system, gateway, hot param, flow,
// degrade, in Sentinel's slot order), counts it in sliding-window statistics, and
// Exit records its response time and outcome.
//
//	e := engine.New()
//	ctx = engine.WithOrigin(ctx, "appA")
//	en, err := e.Entry(ctx, "GET:/orders", engine.Inbound())
//	if err != nil {
//		var be *engine.BlockError
//		errors.As(err, &be) // which family and rule blocked the call
//		return
//	}
//	defer en.Exit()
//
// Rules are loaded into the managers returned by Flow, Degrade, and so on; a
// reload swaps an immutable rule set atomically, so Entry never waits for it.
//
// A BlockError's Family (FamilyFlow, FamilyDegrade, ...) tells which family
// blocked the call. Resources and Resource give a read-only view of the
// statistics kept per resource (pass, block, success and error QPS, average
// RT, concurrency), as a dashboard or metrics exporter reads them. Tests drive
// time with a ManualClock (WithClock). These names are all a user needs: the
// engine's counters and per-call machinery are internal to it, and the rule
// families' shared vocabulary is package base.
//
// Rate-limiter rules and Prioritized calls may make Entry wait its turn (at
// most the rule's maxQueueingTimeMs, or 500 ms). The wait ends early when ctx
// does; the call is then blocked, and errors.Is(err, context.Canceled) (or
// DeadlineExceeded) tells it apart from a call refused outright.
//
// A passed call costs no allocation: the Entry is pooled, which is why Exit must
// be called exactly once and the Entry not touched afterwards. Each call reads
// the clock twice; WithCoarseClock trades a millisecond of precision for a
// cheaper read. The first system rule on the load average or CPU usage starts a
// goroutine that samples them; Close stops it.
package engine
