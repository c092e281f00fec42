package gateway

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/rulesync/rulesync/engine/base"
)

// pathPredicate is one compiled path item of an API definition.
type pathPredicate struct {
	strategy int
	pattern  string
	ant      *antPattern    // PREFIX with wildcards
	re       *regexp.Regexp // REGEX
	lit      string         // REGEX: a prefix every matching path has
	simple   *simpleRegex   // REGEX of a simple shape: matched without re
}

func compilePredicate(it PredicateItem) (pathPredicate, error) {
	p := pathPredicate{strategy: it.MatchStrategy, pattern: it.Pattern}
	switch it.MatchStrategy {
	case URLMatchExact:
	case URLMatchPrefix:
		if hasAntWildcard(it.Pattern) {
			ap, err := compileAnt(it.Pattern)
			if err != nil {
				return p, err
			}
			p.ant = ap
		}
	case URLMatchRegex:
		// Sentinel matches the whole path (Java's Pattern.matches).
		re, err := regexp.Compile(`^(?:` + it.Pattern + `)$`)
		if err != nil {
			return p, fmt.Errorf("regex %q does not compile: %w", it.Pattern, err)
		}
		p.re = re
		p.lit, _ = re.LiteralPrefix()
		p.simple = compileSimple(it.Pattern)
	default:
		return p, fmt.Errorf("matchStrategy %d is not 0..2", it.MatchStrategy)
	}
	return p, nil
}

func (p *pathPredicate) match(path string, segs [][2]int32) bool {
	switch p.strategy {
	case URLMatchExact:
		return path == p.pattern
	case URLMatchPrefix:
		if p.ant != nil {
			return p.ant.match(path, segs)
		}
		// A PREFIX pattern without wildcards is a plain string prefix.
		return strings.HasPrefix(path, p.pattern)
	case URLMatchRegex:
		if p.simple != nil {
			return p.simple.match(path)
		}
		return strings.HasPrefix(path, p.lit) && p.re.MatchString(path)
	}
	return false
}

// firstSegment returns the literal that the first non-empty segment of every
// path p matches must equal, or "" when p does not pin it: an Ant pattern
// whose first segment has no wildcard. Exact patterns are indexed whole.
func (p *pathPredicate) firstSegment() string {
	if p.ant != nil && len(p.ant.segs) > 0 && p.ant.segs[0].kind == segLiteral {
		return p.ant.segs[0].text
	}
	return ""
}

type compiledAPI struct {
	name  string
	preds []pathPredicate // group items are flattened: any item matches
}

func (a *compiledAPI) match(path string, segs [][2]int32) bool {
	for i := range a.preds {
		if a.preds[i].match(path, segs) {
			return true
		}
	}
	return false
}

// APIMatcher is an immutable, compiled set of API definitions. It is safe for
// concurrent use.
//
// Match does not try every predicate: exact patterns are looked up by the
// whole path, and Ant patterns whose first segment is a literal by the path's
// first segment; only the other predicates (plain prefixes, regular
// expressions, Ant patterns starting with a wildcard) are tried on every path.
type APIMatcher struct {
	defs   []APIDefinition
	apis   []compiledAPI
	anyAnt bool // some predicate needs the path split into segments

	exact   map[string][]int32   // exact pattern -> APIs
	byFirst map[string][]predRef // first segment -> Ant predicates
	others  []predRef            // tried on every path
}

// predRef names one predicate of one API.
type predRef struct{ api, pred int32 }

// maxIndexedAPIs bounds the APIs the indexed Match tracks in a bit set on the
// stack; beyond it Match tries every predicate in turn.
const maxIndexedAPIs = 256

// index builds the lookup tables of Match.
func (m *APIMatcher) index() {
	m.exact = map[string][]int32{}
	m.byFirst = map[string][]predRef{}
	for ai := range m.apis {
		for pi := range m.apis[ai].preds {
			p := &m.apis[ai].preds[pi]
			ref := predRef{int32(ai), int32(pi)}
			switch {
			case p.strategy == URLMatchExact:
				if ids := m.exact[p.pattern]; len(ids) == 0 || ids[len(ids)-1] != ref.api {
					m.exact[p.pattern] = append(ids, ref.api)
				}
			case p.firstSegment() != "":
				m.byFirst[p.firstSegment()] = append(m.byFirst[p.firstSegment()], ref)
			default:
				m.others = append(m.others, ref)
			}
		}
	}
}

