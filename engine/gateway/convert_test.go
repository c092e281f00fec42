package gateway

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/param"
)

func gwRule(resource string, count float64, item *ParamItem) Rule {
	r := DefaultRule()
	r.Resource = resource
	r.Count = count
	r.ParamItem = item
	return r
}

func TestToParamRules(t *testing.T) {
	ipItem := &ParamItem{ParseStrategy: ParseClientIP}
	hdrItem := &ParamItem{ParseStrategy: ParseHeader, FieldName: "X-User", Pattern: "vip", MatchStrategy: ParamMatchPrefix}
	plain := gwRule("r1", 100, nil)
	plain.IntervalSec = 60
	plain.Burst = 5
	plain.ControlBehavior = base.BehaviorRateLimiter
	plain.MaxQueueingTimeoutMs = 250
	rules := []Rule{
		plain,
		gwRule("r1", 10, ipItem),
		gwRule("r2", 3, nil),
		gwRule("r1", 20, hdrItem),
		gwRule("r1", 7, nil),
	}
	got := ToParamRules(rules)

	want := func(res string, count float64, idx int, items []param.Item) param.Rule {
		pr := param.DefaultRule()
		pr.Resource, pr.Count, pr.ParamIdx = res, count, idx
		pr.MaxQueueingTimeMs = 500 // the gateway default, carried over
		if items != nil {
			pr.ParamFlowItemList = items
		}
		return pr
	}
	p0 := want("r1", 100, 2, nil) // no paramItem: after the two indexed rules
	p0.DurationInSec, p0.BurstCount = 60, 5
	p0.ControlBehavior, p0.MaxQueueingTimeMs = base.BehaviorRateLimiter, 250
	wantRules := []param.Rule{
		want("r1", 10, 0, nil),
		want("r1", 20, 1, []param.Item{{Object: "$NM", Count: 10_000_000, ClassType: "String"}}),
		p0,
		want("r1", 7, 2, nil),
		want("r2", 3, 0, nil), // a resource with only plain rules uses index 0
	}
	if len(got) != len(wantRules) {
		t.Fatalf("got %d param rules, want %d: %+v", len(got), len(wantRules), got)
	}
	for i := range got {
		if !got[i].Equal(wantRules[i]) {
			t.Errorf("param rule %d:\n got %+v\nwant %+v", i, got[i], wantRules[i])
		}
		if err := got[i].Validate(); err != nil {
			t.Errorf("param rule %d does not validate: %v", i, err)
		}
	}
}

func TestCompileRulesReport(t *testing.T) {
	bad := gwRule("r", 1, &ParamItem{ParseStrategy: ParseHeader}) // no fieldName
	badRe := gwRule("r", 1, &ParamItem{ParseStrategy: ParseClientIP, Pattern: "(", MatchStrategy: ParamMatchRegex})
	zeroInterval := gwRule("r", 1, nil)
	zeroInterval.IntervalSec = 0
	ok := gwRule("r", 1, nil)
	c := compileRules([]Rule{bad, ok, badRe, ok, zeroInterval})
	if c.report.Loaded != 1 || c.report.Duplicates != 1 {
		t.Errorf("Loaded=%d Duplicates=%d, want 1 and 1", c.report.Loaded, c.report.Duplicates)
	}
	var idx []int
	for _, rj := range c.report.Rejected {
		idx = append(idx, rj.Index)
	}
	if !slices.Equal(idx, []int{0, 2, 4}) {
		t.Errorf("rejected %v, want [0 2 4]", idx)
	}
	// A regex that does not compile is named in the reason.
	if r := c.report.Rejected[1].Reason; !strings.Contains(r, "does not compile") || !strings.Contains(r, ErrInvalidRule.Error()) {
		t.Errorf("regex rejection reason %q", r)
	}
	if r := c.report.Rejected[0].Reason; !strings.Contains(r, "fieldName") {
		t.Errorf("fieldName rejection reason %q", r)
	}
}

// fakeReq is a RequestInfo for tests.
type fakeReq struct {
	ip, host string
	headers  map[string]string
	query    map[string]string
	cookies  map[string]string
}

