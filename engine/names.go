package engine

import (
	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

// Family names a rule family; BlockError.Family says which one blocked a call.
// It is base.Family, the one definition that every package uses.
type Family = base.Family

// The rule families, as BlockError.Family reports them.
const (
	FamilyFlow       = base.FamilyFlow
	FamilyDegrade    = base.FamilyDegrade
	FamilySystem     = base.FamilySystem
	FamilyAuthority  = base.FamilyAuthority
	FamilyParam      = base.FamilyParam
	FamilyGateway    = base.FamilyGateway
	FamilyGatewayAPI = base.FamilyGatewayAPI
	FamilyCluster    = base.FamilyCluster
)

// The cluster configuration types (see base.FamilyClusterMap): rule types of
// the same table, which configure token servers and clients rather than an
// engine's rule managers.
const (
	FamilyClusterMap         = base.FamilyClusterMap
	FamilyServerNamespaceSet = base.FamilyServerNamespaceSet
	FamilyServerTransport    = base.FamilyServerTransport
	FamilyServerFlow         = base.FamilyServerFlow
)

// LoadReport is what a rule manager's Load says: rules loaded, duplicates,
// rejected rules with their reasons, rules whose state carried over.
type LoadReport = base.LoadReport

// Rejection is one rule that Load did not load, and why.
type Rejection = base.Rejection

// Clock tells the engine the time and lets it wait. The engine and its rule
// families never read time.Now directly, so that tests can drive time by
// hand with a ManualClock; pass a clock with WithClock.
//
// A Clock may also implement SleepContext(ctx, d) error, to stop waiting when
// a call's context ends; the clocks of this package do.
type Clock = stat.Clock

// SystemClock reads the monotonic clock; it is the default Clock.
type SystemClock = stat.SystemClock

// ManualClock is a Clock for tests: time moves only through Advance, Set or
// Sleep (which advances it instead of blocking). It is safe for concurrent use.
type ManualClock = stat.ManualClock

// NewManualClock returns a ManualClock reading startMs milliseconds. Start
// well past zero, as a real clock would be.
func NewManualClock(startMs int64) *ManualClock { return stat.NewManualClock(startMs) }

// DefaultMaxResources is how many distinct resources get statistics unless
// WithMaxResources says otherwise.
const DefaultMaxResources = stat.DefaultMaxResources
