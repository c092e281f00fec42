package resindex

import (
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
)

func lists(add func(l *Lists[string])) *Index[string, []string] {
	var l Lists[string]
	add(&l)
	return l.Index()
}

func TestLookupExactThenRegex(t *testing.T) {
	ix := lists(func(l *Lists[string]) {
		l.Add("GET:/a", nil, "exact-a")
		l.Add("GET:/.*", regexp.MustCompile(`^(?:GET:/.*)$`), "any-get")
		l.Add("GET:/a", nil, "exact-a2")
	})
	cases := map[string][]string{
		"GET:/a":  {"exact-a", "exact-a2", "any-get"},
		"GET:/b":  {"any-get"},
		"POST:/a": nil,
	}
	for res, want := range cases {
		for range 2 { // the second lookup comes from the cache
			if got := ix.Lookup(res); !slices.Equal(got, want) {
				t.Fatalf("Lookup(%q) = %v, want %v", res, got, want)
			}
		}
	}
	for _, res := range []string{"GET:/a", "GET:/b", "POST:/a"} {
		if n := testing.AllocsPerRun(100, func() { ix.Lookup(res) }); n != 0 {
			t.Fatalf("Lookup(%q) allocates %v times", res, n)
		}
	}
}

func TestNilIndexIsEmpty(t *testing.T) {
	var ix *Index[int, []int]
	if got := ix.Lookup("a"); got != nil || ix.HasRegex() {
		t.Fatalf("nil index: Lookup = %v, HasRegex = %v", got, ix.HasRegex())
	}
}

func TestCacheIsBounded(t *testing.T) {
	ix := lists(func(l *Lists[string]) { l.Add("r.*", regexp.MustCompile(`^r.*$`), "re") })
	for i := range MaxCached + 100 {
		if got := ix.Lookup("r" + strconv.Itoa(i)); len(got) != 1 {
			t.Fatalf("lookup %d = %v", i, got)
		}
	}
	if n := len(*ix.cache.Load()); n != MaxCached {
		t.Fatalf("cache holds %d names, want the bound %d", n, MaxCached)
	}
}

// The names rules are written for are merged when the index is built, so a
// cache filled by request-made names cannot make them allocate.
func TestExactNamesIgnoreTheBound(t *testing.T) {
	ix := lists(func(l *Lists[string]) {
		l.Add("x.*", regexp.MustCompile(`^x.*$`), "re")
		l.Add("xa", nil, "exact")
	})
	for i := range MaxCached + 1 {
		ix.Lookup("x" + strconv.Itoa(i))
	}
	if got := ix.Lookup("xa"); !slices.Equal(got, []string{"exact", "re"}) {
		t.Fatalf(`Lookup("xa") = %v`, got)
	}
	if n := testing.AllocsPerRun(100, func() { ix.Lookup("xa") }); n != 0 {
		t.Fatalf("exact lookup past the bound allocates %v times", n)
	}
}

func TestNoRegexNoCache(t *testing.T) {
	ix := lists(func(l *Lists[string]) { l.Add("a", nil, "1") })
	ix.Lookup("a")
	ix.Lookup("b")
	if ix.cache.Load() != nil || ix.HasRegex() {
		t.Fatal("exact-only index built a cache")
	}
}

// merge sees the exact value and the matches in regex order, and only when a
// regex matches.
func TestMergeArguments(t *testing.T) {
	type call struct {
		res     string
		exact   int
		matched []string
	}
	var (
		mu    sync.Mutex
		calls []call
	)
	merge := func(res string, exact int, matched []string) int {
		mu.Lock()
		calls = append(calls, call{res, exact, slices.Clone(matched)})
		mu.Unlock()
		return exact*10 + len(matched)
	}
	ix := New(map[string]int{"ab": 7, "zz": 3}, []Regex[string]{
		{Re: regexp.MustCompile(`^a.*$`), Entry: "a"},
		{Re: regexp.MustCompile(`^.b$`), Entry: "b"},
	}, merge)
	want := map[string]int{"ab": 72, "zz": 3, "cb": 1, "q": 0}
	for res, v := range want {
		if got := ix.Lookup(res); got != v {
			t.Errorf("Lookup(%q) = %d, want %d", res, got, v)
		}
	}
	slices.SortFunc(calls, func(a, b call) int {
		if a.res < b.res {
			return -1
		}
		return 1
	})
	wantCalls := []call{{"ab", 7, []string{"a", "b"}}, {"cb", 0, []string{"b"}}}
	if len(calls) != len(wantCalls) {
		t.Fatalf("merge calls = %v, want %v", calls, wantCalls)
	}
	for i, c := range calls {
		w := wantCalls[i]
		if c.res != w.res || c.exact != w.exact || !slices.Equal(c.matched, w.matched) {
			t.Fatalf("merge call %d = %v, want %v", i, c, w)
		}
	}
}

// Concurrent first lookups of one name agree on one value.
func TestConcurrentResolveSharesOneValue(t *testing.T) {
	type v struct{ n int }
	ix := New[int, *v](nil, []Regex[int]{{Re: regexp.MustCompile(`.`), Entry: 1}},
		func(string, *v, []int) *v { return &v{1} })
	const g = 8
	got := make([]*v, g)
	var wg sync.WaitGroup
	for i := range g {
		wg.Go(func() { got[i] = ix.Lookup("r") })
	}
	wg.Wait()
	for i := range got {
		if got[i] != ix.Lookup("r") {
			t.Fatalf("lookup %d got a value other than the cached one", i)
		}
	}
}
