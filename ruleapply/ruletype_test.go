package ruleapply_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/authority"
	"github.com/rulesync/rulesync/engine/cluster"
	"github.com/rulesync/rulesync/engine/degrade"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/gateway"
	"github.com/rulesync/rulesync/engine/param"
	"github.com/rulesync/rulesync/engine/system"
	"github.com/rulesync/rulesync/ruleapply"
)

func TestLookupRuleType(t *testing.T) {
	want := map[string]reflect.Type{
		"flow":         reflect.TypeFor[[]flow.Rule](),
		"degrade":      reflect.TypeFor[[]degrade.Rule](),
		"param-flow":   reflect.TypeFor[[]param.Rule](),
		"system":       reflect.TypeFor[[]system.Rule](),
		"authority":    reflect.TypeFor[[]authority.Rule](),
		"gw-flow":      reflect.TypeFor[[]gateway.Rule](),
		"gw-api-group": reflect.TypeFor[[]gateway.APIDefinition](),
		// The cluster configuration: an empty payload is an empty set, or
		// Sentinel's default config.
		"cluster-map":         reflect.TypeFor[[]cluster.ServerGroup](),
		"cs-namespace-set":    reflect.TypeFor[[]string](),
		"cs-transport-config": reflect.TypeFor[cluster.TransportConfig](),
		"cs-flow-config":      reflect.TypeFor[cluster.FlowConfig](),
	}
	targets := map[string]ruleapply.Target{
		"cluster-map": ruleapply.TargetClusterAssignment, "cs-namespace-set": ruleapply.TargetTokenServer,
		"cs-transport-config": ruleapply.TargetTokenServer, "cs-flow-config": ruleapply.TargetTokenServer,
	}
	e := engine.New()
	defer e.Close()
	if len(ruleapply.RuleTypeNames()) != len(want) {
		t.Fatalf("RuleTypeNames() = %v", ruleapply.RuleTypeNames())
	}
	for _, name := range ruleapply.RuleTypeNames() {
		rt, err := ruleapply.LookupRuleType(" " + strings.ToUpper(name) + " ")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if string(rt.Name()) != name {
			t.Fatalf("LookupRuleType(%q) = %s", name, rt.Name())
		}
		c := rt.AnyCodec()
		v, _, err := c.Decode([]byte("[]"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := reflect.TypeOf(v); got != want[name] {
			t.Errorf("%s decodes to %v, want %v", name, got, want[name])
		}
		if rt.Target() != targets[name] {
			t.Errorf("%s: target %s, want %s", name, rt.Target(), targets[name])
		}
		if rt.Target() != ruleapply.TargetEngine {
			// No engine manager: loading is an error, reading gives nil.
			if _, err := rt.LoadAny(e, v); !errors.Is(err, ruleapply.ErrNoManager) {
				t.Errorf("%s: LoadAny = %v, want ErrNoManager", name, err)
			}
			if cur := rt.CurrentAny(e); cur != nil {
				t.Errorf("%s: CurrentAny = %v, want nil", name, cur)
			}
			continue
		}
		if out, err := c.Encode(v); err != nil || string(out) != "[]\n" {
			t.Errorf("%s: Encode = %s, %v", name, out, err)
		}
	}
	if _, err := ruleapply.LookupRuleType("cluster"); !errors.Is(err, ruleapply.ErrUnknownRuleType) || !strings.Contains(err.Error(), "cs-flow-config") {
		t.Errorf("unknown type: %v", err)
	}
}

func TestAnyCodecRoundTrip(t *testing.T) {
	c := ruleapply.GatewayFlow.AnyCodec(converter.WithDashboardFormat())
	v, rep, err := c.Decode([]byte(`[{"resource":"r","count":3,"interval":2,"intervalUnit":2}]`))
	if err != nil || rep.Accepted != 1 {
		t.Fatal(err, rep)
	}
	rules := v.([]gateway.Rule)
	if rules[0].IntervalSec != 7200 {
		t.Errorf("intervalSec = %d", rules[0].IntervalSec)
	}
	out, err := c.Encode(v)
	if err != nil || !strings.Contains(compact(t, out), `"interval":2,"intervalUnit":2`) {
		t.Errorf("options must reach the typed codec: %s %v", out, err)
	}
	again, _, _ := c.Decode(out)
	if !c.Equal(v, again) || c.Equal(v, []gateway.Rule{}) || c.Equal(v, []flow.Rule{}) {
		t.Error("Equal must compare the typed lists and refuse other types")
	}
	if _, err := c.Encode([]flow.Rule{}); err == nil {
		t.Error("encoding another family's rules must fail")
	}
}

// compact returns the JSON text out without insignificant space.
func compact(t *testing.T, out []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, out); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return b.String()
}
