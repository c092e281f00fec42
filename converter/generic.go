package converter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/rulesync/rulesync/codec"
)

// Option configures a codec.
type Option func(*options)

type options struct {
	dashboard bool
	maxBytes  int
}

// WithDashboardFormat makes Encode write what the Sentinel dashboard stores
// in push mode rather than what Sentinel apps read: gateway flow rules also
// carry interval and intervalUnit (the largest unit that divides intervalSec
// exactly); param and authority rules are wrapped as {"id":..,"rule":{...}}.
// Flow, degrade, system and API codecs ignore it: their canonical form is
// already what the dashboard reads. Decode reads both forms either way.
func WithDashboardFormat() Option { return func(o *options) { o.dashboard = true } }

// WithMaxBytes sets the largest payload Decode reads (DefaultMaxBytes unless
// set; n <= 0 means no limit). A larger one is unreadable.
func WithMaxBytes(n int) Option { return func(o *options) { o.maxBytes = n } }

// dashboardExtras are the bookkeeping fields of the dashboard's rule entities.
// They are known, so not reported as unknown, and carry nothing for the engine.
var dashboardExtras = []string{"app", "ip", "port", "gmtCreate", "gmtModified"}

// family describes one rule family to the shared codec.
type family[T any] struct {
	name     string
	newRule  func() T
	validate func(T) error
	equal    func(a, b T) bool
	resource func(T) string
	// bucket returns a string that equal rules share, so that
	// duplicates are found without comparing every pair.
	bucket func(T) string
	// entity: the rule may come wrapped in a dashboard entity {"rule": {...}}.
	entity bool
	// setup registers nested defaults, ignored keys and checks.
	setup func(d *decoder)
	// fix handles what the tags cannot say (required keys, renamed keys).
	fix func(c fixContext, obj *node, r *T)
	// encode replaces the plain JSON encoding of the rule list.
	encode func(o options, rules []T) ([]byte, error)
	// notes reports what the accepted rules say together (a machine assigned
	// twice, say), which no single rule shows.
	notes func(rules []T) []string
}

// fixContext gives a family hook the shared number parsing and the report.
type fixContext struct {
	d  *decoder
	st *ruleState
}

// intValue reads n leniently as an integer, failing the rule on error.
func (c fixContext) intValue(n *node, path string) (int64, bool) {
	var x int64
	tmp := ruleState{index: c.st.index, unknown: c.st.unknown, notes: c.st.notes}
	c.d.value(&tmp, nil, n, reflect.ValueOf(&x).Elem(), "", path)
	if tmp.err != "" {
		c.st.fail("%s", tmp.err)
		return 0, false
	}
	return x, true
}

type familyCodec[T any] struct {
	fam  family[T]
	dec  *decoder
	root *structInfo // the rule type's
	opts options
}

func newCodec[T any](fam family[T], opts []Option) *familyCodec[T] {
	o := options{maxBytes: DefaultMaxBytes}
	for _, opt := range opts {
		opt(&o)
	}
	d := newDecoder(reflect.TypeFor[T]())
	ignore[T](d, dashboardExtras...)
	if fam.setup != nil {
		fam.setup(d)
	}
	return &familyCodec[T]{fam: fam, dec: d, root: d.info(reflect.TypeFor[T]()), opts: o}
}

