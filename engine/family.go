package engine

import "github.com/rulesync/rulesync/engine/base"

// Family names a rule family, as BlockError.Family reports it. The names are
// Spring Cloud Alibaba's rule types ("flow", "param-flow", "gw-flow", ...).
type Family = base.Family

// The rule families, for tests such as be.Family == engine.FamilyFlow.
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

// LoadReport is what a rule manager says about a Load.
type LoadReport = base.LoadReport

// Rejection is one rule a manager did not load, and why.
type Rejection = base.Rejection