func (f fakeReq) ClientIP() string       { return f.ip }
func (f fakeReq) Host() string           { return f.host }
func (f fakeReq) Header(n string) string { return f.headers[n] }
func (f fakeReq) Query(n string) string  { return f.query[n] }
func (f fakeReq) Cookie(n string) string { return f.cookies[n] }

func TestParseArgs(t *testing.T) {
	m := NewManager(nil)
	rules := []Rule{
		gwRule("route", 1, &ParamItem{ParseStrategy: ParseClientIP}),
		gwRule("route", 1, &ParamItem{ParseStrategy: ParseHost, Pattern: "example.com", MatchStrategy: ParamMatchExact}),
		gwRule("route", 1, &ParamItem{ParseStrategy: ParseHeader, FieldName: "X-Tenant", Pattern: "gold", MatchStrategy: ParamMatchPrefix}),
		gwRule("route", 1, &ParamItem{ParseStrategy: ParseURLParam, FieldName: "uid", Pattern: `[0-9]+`, MatchStrategy: ParamMatchRegex}),
		gwRule("route", 1, &ParamItem{ParseStrategy: ParseCookie, FieldName: "sess", Pattern: "adm", MatchStrategy: ParamMatchContains}),
		gwRule("route", 5, nil),
		gwRule("onlyitems", 1, &ParamItem{ParseStrategy: ParseHeader, FieldName: "X-A"}),
	}
	if rep := m.Load(rules); rep.Loaded != len(rules) || len(rep.Rejected) != 0 {
		t.Fatalf("Load report %+v", rep)
	}
	full := fakeReq{
		ip: "10.0.0.1", host: "example.com",
		headers: map[string]string{"X-Tenant": "gold-42", "X-A": "a"},
		query:   map[string]string{"uid": "123"},
		cookies: map[string]string{"sess": "xxadmyy"},
	}
	failing := fakeReq{
		ip: "10.0.0.2", host: "other.com",
		headers: map[string]string{"X-Tenant": "silver-gold"}, // gold is not a prefix
		query:   map[string]string{"uid": "12a"},              // regex must match the whole value
		cookies: map[string]string{"sess": "user"},
	}
	tests := []struct {
		name     string
		resource string
		req      RequestInfo
		want     []any
	}{
		{"all match", "route", full, []any{"10.0.0.1", "example.com", "gold-42", "123", "xxadmyy", DefaultParam}},
		{"patterns fail", "route", failing, []any{"10.0.0.2", NotMatchParam, NotMatchParam, NotMatchParam, NotMatchParam, DefaultParam}},
		{"absent values", "route", fakeReq{ip: "1.1.1.1"}, []any{"1.1.1.1", nil, nil, nil, nil, DefaultParam}},
		{"no plain rule: no $D", "onlyitems", full, []any{"a"}},
		{"no gateway rule", "unknown", full, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := m.ParseArgs(tt.resource, tt.req)
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParseArgs = %#v, want %#v", got, tt.want)
			}
		})
	}
	// AppendArgs keeps what dst held.
	got := m.AppendArgs([]any{"x"}, "onlyitems", full)
	if !slices.Equal(got, []any{"x", "a"}) {
		t.Errorf("AppendArgs = %#v", got)
	}
}

func TestManagerRulesAndReload(t *testing.T) {
	m := NewManager(nil)
	item := &ParamItem{ParseStrategy: ParseHeader, FieldName: "X-A"}
	m.Load([]Rule{gwRule("a", 1, item), gwRule("b", 2, nil)})
	got := m.Rules()
	if len(got) != 2 || !m.HasRules("a") || !m.HasRules("b") || m.HasRules("c") {
		t.Fatalf("Rules() = %+v", got)
	}
	got[0].ParamItem.FieldName = "changed"
	item.FieldName = "changed too"
	if m.Rules()[0].ParamItem.FieldName != "X-A" {
		t.Error("the manager shares paramItem pointers with callers")
	}
	m.Load(nil)
	if len(m.Rules()) != 0 || m.HasRules("a") || m.ParseArgs("a", fakeReq{}) != nil {
		t.Error("an empty load did not clear the rules")
	}
}

