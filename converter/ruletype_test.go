package converter

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/engine/authority"
	"github.com/rulesync/rulesync/engine/degrade"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/gateway"
	"github.com/rulesync/rulesync/engine/param"
	"github.com/rulesync/rulesync/engine/system"
)

func TestByRuleType(t *testing.T) {
	want := map[string]reflect.Type{
		"flow":         reflect.TypeFor[[]flow.Rule](),
		"degrade":      reflect.TypeFor[[]degrade.Rule](),
		"param-flow":   reflect.TypeFor[[]param.Rule](),
		"system":       reflect.TypeFor[[]system.Rule](),
		"authority":    reflect.TypeFor[[]authority.Rule](),
		"gw-flow":      reflect.TypeFor[[]gateway.Rule](),
		"gw-api-group": reflect.TypeFor[[]gateway.APIDefinition](),
	}
	if len(RuleTypes()) != len(want) {
		t.Fatalf("RuleTypes() = %v", RuleTypes())
	}
	for _, name := range RuleTypes() {
		c, err := ByRuleType(" " + strings.ToUpper(name) + " ")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		v, _, err := c.Decode([]byte("[]"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := reflect.TypeOf(v); got != want[name] {
			t.Errorf("%s decodes to %v, want %v", name, got, want[name])
		}
		if out, err := c.Encode(v); err != nil || string(out) != "[]\n" {
			t.Errorf("%s: Encode = %s, %v", name, out, err)
		}
	}
	if _, err := ByRuleType("cluster-map"); !errors.Is(err, ErrUnknownRuleType) || !strings.Contains(err.Error(), "gw-api-group") {
		t.Errorf("unknown type: %v", err)
	}
}

func TestByRuleTypeRoundTrip(t *testing.T) {
	c, err := ByRuleType(RuleTypeGatewayFlow, WithDashboardFormat())
	if err != nil {
		t.Fatal(err)
	}
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
