package ruleapply

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rulesync/rulesync/codec"
	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/authority"
	"github.com/rulesync/rulesync/engine/cluster"
	"github.com/rulesync/rulesync/engine/degrade"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/gateway"
	"github.com/rulesync/rulesync/engine/param"
	"github.com/rulesync/rulesync/engine/system"
)

// Type describes one rule type to everything that loops over rule types: its
// name (Spring Cloud Alibaba's rule-type), the data id the Sentinel dashboard
// gives it, its codec, what its value configures (Target) and, for the rule
// families of an engine, how its value reaches and leaves the engine's
// manager. T is the decoded value: a rule list such as []flow.Rule, or a
// config such as cluster.TransportConfig.
//
// The values Flow, Degrade, System, Authority, Param, GatewayFlow and
// GatewayAPI (the engine's families), and ClusterMap, ServerNamespaceSet,
// ServerTransport and ServerFlow (the dashboard's cluster configuration) are
// the rule-type table; RuleTypes lists them for code that holds a name at run
// time.
type Type[T any] struct {
	name   engine.Family
	suffix string
	codec  func(...converter.Option) codec.Codec[T]
	target Target
	// load and current reach the engine's manager; nil for the types whose
	// Target is not TargetEngine.
	load    func(*engine.Engine, T) engine.LoadReport
	current func(*engine.Engine) T
	gateway bool
}

// Target is what the values of a rule type configure, and so which binding
// loads them.
type Target int

const (
	// TargetEngine: an engine's rule manager (BindApp binds the type).
	TargetEngine Target = iota
	// TargetTokenServer: a cluster token server (BindTokenServer binds the
	// type: its namespace set, transport and flow configs).
	TargetTokenServer
	// TargetClusterAssignment: which machines of an application are token
	// servers and which ask them for tokens (the dashboard's cluster map,
	// read with cluster.Assign). No binding of this package loads it.
	TargetClusterAssignment
)

// String returns "engine", "token-server" or "cluster-assignment".
func (t Target) String() string {
	switch t {
	case TargetEngine:
		return "engine"
	case TargetTokenServer:
		return "token-server"
	case TargetClusterAssignment:
		return "cluster-assignment"
	}
	return fmt.Sprintf("Target(%d)", int(t))
}

// The rule-type table: one entry per rule family of the engine.
var (
	Flow = &Type[[]flow.Rule]{
		name: engine.FamilyFlow, suffix: "flow-rules", codec: converter.Flow,
		load:    func(e *engine.Engine, v []flow.Rule) engine.LoadReport { return e.Flow().Load(v) },
		current: func(e *engine.Engine) []flow.Rule { return e.Flow().Rules() },
	}
	Degrade = &Type[[]degrade.Rule]{
		name: engine.FamilyDegrade, suffix: "degrade-rules", codec: converter.Degrade,
		load:    func(e *engine.Engine, v []degrade.Rule) engine.LoadReport { return e.Degrade().Load(v) },
		current: func(e *engine.Engine) []degrade.Rule { return e.Degrade().Rules() },
	}
	System = &Type[[]system.Rule]{
		name: engine.FamilySystem, suffix: "system-rules", codec: converter.System,
		load:    func(e *engine.Engine, v []system.Rule) engine.LoadReport { return e.System().Load(v) },
		current: func(e *engine.Engine) []system.Rule { return e.System().Rules() },
	}
	Authority = &Type[[]authority.Rule]{
		name: engine.FamilyAuthority, suffix: "authority-rules", codec: converter.Authority,
		load:    func(e *engine.Engine, v []authority.Rule) engine.LoadReport { return e.Authority().Load(v) },
		current: func(e *engine.Engine) []authority.Rule { return e.Authority().Rules() },
	}
	Param = &Type[[]param.Rule]{
		name: engine.FamilyParam, suffix: "param-rules", codec: converter.Param,
		load:    func(e *engine.Engine, v []param.Rule) engine.LoadReport { return e.Param().Load(v) },
		current: func(e *engine.Engine) []param.Rule { return e.Param().Rules() },
	}
	GatewayFlow = &Type[[]gateway.Rule]{
		name: engine.FamilyGateway, suffix: "gateway-flow-rules", codec: converter.GatewayFlow, gateway: true,
		load:    func(e *engine.Engine, v []gateway.Rule) engine.LoadReport { return e.Gateway().Load(v) },
		current: func(e *engine.Engine) []gateway.Rule { return e.Gateway().Rules() },
	}
	GatewayAPI = &Type[[]gateway.APIDefinition]{
		name: engine.FamilyGatewayAPI, suffix: "gateway-api-rules", codec: converter.APIDefinitions, gateway: true,
		load:    func(e *engine.Engine, v []gateway.APIDefinition) engine.LoadReport { return e.Gateway().LoadAPIs(v) },
		current: func(e *engine.Engine) []gateway.APIDefinition { return e.Gateway().APIs() },
	}
)

