package authority

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/kernel"
)

func TestCheckWhiteBlackAndEmptyOrigin(t *testing.T) {
	white := Rule{Resource: "res", LimitApp: " appA ,appB,, appC", Strategy: StrategyWhite}
	black := Rule{Resource: "res", LimitApp: "appA, appB ", Strategy: StrategyBlack}
	tests := []struct {
		name    string
		rule    Rule
		origin  string
		blocked bool
	}{
		{"white listed", white, "appA", false},
		{"white listed after trim", white, "appB", false},
		{"white listed last", white, "appC", false},
		{"white not listed", white, "appD", true},
		{"white substring is not a match", white, "app", true},
		{"white empty origin blocks", white, "", true},
		{"white untrimmed origin is not listed", white, " appA", true},
		{"black listed", black, "appA", true},
		{"black listed after trim", black, "appB", true},
		{"black not listed", black, "appC", false},
		{"black empty origin passes", black, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewManager()
			if rep := m.Load([]Rule{tt.rule}); rep.Loaded != 1 || len(rep.Rejected) != 0 {
				t.Fatalf("Load: %+v", rep)
			}
			be := m.Check(&kernel.Context{Resource: "res", Origin: tt.origin})
			if (be != nil) != tt.blocked {
				t.Fatalf("blocked = %v, want %v (err %v)", be != nil, tt.blocked, be)
			}
			if be != nil {
				if be.Family != base.FamilyAuthority || be.Resource != "res" || be.Rule.(Rule) != tt.rule || be.Reason == "" {
					t.Fatalf("block error %+v", be)
				}
				if !errors.Is(be, base.ErrBlocked) {
					t.Fatalf("errors.Is(ErrBlocked) false")
				}
			}
			// Other resources are not affected.
			if be := m.Check(&kernel.Context{Resource: "other", Origin: tt.origin}); be != nil {
				t.Fatalf("other resource blocked: %v", be)
			}
		})
	}
}

func TestCheckAllRulesMustPass(t *testing.T) {
	m := NewManager()
	m.Load([]Rule{
		{Resource: "res", LimitApp: "a,b,c", Strategy: StrategyWhite},
		{Resource: "res", LimitApp: "b", Strategy: StrategyBlack},
	})
	for origin, blocked := range map[string]bool{"a": false, "b": true, "c": false, "d": true} {
		be := m.Check(&kernel.Context{Resource: "res", Origin: origin})
		if (be != nil) != blocked {
			t.Errorf("origin %q: blocked = %v, want %v", origin, be != nil, blocked)
		}
		if origin == "b" && be != nil && be.Rule.(Rule).Strategy != StrategyBlack {
			t.Errorf("origin b blocked by %+v, want the black-list rule", be.Rule)
		}
	}
}

func TestCheckRegexResource(t *testing.T) {
	m := NewManager()
	m.Load([]Rule{
		{Resource: "^GET:/orders/.*$", Regex: true, LimitApp: "a"},
		{Resource: "GET:/orders/1", LimitApp: "b", Strategy: StrategyBlack},
	})
	cases := []struct {
		res, origin string
		blocked     bool
	}{
		{"GET:/orders/1", "a", false},
		{"GET:/orders/1", "b", true}, // not white-listed by the regex rule
		{"GET:/orders/2", "a", false},
		{"GET:/orders/2", "c", true},
		{"POST:/orders/2", "c", false},
	}
	for range 2 { // the second round reads the match cache
		for _, tc := range cases {
			if be := m.Check(&kernel.Context{Resource: tc.res, Origin: tc.origin}); (be != nil) != tc.blocked {
				t.Errorf("%s from %q: blocked = %v, want %v", tc.res, tc.origin, be != nil, tc.blocked)
			}
		}
	}
}

