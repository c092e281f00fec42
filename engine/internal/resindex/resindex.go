// Package resindex maps resource names to what the rules of one family do for
// them: the rules keyed by the exact name merged with those whose regular
// expression matches the name, behind a lock-free, allocation-free lookup. Every
// rule family uses it, so that regex resources behave the same in each and the
// bound on remembered names is the same everywhere.
package resindex

import (
	"regexp"
	"sync"
	"sync/atomic"
)

// MaxCached bounds how many resource names, other than the exact names of the
// rules, an index remembers the regex matches of. Resource names can come from
// request data; past the bound a lookup is resolved afresh on each call
// (correct, but it allocates).
const MaxCached = 4096

// Regex is an entry that applies to every resource name Re matches.
type Regex[E any] struct {
	Re    *regexp.Regexp
	Entry E
}

// Index maps a resource name to a value R built from the entries E that apply
// to it. It is immutable once built except for its match cache, which is
// copy-on-write so that lookups stay lock-free and allocation-free. A nil
// *Index has no entries.
type Index[E, R any] struct {
	exact map[string]R
	regex []Regex[E]
	merge func(resource string, exact R, matched []E) R
	cache atomic.Pointer[map[string]R]
	mu    sync.Mutex // serializes cache writers
}

// New returns an index over exact (the value of each exact resource name,
// built from its exact entries) and regex. merge combines the value of a name's
// exact entries (the zero R for a name without any) with the regex entries
// that match the name, in regex order. It is called only when at least one
// regex matches; it must not modify exact nor keep matched (New reuses it);
// and it must give the same result for the same arguments, as concurrent
// lookups of one name may both call it.
//
// New merges the regex entries into every exact name at once, so that the
// names rules are written for never depend on the cache bound; other names are
// merged on first lookup. New keeps exact and regex.
func New[E, R any](exact map[string]R, regex []Regex[E], merge func(resource string, exact R, matched []E) R) *Index[E, R] {
	ix := &Index[E, R]{exact: exact, regex: regex, merge: merge}
	if len(regex) == 0 {
		return ix
	}
	var matched []E
	for res, r := range exact {
		if matched = ix.matching(res, matched[:0]); len(matched) > 0 {
			exact[res] = merge(res, r, matched)
		}
	}
	return ix
}

// Lookup returns the value for resource, the zero R when no entry applies.
// Callers must not modify what it returns.
func (ix *Index[E, R]) Lookup(resource string) R {
	if ix == nil {
		var zero R
		return zero
	}
	if r, ok := ix.exact[resource]; ok || len(ix.regex) == 0 {
		return r
	}
	if m := ix.cache.Load(); m != nil {
		if r, ok := (*m)[resource]; ok {
			return r
		}
	}
	return ix.resolve(resource)
}

// HasRegex reports whether some entry is a regex one.
func (ix *Index[E, R]) HasRegex() bool { return ix != nil && len(ix.regex) > 0 }

// matching appends the regex entries that match resource to dst.
func (ix *Index[E, R]) matching(resource string, dst []E) []E {
	for _, e := range ix.regex {
		if e.Re.MatchString(resource) {
			dst = append(dst, e.Entry)
		}
	}
	return dst
}

// resolve merges and remembers the value of a name that is not an exact one.
func (ix *Index[E, R]) resolve(resource string) R {
	var r R
	if matched := ix.matching(resource, nil); len(matched) > 0 {
		r = ix.merge(resource, r, matched)
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	old := ix.cache.Load()
	n := 0
	if old != nil {
		if prev, ok := (*old)[resource]; ok {
			return prev // a concurrent lookup got here first: share its value
		}
		n = len(*old)
	}
	if n >= MaxCached {
		return r
	}
	next := make(map[string]R, n+1)
	if old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	next[resource] = r
	ix.cache.Store(&next)
	return r
}

// Lists collects the entries of an index whose value for a name is the list
// of entries that apply to it: its exact entries in Add order, then the
// matching regex entries in Add order. The zero value is ready to use.
type Lists[E any] struct {
	exact map[string][]E
	regex []Regex[E]
}

// Add registers e under resource; re is non-nil for a regex resource.
func (l *Lists[E]) Add(resource string, re *regexp.Regexp, e E) {
	if re != nil {
		l.regex = append(l.regex, Regex[E]{Re: re, Entry: e})
		return
	}
	if l.exact == nil {
		l.exact = make(map[string][]E)
	}
	l.exact[resource] = append(l.exact[resource], e)
}

// Index returns the index of what was added. l must not be used afterwards.
func (l *Lists[E]) Index() *Index[E, []E] {
	return New(l.exact, l.regex, appendMatched[E])
}

func appendMatched[E any](_ string, exact, matched []E) []E {
	out := make([]E, 0, len(exact)+len(matched))
	return append(append(out, exact...), matched...)
}
