package gateway

import (
	"regexp"
	"testing"
)

// simpleSeeds are patterns of the simple shape and of others, with paths
// around their edges.
var simpleSeeds = []struct{ pattern, path string }{
	{"/orders/[0-9]+/items", "/orders/42/items"},
	{"/orders/[0-9]+/items", "/orders//items"},
	{"/orders/([0-9]+)/items", "/orders/7/items/"},
	{"/v[0-9]{1,3}/x", "/v1234/x"},
	{"/v[0-9]{2}/x?", "/v12/"},
	{"/a.*", "/a\nb"},
	{"(?s)/a.*", "/a\nb"},
	{"/[^/]+/z", "/\xff/z"},
	{"/\uFFFD", "/\xff"},
	{"/é+/", "/ééé/"},
	{"[a-z]+s", "cats"},
	{"(?i)/ORDERS/[0-9]*", "/orders/1"},
	{"/(a|b)/c", "/a/c"},
	{"/(ab|cd)/c", "/ab/c"},
	{"", ""},
	{"a)|(b", "a"},
	{"^/x$", "/x"},
	{"/x[0-9]*[a-z]*", "/x1a"},
}

func TestSimpleRegexShapes(t *testing.T) {
	for _, tt := range []struct {
		pattern string
		simple  bool
	}{
		{"/orders/[0-9]+/items", true},
		{"/orders/([0-9]+)/items", true},
		{"/api/v[0-9]{1,2}/.*", true},
		{"/static/.+", true},
		{"", true},
		{"[a-z]+s", false},        // the repetition can run into the literal
		{"/x[0-9]*[a-z]*", false}, // a repetition followed by a class
		{"(?i)/orders", false},    // case folding
		{"/(ab|cd)/c", false},     // alternation
		{"/(a|b)/c", true},        // a class, for the parser
		{"^/x$", false},           // anchors of its own
		{"/\uFFFD", false},        // U+FFFD matches invalid bytes in package regexp
		{"a)|(b", false},          // only valid once wrapped
	} {
		if got := compileSimple(tt.pattern) != nil; got != tt.simple {
			t.Errorf("compileSimple(%q) simple = %v, want %v", tt.pattern, got, tt.simple)
		}
	}
}

// FuzzSimpleRegex checks the simple matcher against package regexp on every
// pattern it accepts that regexp compiles once wrapped, as a predicate is.
func FuzzSimpleRegex(f *testing.F) {
	for _, s := range simpleSeeds {
		f.Add(s.pattern, s.path)
	}
	f.Fuzz(func(t *testing.T, pattern, path string) {
		m := compileSimple(pattern)
		if m == nil {
			return
		}
		for _, e := range m.elems {
			// regexp unrolls counted repetitions, so large counts make it
			// slow to check against; the matcher treats every count alike.
			if e.min > 20 || e.max > 20 {
				return
			}
		}
		re, err := regexp.Compile(`^(?:` + pattern + `)$`)
		if err != nil {
			// The predicate is rejected before compileSimple is asked (as for
			// "\Q", which quotes the wrapper's closing parenthesis).
			return
		}
		if got, want := m.match(path), re.MatchString(path); got != want {
			t.Errorf("pattern %q, path %q: simple match %v, regexp %v", pattern, path, got, want)
		}
	})
}