// NewAPIMatcher validates and compiles defs. Invalid definitions (blank name,
// missing predicates, a bad match strategy, a regular expression or an Ant
// template that does not compile) are skipped and reported; a definition equal
// to an earlier one of the same name is a duplicate; a different definition
// reusing an earlier name is rejected, the first one stays in force.
func NewAPIMatcher(defs []APIDefinition) (*APIMatcher, base.LoadReport) {
	var rep base.LoadReport
	m := &APIMatcher{}
	index := make(map[string]int, len(defs))
	for i, d := range defs {
		if err := d.Validate(); err != nil {
			rep.Rejected = append(rep.Rejected, base.Rejection{Index: i, Resource: d.APIName, Reason: err.Error()})
			continue
		}
		if j, ok := index[d.APIName]; ok {
			if m.defs[j].Equal(d) {
				rep.Duplicates++
				continue
			}
			rep.Rejected = append(rep.Rejected, base.Rejection{Index: i, Resource: d.APIName,
				Reason: fmt.Sprintf("%v: apiName %q is already defined by an earlier, different definition", ErrInvalidAPI, d.APIName)})
			continue
		}
		api := compiledAPI{name: d.APIName}
		err := flatten(d.PredicateItems, func(it PredicateItem) error {
			p, err := compilePredicate(it)
			if err != nil {
				return err
			}
			api.preds = append(api.preds, p)
			return nil
		})
		if err != nil {
			rep.Rejected = append(rep.Rejected, base.Rejection{Index: i, Resource: d.APIName,
				Reason: fmt.Sprintf("%v: %s: %v", ErrInvalidAPI, d.APIName, err)})
			continue
		}
		for _, p := range api.preds {
			if p.ant != nil {
				m.anyAnt = true
			}
		}
		index[d.APIName] = len(m.defs)
		m.defs = append(m.defs, cloneAPI(d))
		m.apis = append(m.apis, api)
	}
	rep.Loaded = len(m.defs)
	m.index()
	return m, rep
}

func flatten(items []PredicateItem, fn func(PredicateItem) error) error {
	for _, it := range items {
		if it.IsGroup() {
			if err := flatten(it.Items, fn); err != nil {
				return err
			}
			continue
		}
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

func cloneAPI(d APIDefinition) APIDefinition {
	d.PredicateItems = cloneItems(d.PredicateItems)
	return d
}

func cloneItems(items []PredicateItem) []PredicateItem {
	if items == nil {
		return nil
	}
	out := make([]PredicateItem, len(items))
	for i, it := range items {
		it.Items = cloneItems(it.Items)
		out[i] = it
	}
	return out
}

// Equal reports whether d and o define the same API: the same name and the
// same predicate items, in any order, as Sentinel keeps them in a set.
func (d APIDefinition) Equal(o APIDefinition) bool {
	if d.APIName != o.APIName {
		return false
	}
	return itemsEqual(d.PredicateItems, o.PredicateItems)
}

func itemsEqual(a, b []PredicateItem) bool {
	if len(a) != len(b) {
		return false
	}
	used := make([]bool, len(b))
outer:
	for _, x := range a {
		for j, y := range b {
			if !used[j] && x.Pattern == y.Pattern && x.MatchStrategy == y.MatchStrategy &&
				x.IsGroup() == y.IsGroup() && itemsEqual(x.Items, y.Items) {
				used[j] = true
				continue outer
			}
		}
		return false
	}
	return true
}

// Definitions returns a copy of the definitions in force, in load order.
func (m *APIMatcher) Definitions() []APIDefinition {
	if m == nil {
		return nil
	}
	out := make([]APIDefinition, len(m.defs))
	for i, d := range m.defs {
		out[i] = cloneAPI(d)
	}
	return out
}

// Has reports whether an API of that name is defined.
func (m *APIMatcher) Has(name string) bool {
	if m == nil {
		return false
	}
	return slices.ContainsFunc(m.apis, func(a compiledAPI) bool { return a.name == name })
}

// Match appends to dst the name of every API one of whose predicates matches
// path, in load order, and returns the extended slice. It does not allocate
// when dst has room and the path has at most 32 segments.
func (m *APIMatcher) Match(path string, dst []string) []string {
	if m == nil || len(m.apis) == 0 {
		return dst
	}
	var buf [maxStackSegs][2]int32
	var segs [][2]int32
	if m.anyAnt {
		segs = splitPath(path, buf[:0])
	}
	if len(m.apis) > maxIndexedAPIs {
		for i := range m.apis {
			if m.apis[i].match(path, segs) {
				dst = append(dst, m.apis[i].name)
			}
		}
		return dst
	}
	var hit [maxIndexedAPIs / 64]uint64
	found := false
	for _, ai := range m.exact[path] {
		hit[ai/64] |= 1 << (ai % 64)
		found = true
	}
	try := func(refs []predRef) {
		for _, r := range refs {
			if hit[r.api/64]&(1<<(r.api%64)) == 0 && m.apis[r.api].preds[r.pred].match(path, segs) {
				hit[r.api/64] |= 1 << (r.api % 64)
				found = true
			}
		}
	}
	if len(segs) > 0 {
		try(m.byFirst[segAt(path, segs, 0)])
	}
	try(m.others)
	if !found {
		return dst
	}
	for i := range m.apis {
		if hit[i/64]&(1<<(i%64)) != 0 {
			dst = append(dst, m.apis[i].name)
		}
	}
	return dst
}
