package gateway

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func antMatch(t *testing.T, pattern, path string) bool {
	t.Helper()
	ap, err := compileAnt(pattern)
	if err != nil {
		t.Fatalf("compileAnt(%q): %v", pattern, err)
	}
	var buf [maxStackSegs][2]int32
	return ap.match(path, splitPath(path, buf[:0]))
}

func TestAntMatch(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"/product/foo/**", "/product/foo/22", true},
		{"/product/foo/**", "/product/foo", true},
		{"/product/foo/**", "/product/foo/22/33", true},
		{"/product/foo/**", "/product/foobar", false},
		{"/product/foo/**", "/product/bar/foo", false},
		{"/product/*", "/product/1", true},
		{"/product/*", "/product/1/2", false},
		{"/product/*", "/product/", true},
		{"/product/*", "/product", false},
		{"/p?t", "/pet", true},
		{"/p?t", "/pt", false},
		{"/p?t", "/peet", false},
		{"/*.html", "/index.html", true},
		{"/*.html", "/index.htm", false},
		{"/a*b*c", "/abxbyc", true},
		{"/a*b*c", "/abxbyd", false},
		{"/**/end", "/end", true},
		{"/**/end", "/x/y/end", true},
		{"/**/end", "/x/y/end/z", false},
		{"/a/**/b/**/c", "/a/x/b/y/z/c", true},
		{"/a/**/b/**/c", "/a/b/c", true},
		{"/a/**/b/**/c", "/a/x/c", false},
		{"/a/**/**/c", "/a/c", true},
		{"/a/**/x/y/**/z", "/a/1/x/2/x/y/3/z", true},
		{"/a/**/x/y/**/z", "/a/1/x/2/y/3/z", false},
		{"/**", "/", true},
		{"/**", "/anything/at/all", true},
		{"/users/{id}", "/users/42", true},
		{"/users/{id}", "/users/42/orders", false},
		{"/users/{id:[0-9]+}", "/users/42", true},
		{"/users/{id:[0-9]+}", "/users/abc", false},
		{"/files/{name}.{ext}", "/files/a.txt", true},
		{"/files/{name}.{ext}", "/files/atxt", false},
		{"/v{n:[0-9]{1,2}}/x", "/v12/x", true},
		{"/v{n:[0-9]{1,2}}/x", "/v123/x", false},
		// A leading slash must agree; empty segments are ignored.
		{"/a/*", "a/b", false},
		{"a/*", "a/b", true},
		{"/a/*/c", "/a//b/c", true},
		// Trailing slashes must agree when the pattern is used up.
		{"/a/b", "/a/b/", false},
		{"/a/b/", "/a/b/", true},
	}
	for _, tt := range tests {
		if got := antMatch(t, tt.pattern, tt.path); got != tt.want {
			t.Errorf("ant %q ~ %q = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
}

func TestAntCompileErrors(t *testing.T) {
	for _, p := range []string{"/a/{id", "/a/{}", "/a/{:x}", "/a/{id:[}"} {
		if _, err := compileAnt(p); err == nil {
			t.Errorf("compileAnt(%q) = nil error, want one", p)
		}
	}
}

// sentinelExampleAPIs are the API groups of Sentinel's gateway documentation.
func sentinelExampleAPIs() []APIDefinition {
	return []APIDefinition{
		{APIName: "some_customized_api", PredicateItems: []PredicateItem{
			{Pattern: "/product/baz", MatchStrategy: URLMatchExact},
			{Pattern: "/product/foo/**", MatchStrategy: URLMatchPrefix},
		}},
		{APIName: "another_customized_api", PredicateItems: []PredicateItem{
			{Pattern: "/ahas"},
		}},
	}
}

func TestAPIMatcherSentinelExample(t *testing.T) {
	m, rep := NewAPIMatcher(sentinelExampleAPIs())
	if rep.Loaded != 2 || len(rep.Rejected) != 0 {
		t.Fatalf("report = %+v", rep)
	}
	tests := []struct {
		path string
		want []string
	}{
		{"/product/foo/22", []string{"some_customized_api"}},
		{"/product/baz", []string{"some_customized_api"}},
		{"/product/baz/1", nil}, // EXACT
		{"/product/bar", nil},
		{"/ahas", []string{"another_customized_api"}},
		{"/ahas/x", nil},
		{"/httpbin/json", nil},
	}
	for _, tt := range tests {
		if got := m.Match(tt.path, nil); !slices.Equal(got, tt.want) {
			t.Errorf("Match(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestAPIMatcherStrategies(t *testing.T) {
	defs := []APIDefinition{
		{APIName: "prefix", PredicateItems: []PredicateItem{{Pattern: "/api/v1", MatchStrategy: URLMatchPrefix}}},
		{APIName: "regex", PredicateItems: []PredicateItem{{Pattern: `/orders/[0-9]+`, MatchStrategy: URLMatchRegex}}},
		{APIName: "group", PredicateItems: []PredicateItem{
			{Items: []PredicateItem{{Pattern: "/g1"}, {Pattern: "/g2/*", MatchStrategy: URLMatchPrefix}}},
		}},
		{APIName: "empty", PredicateItems: []PredicateItem{}},
	}
	m, rep := NewAPIMatcher(defs)
	if rep.Loaded != 4 || len(rep.Rejected) != 0 {
		t.Fatalf("report = %+v", rep)
	}
	tests := []struct {
		path string
		want []string
	}{
		{"/api/v1/users", []string{"prefix"}},
		{"/api/v10", []string{"prefix"}}, // a plain prefix is a string prefix
		{"/api/v", nil},
		{"/orders/12", []string{"regex"}},
		{"/orders/12/items", nil}, // regex must match the whole path
		{"/x/orders/12", nil},
		{"/g1", []string{"group"}},
		{"/g2/a", []string{"group"}},
		{"/g2/a/b", nil},
	}
	for _, tt := range tests {
		if got := m.Match(tt.path, nil); !slices.Equal(got, tt.want) {
			t.Errorf("Match(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
	// Several APIs can match one path, in load order, appended to dst.
	m2, _ := NewAPIMatcher([]APIDefinition{
		{APIName: "b", PredicateItems: []PredicateItem{{Pattern: "/x/**", MatchStrategy: URLMatchPrefix}}},
		{APIName: "a", PredicateItems: []PredicateItem{{Pattern: "/x/y"}}},
	})
	if got := m2.Match("/x/y", []string{"route"}); !slices.Equal(got, []string{"route", "b", "a"}) {
		t.Errorf("Match appended %q", got)
	}
}

func TestAPIMatcherRejects(t *testing.T) {
	defs := []APIDefinition{
		{APIName: " ", PredicateItems: []PredicateItem{{Pattern: "/a"}}},
		{APIName: "nopreds"},
		{APIName: "badstrategy", PredicateItems: []PredicateItem{{Pattern: "/a", MatchStrategy: 7}}},
		{APIName: "badregex", PredicateItems: []PredicateItem{{Pattern: "(", MatchStrategy: URLMatchRegex}}},
		{APIName: "badant", PredicateItems: []PredicateItem{{Pattern: "/a/{x", MatchStrategy: URLMatchPrefix}}},
		{APIName: "ok", PredicateItems: []PredicateItem{{Pattern: "/a"}, {Pattern: "/b"}}},
		{APIName: "ok", PredicateItems: []PredicateItem{{Pattern: "/b"}, {Pattern: "/a"}}}, // same set: duplicate
		{APIName: "ok", PredicateItems: []PredicateItem{{Pattern: "/c"}}},                  // same name, different
	}
	m, rep := NewAPIMatcher(defs)
	if rep.Loaded != 1 || rep.Duplicates != 1 {
		t.Errorf("Loaded=%d Duplicates=%d, want 1 and 1", rep.Loaded, rep.Duplicates)
	}
	wantIdx := []int{0, 1, 2, 3, 4, 7}
	var gotIdx []int
	for _, rj := range rep.Rejected {
		gotIdx = append(gotIdx, rj.Index)
		if rj.Reason == "" {
			t.Errorf("rejection %d has no reason", rj.Index)
		}
	}
	if !slices.Equal(gotIdx, wantIdx) {
		t.Errorf("rejected indexes %v, want %v", gotIdx, wantIdx)
	}
	if !strings.Contains(rep.Rejected[3].Reason, "regex") || !strings.Contains(rep.Rejected[3].Reason, "badregex") {
		t.Errorf("regex rejection does not say what was wrong: %q", rep.Rejected[3].Reason)
	}
	if got := m.Match("/c", nil); got != nil {
		t.Errorf("the second definition of ok was applied: %q", got)
	}
	if got := m.Definitions(); len(got) != 1 || got[0].APIName != "ok" {
		t.Errorf("Definitions() = %+v", got)
	}
	if err := (APIDefinition{}).Validate(); !errors.Is(err, ErrInvalidAPI) {
		t.Errorf("Validate error %v does not wrap ErrInvalidAPI", err)
	}
}

func TestAPIMatcherCopies(t *testing.T) {
	defs := sentinelExampleAPIs()
	m, _ := NewAPIMatcher(defs)
	defs[0].PredicateItems[0].Pattern = "/changed"
	if got := m.Match("/product/baz", nil); len(got) != 1 {
		t.Errorf("matcher shares the caller's slice: %q", got)
	}
	out := m.Definitions()
	out[0].PredicateItems[0].Pattern = "/changed"
	if m.Definitions()[0].PredicateItems[0].Pattern != "/product/baz" {
		t.Error("Definitions hands out the matcher's own slice")
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	m, _ := NewAPIMatcher(sentinelExampleAPIs())
	dst := make([]string, 0, 4)
	allocs := testing.AllocsPerRun(100, func() {
		dst = m.Match("/product/foo/22", dst[:0])
	})
	if allocs != 0 {
		t.Errorf("Match allocates %v times", allocs)
	}
}

func FuzzAntMatch(f *testing.F) {
	f.Add("/product/foo/**", "/product/foo/22")
	f.Add("/a/**/b/*/{id:[0-9]+}", "/a/x/b/c/12")
	f.Add("/{a}{b}/?*", "//x")
	f.Fuzz(func(t *testing.T, pattern, path string) {
		ap, err := compileAnt(pattern)
		if err != nil {
			return
		}
		var buf [maxStackSegs][2]int32
		got := ap.match(path, splitPath(path, buf[:0]))
		// A pattern without wildcards matches exactly the paths with the same
		// segments, the same leading slash and the same trailing slash.
		if !hasAntWildcard(pattern) {
			want := strings.HasPrefix(pattern, "/") == strings.HasPrefix(path, "/") &&
				strings.HasSuffix(pattern, "/") == strings.HasSuffix(path, "/") &&
				slices.Equal(nonEmpty(pattern), nonEmpty(path))
			if pattern == "/" || pattern == "" {
				return // the trailing-slash rule is ambiguous for a bare root
			}
			if got != want {
				t.Errorf("literal %q ~ %q = %v, want %v", pattern, path, got, want)
			}
		}
	})
}

func nonEmpty(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, "/") {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func FuzzNewAPIMatcher(f *testing.F) {
	f.Add("api", "/a/**", 1, "/a/b")
	f.Add("api", "(", 2, "/x")
	f.Fuzz(func(t *testing.T, name, pattern string, strategy int, path string) {
		m, rep := NewAPIMatcher([]APIDefinition{{APIName: name, PredicateItems: []PredicateItem{
			{Pattern: pattern, MatchStrategy: strategy},
			{Items: []PredicateItem{{Pattern: pattern, MatchStrategy: strategy}}},
		}}})
		if rep.Loaded+len(rep.Rejected) != 1 {
			t.Fatalf("report %+v accounts for %d definitions, want 1", rep, rep.Loaded+len(rep.Rejected))
		}
		_ = m.Match(path, nil)
	})
}

// TestMatchIndexAgreesWithScan checks the indexed Match against trying every
// predicate of every API in turn, over patterns of every kind (exact, plain
// prefix, Ant with a literal or a wildcard first segment, regex with and
// without a literal prefix) and paths that do and do not share their segments.
func TestMatchIndexAgreesWithScan(t *testing.T) {
	patterns := []PredicateItem{
		{Pattern: "/orders/1", MatchStrategy: URLMatchExact},
		{Pattern: "/orders", MatchStrategy: URLMatchExact},
		{Pattern: "/", MatchStrategy: URLMatchExact},
		{Pattern: "/ord", MatchStrategy: URLMatchPrefix},
		{Pattern: "/orders/**", MatchStrategy: URLMatchPrefix},
		{Pattern: "orders/**", MatchStrategy: URLMatchPrefix},
		{Pattern: "/orders/*/items", MatchStrategy: URLMatchPrefix},
		{Pattern: "/*/1", MatchStrategy: URLMatchPrefix},
		{Pattern: "/**/items", MatchStrategy: URLMatchPrefix},
		{Pattern: "/{kind}/{id:[0-9]+}", MatchStrategy: URLMatchPrefix},
		{Pattern: "/users/{id}/**", MatchStrategy: URLMatchPrefix},
		{Pattern: "/orders/[0-9]+/items", MatchStrategy: URLMatchRegex},
		{Pattern: "(?i)/ORDERS/.*", MatchStrategy: URLMatchRegex},
		{Pattern: "/(orders|users)/1", MatchStrategy: URLMatchRegex},
		{Pattern: "", MatchStrategy: URLMatchPrefix},
	}
	paths := []string{"", "/", "//", "/orders", "/orders/", "/orders/1", "//orders//1", "/orders/1/items",
		"/orders/x/items", "orders/1", "/ord", "/users/1", "/users/7/a/b", "/ORDERS/1", "/x/1", "/items", "/a/b/items"}
	for _, napis := range []int{len(patterns), maxIndexedAPIs + 1} {
		var defs []APIDefinition
		for i := range napis {
			// API i has pattern i and pattern i+5 (mod the list), so most
			// patterns are shared by two APIs and an API can match twice.
			defs = append(defs, APIDefinition{APIName: fmt.Sprint("api", i), PredicateItems: []PredicateItem{
				patterns[i%len(patterns)], patterns[(i+5)%len(patterns)]}})
		}
		m, rep := NewAPIMatcher(defs)
		if len(rep.Rejected) != 0 {
			t.Fatal(rep.Rejected)
		}
		for _, path := range paths {
			var want []string
			segs := splitPath(path, nil)
			for i := range m.apis {
				if m.apis[i].match(path, segs) {
					want = append(want, m.apis[i].name)
				}
			}
			if got := m.Match(path, nil); !slices.Equal(got, want) {
				t.Errorf("%d APIs: Match(%q) = %q, want %q", napis, path, got, want)
			}
		}
	}
}

func TestAPIDefinitionEqual(t *testing.T) {
	p := func(pattern string, strategy int) PredicateItem {
		return PredicateItem{Pattern: pattern, MatchStrategy: strategy}
	}
	g := func(items ...PredicateItem) PredicateItem { return PredicateItem{Items: items} }
	def := func(name string, items ...PredicateItem) APIDefinition {
		return APIDefinition{APIName: name, PredicateItems: items}
	}
	a, b := p("/a", URLMatchExact), p("/b/**", URLMatchPrefix)
	for _, tt := range []struct {
		name string
		x, y APIDefinition
		want bool
	}{
		{"same", def("api", a, b), def("api", a, b), true},
		{"order does not matter", def("api", a, b), def("api", b, a), true},
		{"nested order does not matter", def("api", g(a, b)), def("api", g(b, a)), true},
		{"other name", def("api", a), def("other", a), false},
		{"other strategy", def("api", a), def("api", p("/a", URLMatchRegex)), false},
		{"group vs its item", def("api", g(a)), def("api", a), false},
		{"duplicates counted", def("api", a, a), def("api", a, b), false},
		{"more items", def("api", a), def("api", a, b), false},
		{"nil and empty", def("api"), APIDefinition{APIName: "api", PredicateItems: []PredicateItem{}}, true},
	} {
		if got := tt.x.Equal(tt.y); got != tt.want {
			t.Errorf("%s: Equal = %v, want %v", tt.name, got, tt.want)
		}
		if got := tt.y.Equal(tt.x); got != tt.want {
			t.Errorf("%s (swapped): Equal = %v, want %v", tt.name, got, tt.want)
		}
	}
}