func TestArgCacheSharedAcrossResources(t *testing.T) {
	m := NewManager(nil)
	item := &ParamItem{ParseStrategy: ParseHeader, FieldName: "X-User"}
	m.Load([]Rule{
		gwRule("route", 1, item),
		gwRule("api", 1, item),
		gwRule("api", 1, &ParamItem{ParseStrategy: ParseHeader, FieldName: "X-User", Pattern: "vip", MatchStrategy: ParamMatchExact}),
	})
	cr := &cachingReq{fakeReq: fakeReq{headers: map[string]string{"X-User": "bob"}}}
	a := m.ParseArgs("route", cr)
	b := m.ParseArgs("api", cr)
	if cr.reads != 1 {
		t.Errorf("header read %d times for one request, want 1", cr.reads)
	}
	// Cached values are handed out by reference, without allocating.
	if _, ok := a[0].(param.StringRef); !ok {
		t.Errorf("cached value passed as %T, want param.StringRef", a[0])
	}
	// The cache holds the raw value: each rule still applies its own pattern.
	if !slices.Equal(derefArgs(a), []any{"bob"}) || !slices.Equal(derefArgs(b), []any{"bob", NotMatchParam}) {
		t.Errorf("args %#v and %#v", derefArgs(a), derefArgs(b))
	}
	cr.cache.Reset()
	cr.headers["X-User"] = "vip"
	if got := derefArgs(m.ParseArgs("api", cr)); !slices.Equal(got, []any{"vip", "vip"}) || cr.reads != 2 {
		t.Errorf("after Reset: %#v (reads %d)", got, cr.reads)
	}
}

// derefArgs replaces the StringRefs in args by their strings.
func derefArgs(args []any) []any {
	out := slices.Clone(args)
	for i, a := range out {
		if r, ok := a.(param.StringRef); ok {
			out[i] = r.String()
		}
	}
	return out
}

// TestArgCacheFull checks that a request reading more distinct attributes
// than the cache holds still gets every value, the later ones as plain
// strings.
func TestArgCacheFull(t *testing.T) {
	m := NewManager(nil)
	var rules []Rule
	headers := map[string]string{}
	for i := range 10 {
		name := fmt.Sprint("X-H", i)
		headers[name] = fmt.Sprint("v", i)
		rules = append(rules, gwRule("r", 1, &ParamItem{ParseStrategy: ParseHeader, FieldName: name}))
	}
	if rep := m.Load(rules); rep.Loaded != 10 {
		t.Fatalf("%+v", rep)
	}
	cr := &cachingReq{fakeReq: fakeReq{headers: headers}}
	got := derefArgs(m.ParseArgs("r", cr))
	for i := range 10 {
		if got[i] != fmt.Sprint("v", i) {
			t.Errorf("arg %d = %#v, want %q", i, got[i], fmt.Sprint("v", i))
		}
	}
}

// FuzzParseArgs loads one rule built from fuzzed fields and parses a request
// with a fuzzed value: bad rules are reported, never a panic, and a loaded
// rule yields exactly one argument, the value, "$NM" or nil.
func FuzzParseArgs(f *testing.F) {
	f.Add(2, "X-A", "ab", 1, "abc")
	f.Add(0, "", "(", 2, "1.2.3.4")
	f.Add(4, "sid", "x", 3, "")
	f.Fuzz(func(t *testing.T, strategy int, field, pattern string, match int, value string) {
		m := NewManager(nil)
		rep := m.Load([]Rule{gwRule("r", 1, &ParamItem{ParseStrategy: strategy, FieldName: field, Pattern: pattern, MatchStrategy: match})})
		if rep.Loaded+len(rep.Rejected) != 1 {
			t.Fatalf("report %+v accounts for %d rules", rep, rep.Loaded+len(rep.Rejected))
		}
		req := fakeReq{ip: value, host: value, headers: map[string]string{field: value},
			query: map[string]string{field: value}, cookies: map[string]string{field: value}}
		args := m.ParseArgs("r", req)
		if rep.Loaded == 0 {
			if args != nil {
				t.Fatalf("args %#v for a rejected rule", args)
			}
			return
		}
		if len(args) != 1 {
			t.Fatalf("args %#v, want one", args)
		}
		switch a := args[0]; {
		case a == nil:
			if value != "" {
				t.Errorf("present value %q parsed as nil", value)
			}
		case a == NotMatchParam:
		case value == NotMatchParam && a == literalNotMatchArg:
		case a != value:
			t.Errorf("arg %#v, want %q or $NM", a, value)
		}
	})
}
