package resindex

import (
	"regexp"
	"slices"
	"strconv"
	"testing"
)

func TestLookupExactThenRegex(t *testing.T) {
	ix := New[string]()
	ix.Add("GET:/a", nil, "exact-a")
	ix.Add("GET:/.*", regexp.MustCompile(`^(?:GET:/.*)$`), "any-get")
	ix.Add("GET:/a", nil, "exact-a2")
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
	if n := testing.AllocsPerRun(100, func() { ix.Lookup("GET:/b") }); n != 0 {
		t.Fatalf("cached lookup allocates %v times", n)
	}
}

func TestCacheIsBounded(t *testing.T) {
	ix := New[int]()
	ix.Add("r.*", regexp.MustCompile(`^r.*$`), 1)
	for i := range maxRegexCache + 100 {
		if got := ix.Lookup("r" + strconv.Itoa(i)); len(got) != 1 {
			t.Fatalf("lookup %d = %v", i, got)
		}
	}
	if n := len(*ix.cache.Load()); n != maxRegexCache {
		t.Fatalf("cache holds %d names, want the bound %d", n, maxRegexCache)
	}
}

func TestNoRegexNoCache(t *testing.T) {
	ix := New[int]()
	ix.Add("a", nil, 1)
	ix.Lookup("a")
	ix.Lookup("b")
	if ix.cache.Load() != nil {
		t.Fatal("exact-only index built a cache")
	}
}