// The cluster configuration types of the rule-type table: what the Sentinel
// dashboard stores for cluster flow control besides the cluster rules
// themselves (which are flow and param rules with clusterMode set, in
// {namespace}-flow-rules and {namespace}-param-rules). They feed no engine
// manager: see Target.
var (
	// ClusterMap is an application's assignment of token servers and
	// clients, {app}-cluster-map.
	ClusterMap = &Type[[]cluster.ServerGroup]{
		name: engine.FamilyClusterMap, suffix: "cluster-map", codec: converter.ClusterMap, target: TargetClusterAssignment,
	}
	// ServerNamespaceSet is the namespaces a token server serves,
	// {server}-cs-namespace-set.
	ServerNamespaceSet = &Type[[]string]{
		name: engine.FamilyServerNamespaceSet, suffix: "cs-namespace-set", codec: converter.NamespaceSet, target: TargetTokenServer,
	}
	// ServerTransport is a token server's port and idle timeout,
	// {server}-cs-transport-config.
	ServerTransport = &Type[cluster.TransportConfig]{
		name: engine.FamilyServerTransport, suffix: "cs-transport-config", codec: converter.ServerTransport, target: TargetTokenServer,
	}
	// ServerFlow is a token server's flow settings (exceedCount,
	// maxOccupyRatio, request limit), {server}-cs-flow-config.
	ServerFlow = &Type[cluster.FlowConfig]{
		name: engine.FamilyServerFlow, suffix: "cs-flow-config", codec: converter.ServerFlow, target: TargetTokenServer,
	}
)

// ruleTypes is the table in its fixed order: the engine's families, then the
// cluster configuration. The gateway's API definitions come before its
// rules, so that a gateway app binding both never checks a rule against API
// groups that are not loaded yet.
var ruleTypes = []RuleType{Flow, Degrade, System, Authority, Param, GatewayAPI, GatewayFlow,
	ClusterMap, ServerNamespaceSet, ServerTransport, ServerFlow}

// RuleTypes returns the rule-type table, in a fixed order.
func RuleTypes() []RuleType { return append([]RuleType(nil), ruleTypes...) }

// RuleTypeNames returns the names of the rule-type table, in its order.
func RuleTypeNames() []string {
	names := make([]string, len(ruleTypes))
	for i, rt := range ruleTypes {
		names[i] = string(rt.Name())
	}
	return names
}

// ErrUnknownRuleType is returned by LookupRuleType for a name not in the table.
var ErrUnknownRuleType = errors.New("ruleapply: unknown rule type")

// LookupRuleType returns the rule type named name (case-insensitive, spaces
// trimmed), as a startup file or a command line spells it.
func LookupRuleType(name string) (RuleType, error) {
	want := engine.Family(strings.ToLower(strings.TrimSpace(name)))
	for _, rt := range ruleTypes {
		if rt.Name() == want {
			return rt, nil
		}
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownRuleType, name, strings.Join(RuleTypeNames(), ", "))
}

// RuleType is the face of a Type for code that holds a rule type's name at
// run time (a command line, a startup file, a dashboard command): values are
// seen as any, holding the type's T (e.g. []flow.Rule).
type RuleType interface {
	// Name is the rule type's name, e.g. "param-flow".
	Name() engine.Family
	// DataID is the Sentinel dashboard's data id of app's rules of this type,
	// e.g. "myapp-param-rules".
	DataID(app string) string
	// Gateway reports whether the type belongs to gateway apps only.
	Gateway() bool
	// Target is what the type's values configure: an engine's manager, a
	// token server, or the cluster assignment.
	Target() Target
	// AnyCodec returns the type's codec with values seen as any.
	AnyCodec(opts ...converter.Option) codec.Codec[any]
	// LoadAny loads v (the type's T) into e's manager. It fails with
	// ErrNoManager for a type whose Target is not TargetEngine.
	LoadAny(e *engine.Engine, v any) (engine.LoadReport, error)
	// CurrentAny returns what e's manager holds, as the type's T; nil for a
	// type whose Target is not TargetEngine.
	CurrentAny(e *engine.Engine) any

	// bind is how BindApp opens a datasource of this type; only Type implements it.
	bind(ctx context.Context, s bindSpec) (Binding, error)
}