func TestLoadReport(t *testing.T) {
	m := NewManager()
	rep := m.Load([]Rule{
		{ID: 1, Resource: "r1", LimitApp: "a"},
		{ID: 2, Resource: "r1", LimitApp: "a"}, // duplicate but for id
		{Resource: " ", LimitApp: "a"},
		{Resource: "r2", LimitApp: ""},
		{Resource: "r3", LimitApp: "a", Strategy: 7},
		{Resource: "(", LimitApp: "a", Regex: true},
		{Resource: "r4", LimitApp: "x", Strategy: StrategyBlack},
	})
	if rep.Loaded != 2 || rep.Duplicates != 1 || len(rep.Rejected) != 4 {
		t.Fatalf("report %+v", rep)
	}
	wantIdx := []int{2, 3, 4, 5}
	wantWord := []string{"resource", "limitApp", "strategy", "regular expression"}
	for i, rj := range rep.Rejected {
		if rj.Index != wantIdx[i] || !strings.Contains(rj.Reason, wantWord[i]) {
			t.Errorf("rejection %d = %+v, want index %d naming %q", i, rj, wantIdx[i], wantWord[i])
		}
	}
	got := m.Rules()
	if len(got) != 2 || got[0].ID != 1 || got[1].Resource != "r4" {
		t.Fatalf("Rules() = %+v", got)
	}
	got[0].Resource = "changed"
	if m.Rules()[0].Resource != "r1" {
		t.Fatal("Rules() returned the manager's own slice")
	}
	// An empty load clears.
	if rep := m.Load(nil); rep.Loaded != 0 || len(m.Rules()) != 0 {
		t.Fatalf("clear: %+v", rep)
	}
	if be := m.Check(&kernel.Context{Resource: "r1", Origin: "zzz"}); be != nil {
		t.Fatalf("cleared rules still block: %v", be)
	}
}

func TestCheckConcurrentWithLoad(t *testing.T) {
	m := NewManager()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &kernel.Context{Resource: fmt.Sprintf("r%d", g%2), Origin: "a"}
			for {
				select {
				case <-stop:
					return
				default:
					_ = m.Check(c)
				}
			}
		}()
	}
	for i := range 200 {
		m.Load([]Rule{{Resource: "r0", LimitApp: "a"}, {Resource: fmt.Sprintf("r%d", i%3), LimitApp: "b", Strategy: StrategyBlack}, {Resource: "r.*", Regex: true, LimitApp: "a"}})
	}
	close(stop)
	wg.Wait()
}

func TestCheckPassDoesNotAllocate(t *testing.T) {
	m := NewManager()
	m.Load([]Rule{{Resource: "res", LimitApp: "a,b"}, {Resource: "re.*", Regex: true, LimitApp: "a"}})
	c := &kernel.Context{Resource: "res", Origin: "a"}
	if n := testing.AllocsPerRun(100, func() {
		if m.Check(c) != nil {
			t.Fatal("blocked")
		}
	}); n != 0 {
		t.Fatalf("Check allocates %v times per pass", n)
	}
}

func BenchmarkCheckPass(b *testing.B) {
	m := NewManager()
	m.Load([]Rule{{Resource: "res", LimitApp: "appA,appB,appC"}})
	c := &kernel.Context{Resource: "res", Origin: "appB"}
	b.ReportAllocs()
	for b.Loop() {
		if m.Check(c) != nil {
			b.Fatal("blocked")
		}
	}
}

func BenchmarkLoad10000(b *testing.B) {
	rules := make([]Rule, 10000)
	for i := range rules {
		rules[i] = Rule{Resource: fmt.Sprintf("res-%d", i), LimitApp: "appA,appB", Strategy: Strategy(i % 2)}
	}
	m := NewManager()
	b.ReportAllocs()
	for b.Loop() {
		m.Load(rules)
	}
}

func TestLongOriginLists(t *testing.T) {
	var names []string
	for i := range 20 {
		names = append(names, fmt.Sprintf("app%d", i))
	}
	list := strings.Join(names, " , ")
	m := NewManager()
	m.Load([]Rule{{Resource: "w", LimitApp: list}, {Resource: "b", LimitApp: list, Strategy: StrategyBlack}})
	for _, o := range []string{"app0", "app7", "app8", "app19"} {
		if be := m.Check(&kernel.Context{Resource: "w", Origin: o}); be != nil {
			t.Errorf("white list refused listed %q", o)
		}
		if be := m.Check(&kernel.Context{Resource: "b", Origin: o}); be == nil {
			t.Errorf("black list admitted listed %q", o)
		}
	}
	for _, o := range []string{"app20", "app", ""} {
		if be := m.Check(&kernel.Context{Resource: "w", Origin: o}); be == nil {
			t.Errorf("white list admitted %q", o)
		}
	}
}
