package engine

import "github.com/rulesync/rulesync/engine/internal/stat"

// RegistryOf and InboundNodeOf let the engine's tests read the counters that
// the public views summarize.
func RegistryOf(e *Engine) *stat.Registry { return e.reg }

func InboundNodeOf(e *Engine) *stat.Node { return e.inbound }