// Name implements RuleType.
func (t *Type[T]) Name() engine.Family { return t.name }

// DataID implements RuleType.
func (t *Type[T]) DataID(app string) string { return app + "-" + t.suffix }

// Gateway implements RuleType.
func (t *Type[T]) Gateway() bool { return t.gateway }

// Target implements RuleType.
func (t *Type[T]) Target() Target { return t.target }

// Codec returns the type's codec.
func (t *Type[T]) Codec(opts ...converter.Option) codec.Codec[T] { return t.codec(opts...) }

// Load loads v into e's manager of this type. A type with no engine manager
// (Target not TargetEngine) loads nothing and says so in the report's notes.
func (t *Type[T]) Load(e *engine.Engine, v T) engine.LoadReport {
	if t.load == nil {
		return engine.LoadReport{Notes: []string{t.noManager().Error()}}
	}
	return t.load(e, v)
}

// Current returns the value e's manager of this type holds; T's zero value
// for a type with no engine manager.
func (t *Type[T]) Current(e *engine.Engine) T {
	if t.current == nil {
		var zero T
		return zero
	}
	return t.current(e)
}

// Loader returns e's manager of this type as a Loader, for Bind.
func (t *Type[T]) Loader(e *engine.Engine) Loader[T] {
	return loaderFunc[T](func(v T) engine.LoadReport { return t.Load(e, v) })
}

// ErrNoManager is returned by LoadAny for a rule type that feeds no engine
// manager (a cluster configuration type).
var ErrNoManager = errors.New("ruleapply: rule type feeds no engine manager")

func (t *Type[T]) noManager() error {
	return fmt.Errorf("%w: %s configures the %s", ErrNoManager, t.name, t.target)
}

// AnyCodec implements RuleType.
func (t *Type[T]) AnyCodec(opts ...converter.Option) codec.Codec[any] {
	return anyCodec[T]{t.codec(opts...)}
}

// LoadAny implements RuleType.
func (t *Type[T]) LoadAny(e *engine.Engine, v any) (engine.LoadReport, error) {
	if t.load == nil {
		return engine.LoadReport{}, t.noManager()
	}
	tv, err := typed[T](v)
	if err != nil {
		return engine.LoadReport{}, fmt.Errorf("ruleapply: %s: %w", t.name, err)
	}
	return t.load(e, tv), nil
}

// CurrentAny implements RuleType.
func (t *Type[T]) CurrentAny(e *engine.Engine) any {
	if t.current == nil {
		return nil
	}
	return t.current(e)
}

// String returns the type's name.
func (t *Type[T]) String() string { return string(t.name) }

type loaderFunc[T any] func(T) engine.LoadReport

func (f loaderFunc[T]) Load(v T) engine.LoadReport { return f(v) }

// typed returns v as a T; nil stands for T's zero value (no rules).
func typed[T any](v any) (T, error) {
	var zero T
	if v == nil {
		return zero, nil
	}
	tv, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("got %T, want %T", v, zero)
	}
	return tv, nil
}

// anyCodec sees a typed codec's values as any.
type anyCodec[T any] struct{ c codec.Codec[T] }

func (a anyCodec[T]) Decode(data []byte) (any, codec.Report, error) {
	v, rep, err := a.c.Decode(data)
	if err != nil {
		return nil, rep, err
	}
	return v, rep, nil
}

func (a anyCodec[T]) Encode(v any) ([]byte, error) {
	tv, err := typed[T](v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return a.c.Encode(tv)
}

func (a anyCodec[T]) Equal(x, y any) bool {
	tx, errx := typed[T](x)
	ty, erry := typed[T](y)
	return errx == nil && erry == nil && a.c.Equal(tx, ty)
}
