// Package base holds the types that the engine and its rule families share: the
// per-call Context each family checks, the BlockError a family returns, and the
// LoadReport a rule manager returns. It sits below the engine so that the rule
// families need not import the engine that wires them together.
package base

import (
	"context"
	"fmt"
	"time"

	"github.com/rulesync/rulesync/engine/stat"
)

// Family names a rule family. The names are the rule types of Spring Cloud
// Alibaba's datasource configuration (rule-type: flow, param-flow, gw-flow,
// ...), so that one vocabulary serves block errors, configuration files, the
// command line and the dashboard.
type Family string

// The rule families. FamilyGatewayAPI holds the gateway's API definitions,
// which never block a call themselves; FamilyCluster marks a block decided
// by a token server.
const (
	FamilyFlow       Family = "flow"
	FamilyDegrade    Family = "degrade"
	FamilySystem     Family = "system"
	FamilyAuthority  Family = "authority"
	FamilyParam      Family = "param-flow"
	FamilyGateway    Family = "gw-flow"
	FamilyGatewayAPI Family = "gw-api-group"
	FamilyCluster    Family = "cluster"
)

// Context is what a rule family sees of one call. The engine fills it in Entry,
// hands it to each family's check, and to each family's exit hook. It is pooled:
// families must not keep a pointer to it after the call returns.
type Context struct {
	Resource    string
	Node        *stat.ResourceNode // the resource's statistics; nil when the registry is full
	Origin      string             // the caller (limitApp / authority), "" if unknown
	Entrance    string             // the entrance (Sentinel's context name) for chain rules
	Inbound     bool               // inbound traffic: system rules apply
	Count       int64              // tokens acquired, usually 1
	Prioritized bool               // may borrow from the next window
	Args        []any              // hot-param arguments
	NowMs       int64              // clock reading at Entry
	StartNanos  int64              // clock reading at Entry, for RT
	Err         error              // business error recorded at Exit
	RTMs        int64              // response time, set before exit hooks run
	Blocked     *BlockError        // set when the call was blocked

	// Ctx is the context the call was entered with. A call waiting in line
	// (rate limiter, prioritized borrowing, a cluster wait) stops waiting
	// when it ends; see Wait. It may be nil.
	Ctx context.Context
	// WaitErr is the error of the wait a call gave up (Wait), which the
	// family reports as the Cause of its BlockError.
	WaitErr error

	// Exit hooks registered by families during the check (param concurrency
	// release, a degrade probe), run by the engine at Exit in reverse order.
	exits [4]ExitHook
	nexit int
	more  []ExitHook
}

// ExitHook runs when a call exits, or when a later check blocks a call that this
// family already admitted (then Context.Blocked is set), so that the family can
// hand back what it took (a concurrency slot, a half-open probe).
type ExitHook interface {
	OnExit(c *Context)
}

// AddExit registers h to run at Exit. It does not allocate for the first four hooks.
func (c *Context) AddExit(h ExitHook) {
	if c.nexit < len(c.exits) {
		c.exits[c.nexit] = h
		c.nexit++
		return
	}
	c.more = append(c.more, h)
}

// RunExits runs the registered hooks, last registered first, and forgets them.
func (c *Context) RunExits() {
	for i := len(c.more) - 1; i >= 0; i-- {
		c.more[i].OnExit(c)
		c.more[i] = nil
	}
	c.more = c.more[:0]
	for i := c.nexit - 1; i >= 0; i-- {
		c.exits[i].OnExit(c)
		c.exits[i] = nil
	}
	c.nexit = 0
}

// Wait makes the call wait d on clock, its time in line before it may pass,
// unless c.Ctx ends first. Then it records the context's error in c.WaitErr
// and returns it, and the family blocks the call. The place in line that the
// call had reserved is not given back: an abandoned wait can make later calls
// wait a little longer, never let more calls pass.
func (c *Context) Wait(clock stat.Clock, d time.Duration) error {
	err := stat.SleepContext(c.Ctx, clock, d)
	if err != nil {
		c.WaitErr = err
	}
	return err
}

// Reset clears c for reuse.
func (c *Context) Reset() {
	more := c.more[:0]
	*c = Context{}
	c.more = more
}

// BlockError tells which rule of which family blocked a call on which resource.
type BlockError struct {
	Family   Family
	Resource string
	Rule     any    // the rule that blocked, a value of the family's rule type (for system rules: the rule that set the exceeded threshold)
	Reason   string // short, e.g. "qps 12 > count 10"
	Value    any    // the hot-param value that was limited, if any
	// WaitMs is set by cluster/rate-limited checks that asked the caller to wait but timed out.
	WaitMs int64
	// Cause is why a call that was waiting in line gave up: the error of its
	// context (context.Canceled or context.DeadlineExceeded), nil otherwise.
	// errors.Is sees through to it.
	Cause error
}

// Error implements error.
func (e *BlockError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("rulesync: %s: blocked by %s rule", e.Resource, e.Family)
	}
	return fmt.Sprintf("rulesync: %s: blocked by %s rule: %s", e.Resource, e.Family, e.Reason)
}

// Is makes errors.Is(err, ErrBlocked) true for every BlockError.
func (e *BlockError) Is(target error) bool { return target == ErrBlocked }

// Unwrap returns the Cause, so that errors.Is(err, context.Canceled) tells a
// call whose caller went away while it waited in line.
func (e *BlockError) Unwrap() error { return e.Cause }

// ErrBlocked matches any *BlockError with errors.Is.
var ErrBlocked = fmt.Errorf("rulesync: blocked")

// Rejection is one rule that was not loaded.
type Rejection struct {
	Index    int    // position in the input list
	Resource string // the rule's resource (or apiName), if it had one
	Reason   string
}

// String formats the rejection for logs.
func (r Rejection) String() string {
	return fmt.Sprintf("rule %d (%q): %s", r.Index, r.Resource, r.Reason)
}

// LoadReport is what a rule manager says about a Load.
type LoadReport struct {
	Loaded     int         // rules in force after the load (after duplicates collapsed)
	Duplicates int         // rules dropped as duplicates of an earlier one
	Rejected   []Rejection // invalid rules, skipped
	Kept       int         // rules whose runtime state (counters, breakers, buckets) was carried over
	Notes      []string    // what was loaded but changed, e.g. a dropped hot-param exception item
}

// Validator is implemented by every rule type.
type Validator interface {
	// Validate returns nil or an error naming the field that is wrong.
	Validate() error
}
