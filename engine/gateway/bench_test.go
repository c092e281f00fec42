package gateway

import (
	"fmt"
	"testing"
)

func benchAPIs() []APIDefinition {
	var apis []APIDefinition
	for i := range 10 {
		apis = append(apis, APIDefinition{APIName: fmt.Sprintf("api%d", i), PredicateItems: []PredicateItem{
			{Pattern: fmt.Sprintf("/v%d/**", i), MatchStrategy: URLMatchPrefix},
			{Pattern: fmt.Sprintf("/x/%d", i), MatchStrategy: URLMatchExact},
		}})
	}
	apis[1].PredicateItems = append(apis[1].PredicateItems, PredicateItem{Pattern: "/orders/*/items", MatchStrategy: URLMatchPrefix})
	apis[2].PredicateItems = append(apis[2].PredicateItems, PredicateItem{Pattern: "/orders/[0-9]+/items", MatchStrategy: URLMatchRegex})
	return apis
}

// BenchmarkMatchingAPIs matches one path against 10 API groups (21 Ant,
// exact and regex predicates); two groups match.
func BenchmarkMatchingAPIs(b *testing.B) {
	m := NewManager(nil)
	m.LoadAPIs(benchAPIs())
	dst := make([]string, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		dst = m.MatchingAPIs("/orders/42/items", dst[:0])
	}
	if len(dst) != 2 {
		b.Fatalf("matched %q", dst)
	}
}

// BenchmarkAppendArgs builds the args of a resource with three param items
// (client IP, header with a prefix pattern, URL parameter) and a plain rule,
// with and without a per-request cache.
func BenchmarkAppendArgs(b *testing.B) {
	m := NewManager(nil)
	m.Load([]Rule{
		gwRule("r", 1e9, nil),
		gwRule("r", 1e9, &ParamItem{ParseStrategy: ParseClientIP}),
		gwRule("r", 1e9, &ParamItem{ParseStrategy: ParseHeader, FieldName: "X-User", Pattern: "u-", MatchStrategy: ParamMatchPrefix}),
		gwRule("r", 1e9, &ParamItem{ParseStrategy: ParseURLParam, FieldName: "page"}),
	})
	req := fakeReq{ip: "192.0.2.1", headers: map[string]string{"X-User": "u-7"}, query: map[string]string{"page": "3"}}
	dst := make([]any, 0, 8)
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			dst = m.AppendArgs(dst[:0], "r", req)
		}
	})
	b.Run("cached", func(b *testing.B) {
		cr := &cachingReq{fakeReq: req}
		m.AppendArgs(dst[:0], "r", cr) // parsed once per request
		b.ReportAllocs()
		for b.Loop() {
			dst = m.AppendArgs(dst[:0], "r", cr)
		}
	})
}

type cachingReq struct {
	fakeReq
	cache ArgCache
	reads int
}

func (c *cachingReq) ArgCache() *ArgCache { return &c.cache }

func (c *cachingReq) Header(n string) string { c.reads++; return c.fakeReq.Header(n) }
