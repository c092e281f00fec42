package authority

import (
	"strings"
	"testing"

	"github.com/rulesync/rulesync/engine/internal/kernel"
)

// FuzzOriginList checks the parsed origin list against the plain reading of
// limitApp: split at commas, trim spaces, compare whole names.
func FuzzOriginList(f *testing.F) {
	f.Add("appA, appB ,appC", "appB")
	f.Add(" , ,a", "")
	f.Add("a,b,c,d,e,f,g,h,i,j", "j")
	f.Add("x", " x")
	f.Fuzz(func(t *testing.T, limitApp, origin string) {
		listed := false
		for _, o := range strings.Split(limitApp, ",") {
			if o = strings.TrimSpace(o); o != "" && o == origin {
				listed = true
			}
		}
		for _, s := range []Strategy{StrategyWhite, StrategyBlack} {
			r := Rule{Resource: "res", LimitApp: limitApp, Strategy: s}
			m := NewManager()
			if rep := m.Load([]Rule{r}); rep.Loaded != 1 {
				if strings.TrimSpace(limitApp) != "" {
					t.Fatalf("rule with limitApp %q not loaded: %+v", limitApp, rep)
				}
				continue
			}
			want := origin != "" && listed
			if s == StrategyBlack {
				want = origin == "" || !listed
			}
			if got := m.Check(&kernel.Context{Resource: "res", Origin: origin}) == nil; got != want {
				t.Fatalf("strategy %d, limitApp %q, origin %q: pass = %v, want %v", s, limitApp, origin, got, want)
			}
		}
	})
}
