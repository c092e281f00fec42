// Package resindex maps resource names to the rules that apply to them, exact
// names first and then regular-expression resources, with a lock-free,
// allocation-free lookup. Rule families share it so that regex resources behave
// the same in each.
package resindex

import (
	"regexp"
	"sync"
	"sync/atomic"
)

// maxRegexCache bounds how many resource names an index remembers the regex
// matches of. Resource names can come from request data; past the bound a
// lookup is resolved afresh on each call (correct, but it allocates).
const maxRegexCache = 4096

type regexEntry[T any] struct {
	re *regexp.Regexp
	v  T
}

// Index maps a resource name to the entries that apply to it: those keyed by
// the exact name, then those whose regular expression matches it. It is
// immutable once built except for its match cache, which is copy-on-write so
// that lookups stay lock-free and allocation-free.
type Index[T any] struct {
	exact map[string][]T
	regex []regexEntry[T]
	cache atomic.Pointer[map[string][]T]
	mu    sync.Mutex
}

// New returns an empty index.
func New[T any]() *Index[T] { return &Index[T]{exact: make(map[string][]T)} }

// Add registers v under resource; re is non-nil for a regex resource. Add must
// not be called once the index is in use.
func (ix *Index[T]) Add(resource string, re *regexp.Regexp, v T) {
	if re != nil {
		ix.regex = append(ix.regex, regexEntry[T]{re: re, v: v})
		return
	}
	ix.exact[resource] = append(ix.exact[resource], v)
}

// Lookup returns the entries for resource; callers must not modify the slice.
func (ix *Index[T]) Lookup(resource string) []T {
	if len(ix.regex) == 0 {
		return ix.exact[resource]
	}
	if m := ix.cache.Load(); m != nil {
		if v, ok := (*m)[resource]; ok {
			return v
		}
	}
	return ix.resolve(resource)
}

func (ix *Index[T]) resolve(resource string) []T {
	exact := ix.exact[resource]
	out := exact
	for _, e := range ix.regex {
		if e.re.MatchString(resource) {
			if len(out) == len(exact) {
				out = append(make([]T, 0, len(exact)+1), exact...)
			}
			out = append(out, e.v)
		}
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	old := ix.cache.Load()
	n := 0
	if old != nil {
		n = len(*old)
	}
	if n >= maxRegexCache {
		return out
	}
	next := make(map[string][]T, n+1)
	if old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	next[resource] = out
	ix.cache.Store(&next)
	return out
}