// Decode implements Codec.
func (c *familyCodec[T]) Decode(data []byte) ([]T, codec.Report, error) {
	ds := &decodeState[T]{c: c, buckets: map[string]int{}, hints: make([][]int, len(c.dec.structs))}
	root, format, err := readDocument(data, c.opts.maxBytes, ds.add)
	if err != nil {
		return nil, codec.Report{Format: format}, err
	}
	ds.rep.Format = format
	switch root.kind {
	case kindNull:
	case kindArray:
		// The elements went to ds.add while the list was parsed.
	case kindObject:
		if key := c.wrapperKey(root); key != "" {
			return nil, codec.Report{Format: format}, fmt.Errorf("%w: top level is an object holding a list under %q; want the list of %s rules itself", codec.ErrUnreadable, key, c.fam.name)
		}
		ds.rep.Notes = append(ds.rep.Notes, "top level is a single rule object, not a list; read as a list of one")
		ds.add(0, root)
	default:
		return nil, codec.Report{Format: format}, fmt.Errorf("%w: top level is %s; want a list of %s rules", codec.ErrUnreadable, root.kind, c.fam.name)
	}
	if ds.unwrapped > 0 {
		ds.rep.Notes = append(ds.rep.Notes, fmt.Sprintf("unwrapped dashboard entity format (key \"rule\") in %d of %d rules", ds.unwrapped, ds.rep.Total))
	}
	if ds.out == nil {
		ds.out = []T{}
	}
	if c.fam.notes != nil {
		ds.rep.Notes = append(ds.rep.Notes, c.fam.notes(ds.out)...)
	}
	ds.rep.Accepted = len(ds.out)
	return ds.out, ds.rep, nil
}

// decodeState is one Decode in progress.
type decodeState[T any] struct {
	c         *familyCodec[T]
	rep       codec.Report
	out       []T
	origin    []int          // input index of each accepted rule
	buckets   map[string]int // bucket -> position in out of its last rule
	prev      []int          // position of the previous rule in the same bucket, or -1
	hints     [][]int        // see structInfo.lookup
	unwrapped int
}

// add decodes the i-th rule of the input and keeps it unless it is rejected
// or equal to one kept before.
func (ds *decodeState[T]) add(i int, el *node) {
	c := ds.c
	ds.rep.Total++
	// The rule is decoded in place at the end of out, saving a copy of it.
	var zero T
	ds.out = append(ds.out, zero)
	last := len(ds.out) - 1
	r := &ds.out[last]
	wrapped, ok := c.decodeRule(i, el, &ds.rep, ds.hints, r)
	if wrapped {
		ds.unwrapped++
	}
	if !ok {
		ds.drop(last)
		return
	}
	key := c.fam.bucket(*r)
	prev, seen := ds.buckets[key]
	if !seen {
		prev = -1
	}
	for j := prev; j >= 0; j = ds.prev[j] {
		if c.fam.equal(ds.out[j], *r) {
			ds.rep.Notes = append(ds.rep.Notes, fmt.Sprintf("rule %d duplicates rule %d; dropped", i, ds.origin[j]))
			ds.drop(last)
			return
		}
	}
	ds.buckets[key] = last
	ds.prev = append(ds.prev, prev)
	ds.origin = append(ds.origin, i)
}

// drop removes the last rule of out, which was not kept.
func (ds *decodeState[T]) drop(last int) {
	var zero T
	ds.out[last] = zero // let go of what the dropped rule references
	ds.out = ds.out[:last]
}

// wrapperKey returns the key under which a top-level object holds a list,
// when that key is not a field of the rule: such an object wraps the rules
// (e.g. {"rules": [...]}) and which of its lists to read is not guessed at.
func (c *familyCodec[T]) wrapperKey(obj *node) string {
	t := reflect.TypeFor[T]()
	for i, k := range obj.keys {
		if obj.vals[i].kind == kindArray && !c.dec.knows(t, k) {
			return k
		}
	}
	return ""
}

