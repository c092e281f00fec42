package base_test

import (
	"math"
	"testing"

	"github.com/rulesync/rulesync/engine/degrade"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/gateway"
	"github.com/rulesync/rulesync/engine/param"
)

// TestRulesRejectNonFiniteThresholds: a NaN threshold compares false with
// everything and would silently disable a rule, so every family rejects it.
func TestRulesRejectNonFiniteThresholds(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1)} {
		f := flow.DefaultRule()
		f.Resource, f.Count = "r", v
		d := degrade.DefaultRule()
		d.Resource, d.Count, d.TimeWindow = "r", v, 1
		d2 := degrade.DefaultRule()
		d2.Resource, d2.Count, d2.TimeWindow, d2.SlowRatioThreshold = "r", 10, 1, v
		p := param.DefaultRule()
		p.Resource, p.Count = "r", v
		g := gateway.DefaultRule()
		g.Resource, g.Count = "r", v
		for name, err := range map[string]error{
			"flow": f.Validate(), "degrade count": d.Validate(), "degrade slowRatioThreshold": d2.Validate(),
			"param": p.Validate(), "gateway": g.Validate(),
		} {
			if err == nil {
				t.Errorf("%s rule with %v accepted", name, v)
			}
		}
	}
}