// decodeRule decodes el, the i-th rule of the input, into *r.
func (c *familyCodec[T]) decodeRule(i int, el *node, rep *codec.Report, hints [][]int, r *T) (wrapped, ok bool) {
	reject := func(resource, reason string) {
		rep.Rejected = append(rep.Rejected, codec.Rejection{Index: i, Resource: resource, Reason: reason})
	}
	if el.kind != kindObject {
		reject("", fmt.Sprintf("rule is %s, want an object", el.kind))
		return false, false
	}
	st := &ruleState{index: i, unknown: &rep.UnknownKeys, hints: hints, notes: &rep.Notes}
	obj, path := el, ""
	if c.fam.entity {
		if inner := el.get("rule"); inner != nil && inner.kind != kindNull {
			if inner.kind != kindObject {
				reject("", fmt.Sprintf("rule: want an object, got %s", inner.kind))
				return false, false
			}
			wrapped = true
			obj, path = inner, "rule"
			t := reflect.TypeFor[T]()
			for _, k := range el.keys {
				// The entity's own keys, and copies of rule fields that some
				// dashboard versions also write beside "rule": the inner
				// rule is what counts.
				if k != "rule" && k != "id" && !c.dec.knows(t, k) {
					rep.UnknownKeys = append(rep.UnknownKeys, codec.UnknownKey{Index: i, Key: k})
				}
			}
		}
	}
	*r = c.fam.newRule()
	rv := reflect.ValueOf(r).Elem()
	c.dec.object(st, c.root, obj, rv, path)
	if wrapped && !obj.has("id") {
		// The dashboard keeps the id on the entity only; keep it on the
		// rule so that a write-back carries it.
		if id := el.get("id"); id != nil {
			if fi, ok := c.root.byName["id"]; ok {
				// A malformed entity id is bookkeeping gone wrong, not a
				// reason to drop the rule: it is left out.
				f := c.root.fields[fi]
				tmp := ruleState{index: i, unknown: st.unknown, hints: hints}
				c.dec.value(&tmp, f.sub, id, rv.Field(f.index), "", "id")
			}
		}
	}
	if c.fam.fix != nil {
		c.fam.fix(fixContext{d: c.dec, st: st}, obj, r)
	}
	if st.err != "" {
		reject(c.fam.resource(*r), st.err)
		return wrapped, false
	}
	if err := c.fam.validate(*r); err != nil {
		reject(c.fam.resource(*r), err.Error())
		return wrapped, false
	}
	return wrapped, true
}

// Encode implements Codec.
func (c *familyCodec[T]) Encode(rules []T) ([]byte, error) {
	if c.fam.encode != nil {
		return c.fam.encode(c.opts, rules)
	}
	return encodeJSON(rules)
}

// Equal implements Codec: the lists are equal when they have the same length
// and the rules at each position are equal by the rule type's own Equal. Order
// matters (it decides which rule blocks first); nil and empty are equal.
func (c *familyCodec[T]) Equal(a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !c.fam.equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// encodeJSON writes the canonical text of rules: indented by two spaces, one
// key per line, without HTML escaping, ending in a newline; a nil list is [].
func encodeJSON[T any](rules []T) ([]byte, error) {
	if rules == nil {
		rules = []T{}
	}
	return encodeValue(rules)
}

// encodeValue writes the canonical text of any value, as encodeJSON does.
func encodeValue(v any) ([]byte, error) {
	var compact bytes.Buffer
	enc := json.NewEncoder(&compact)
	enc.SetEscapeHTML(false) // "<" in a resource name must stay readable
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("converter: encode: %w", err)
	}
	return indent(make([]byte, 0, 2*compact.Len()), compact.Bytes()), nil
}

// indent appends src, compact JSON as encoding/json writes it, to dst
// indented as json.Indent(dst, src, "", "  ") would indent it. encoding/json's
// indenter rescans every byte with its validating state machine, which made
// a 10,000-rule encode seven times slower than the compact encode; this
// input is valid by construction, so tracking strings is enough.
func indent(dst, src []byte) []byte {
	depth := 0
	pad := []byte("\n                ") // a newline and 8 levels; grown when deeper
	newline := func() {
		for len(pad) < 1+2*depth {
			pad = append(pad, ' ', ' ')
		}
		dst = append(dst, pad[:1+2*depth]...)
	}
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '"':
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(src))
			dst = append(dst, src[i:j]...)
			i = j - 1
		case '{', '[':
			dst = append(dst, c)
			if i+1 < len(src) && (src[i+1] == '}' || src[i+1] == ']') {
				dst = append(dst, src[i+1])
				i++
				continue
			}
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			newline()
		case ':':
			dst = append(dst, ':', ' ')
		default:
			// A run of plain bytes (a number, true, false, null) at once.
			j := i + 1
			for j < len(src) && !structural[src[j]] {
				j++
			}
			dst = append(dst, src[i:j]...)
			i = j - 1
		}
	}
	return dst
}

// structural marks the bytes indent acts on.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true, ',': true, ':': true}
