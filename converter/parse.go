package converter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// The payload is parsed into a small tree of nodes rather than into
// map[string]any: the tree keeps key order (so unknown keys are reported in the
// order a person wrote them), keeps numbers as their literal text (so int64 ids
// do not lose precision through float64), notices duplicate keys, and lets the
// JSON reader skip the // and /* */ comments that hand-edited files carry.

type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k kind) String() string {
	switch k {
	case kindNull:
		return "null"
	case kindBool:
		return "a boolean"
	case kindNumber:
		return "a number"
	case kindString:
		return "a string"
	case kindArray:
		return "a list"
	case kindObject:
		return "an object"
	}
	return "a value"
}

// node is one parsed JSON value.
type node struct {
	kind kind
	text string   // string value, number literal, or "true"/"false"
	keys []string // object keys, in input order
	vals []*node  // object values (parallel to keys) or array elements
}

// get returns the value of key in an object node, or nil.
func (n *node) get(key string) *node {
	if n == nil || n.kind != kindObject {
		return nil
	}
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// has reports whether an object node has key with a non-null value.
func (n *node) has(key string) bool {
	v := n.get(key)
	return v != nil && v.kind != kindNull
}

// maxDepth bounds nesting so that a hostile payload cannot exhaust the stack;
// real rule files nest four levels at most.
const maxDepth = 64

// syntaxError is a JSON syntax error with its position.
type syntaxError struct {
	line, col int
	msg       string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.line, e.col, e.msg)
}

type parser struct {
	src   []byte
	pos   int
	depth int
	err   *syntaxError
	// Nodes, and the key and value slices of objects and lists, come from
	// arenas: a 10,000-rule payload has ~250,000 values and one allocation
	// each would dominate the decode time. When the rules of a top-level
	// list are decoded one at a time, the arenas are reset between rules,
	// so a large payload needs the memory of one rule. Members are
	// collected on a stack and copied once to an exact-size slice.
	nodes    arena[node]
	keySlab  arena[string]
	valSlab  arena[*node]
	keyStack []string
	valStack []*node
	// intern shares the strings that repeat in every rule (keys, small
	// numbers, "default"): a direct-mapped cache, cheaper than a map and
	// bounded whatever the input.
	intern *[internSlots]string
}

const (
	chunkSize   = 256
	internBits  = 10
	internSlots = 1 << internBits
	internLen   = 32 // longer strings are rarely repeated
)

// arena hands out slices of T from reusable chunks.
type arena[T any] struct {
	chunks [][]T
	ci     int // current chunk
	used   int // elements used in the current chunk
}

// alloc returns n elements; their old contents are left for the caller to
// overwrite.
func (a *arena[T]) alloc(n int) []T {
	if n > chunkSize/4 {
		return make([]T, n) // rare: long lists get their own array
	}
	if a.ci < len(a.chunks) && a.used+n > chunkSize {
		a.ci++
		a.used = 0
	}
	if a.ci == len(a.chunks) {
		a.chunks = append(a.chunks, make([]T, chunkSize))
	}
	out := a.chunks[a.ci][a.used : a.used+n : a.used+n]
	a.used += n
	return out
}

// reset makes every chunk reusable; slices handed out before must no longer be used.
func (a *arena[T]) reset() { a.ci, a.used = 0, 0 }

// resetArenas forgets every node parsed so far.
func (p *parser) resetArenas() {
	p.nodes.reset()
	p.keySlab.reset()
	p.valSlab.reset()
}

func (p *parser) keys(src []string) []string {
	out := p.keySlab.alloc(len(src))
	copy(out, src)
	return out
}

func (p *parser) vals(src []*node) []*node {
	out := p.valSlab.alloc(len(src))
	copy(out, src)
	return out
}

// text makes a string of b, shared with earlier equal short strings.
func (p *parser) text(b []byte) string {
	if len(b) > internLen {
		return string(b)
	}
	if p.intern == nil {
		p.intern = new([internSlots]string)
	}
	if len(b) == 0 {
		return ""
	}
	// A few bytes tell the strings of one payload apart well enough; a
	// collision only costs an allocation.
	h := uint32(len(b))
	h = h*31 + uint32(b[0])
	h = h*31 + uint32(b[len(b)/2])
	h = h*31 + uint32(b[len(b)-1])
	h = h*31 + uint32(b[len(b)*3/4])
	slot := &p.intern[(h*0x9E3779B1)>>(32-internBits)]
	if *slot == string(b) { // the comparison does not allocate
		return *slot
	}
	s := string(b)
	*slot = s
	return s
}

func (p *parser) newNode(k kind) *node {
	n := &p.nodes.alloc(1)[0]
	*n = node{kind: k}
	return n
}

func (p *parser) fail(off int, format string, args ...any) {
	if p.err != nil {
		return
	}
	line, col := lineCol(p.src, off)
	p.err = &syntaxError{line: line, col: col, msg: fmt.Sprintf(format, args...)}
}

// lineCol converts a byte offset to a 1-based line and column.
func lineCol(src []byte, off int) (int, int) {
	if off > len(src) {
		off = len(src)
	}
	line := 1 + bytes.Count(src[:off], []byte{'\n'})
	col := off - bytes.LastIndexByte(src[:off], '\n')
	return line, col
}

// parseList parses a whole JSON document. When its top level is a list, each
// element is handed to each as soon as it is parsed, and is only valid during
// that call (its nodes are reused for the next element); the returned node is
// then the list without its elements. A syntax error anywhere fails the whole
// document, even after elements were handed out.
func parseList(src []byte, each func(i int, el *node)) (*node, error) {
	p := &parser{src: src}
	p.skipSpace()
	if p.err != nil {
		return nil, p.err
	}
	if p.pos == len(src) {
		return &node{kind: kindNull}, nil
	}
	if src[p.pos] != '[' {
		return parseWith(p)
	}
	list := &node{kind: kindArray}
	p.pos++ // [
	p.depth++
	p.skipSpace()
	if p.err == nil && p.pos < len(src) && src[p.pos] == ']' {
		p.pos++
		return p.finish(list)
	}
	for i := 0; p.err == nil; i++ {
		p.skipSpace()
		p.resetArenas()
		v := p.value()
		if p.err != nil {
			break
		}
		each(i, v)
		p.skipSpace()
		if p.err != nil {
			break
		}
		if p.pos >= len(src) {
			p.fail(p.pos, "unexpected end of input inside a list")
			break
		}
		if src[p.pos] == ']' {
			p.pos++
			return p.finish(list)
		}
		if src[p.pos] != ',' {
			p.fail(p.pos, "invalid %s after a list element, want ',' or ']'", quoteChar(src[p.pos]))
			break
		}
		p.pos++
	}
	return nil, p.err
}

// finish checks that nothing but space and comments follows the top-level value.
func (p *parser) finish(n *node) (*node, error) {
	p.skipSpace()
	if p.err == nil && p.pos < len(p.src) {
		p.fail(p.pos, "unexpected %s after the end of the top-level value", quoteChar(p.src[p.pos]))
	}
	if p.err != nil {
		return nil, p.err
	}
	return n, nil
}

// parseWith parses one value at p's position, then checks the end.
func parseWith(p *parser) (*node, error) {
	n := p.value()
	if p.err != nil {
		return nil, p.err
	}
	return p.finish(n)
}

func quoteChar(c byte) string {
	if c < utf8.RuneSelf && c >= 0x20 {
		return fmt.Sprintf("character %q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// skipSpace skips whitespace and comments.
func (p *parser) skipSpace() {
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; c {
		case ' ', '\t', '\n', '\r':
			p.pos++
		case '/':
			if p.pos+1 >= len(p.src) {
				p.fail(p.pos, "unexpected character '/'")
				return
			}
			switch p.src[p.pos+1] {
			case '/':
				end := bytes.IndexByte(p.src[p.pos:], '\n')
				if end < 0 {
					p.pos = len(p.src)
				} else {
					p.pos += end + 1
				}
			case '*':
				end := bytes.Index(p.src[p.pos+2:], []byte("*/"))
				if end < 0 {
					p.fail(p.pos, "comment opened with /* is never closed")
					return
				}
				p.pos += 2 + end + 2
			default:
				p.fail(p.pos, "unexpected character '/'")
				return
			}
		default:
			return
		}
	}
}

func (p *parser) value() *node {
	if p.err != nil {
		return nil
	}
	if p.pos >= len(p.src) {
		p.fail(p.pos, "unexpected end of input, looking for a value")
		return nil
	}
	switch c := p.src[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s := p.str()
		n := p.newNode(kindString)
		n.text = s
		return n
	case c == '-' || (c >= '0' && c <= '9'):
		end := scanNumber(p.src, p.pos)
		if end < 0 {
			p.fail(p.pos, "malformed number")
			return nil
		}
		n := p.newNode(kindNumber)
		n.text = p.text(p.src[p.pos:end])
		p.pos = end
		return n
	case bytes.HasPrefix(p.src[p.pos:], []byte("true")):
		p.pos += 4
		n := p.newNode(kindBool)
		n.text = "true"
		return n
	case bytes.HasPrefix(p.src[p.pos:], []byte("false")):
		p.pos += 5
		n := p.newNode(kindBool)
		n.text = "false"
		return n
	case bytes.HasPrefix(p.src[p.pos:], []byte("null")):
		p.pos += 4
		return p.newNode(kindNull)
	default:
		p.fail(p.pos, "invalid %s looking for a value", quoteChar(c))
		return nil
	}
}

func (p *parser) enter() bool {
	p.depth++
	if p.depth > maxDepth {
		p.fail(p.pos, "nesting deeper than %d levels", maxDepth)
		return false
	}
	return true
}

func (p *parser) object() *node {
	n := p.newNode(kindObject)
	if !p.enter() {
		return nil
	}
	defer func() { p.depth-- }()
	p.pos++ // {
	base := len(p.keyStack)
	defer func() {
		p.keyStack = p.keyStack[:base]
		p.valStack = p.valStack[:base]
	}()
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
		return n
	}
	for p.err == nil {
		p.skipSpace()
		if p.pos >= len(p.src) {
			p.fail(p.pos, "unexpected end of input inside an object")
			return nil
		}
		if p.src[p.pos] != '"' {
			p.fail(p.pos, "invalid %s looking for an object key (keys need double quotes)", quoteChar(p.src[p.pos]))
			return nil
		}
		key := p.str()
		p.skipSpace()
		if p.err != nil {
			return nil
		}
		if p.pos >= len(p.src) || p.src[p.pos] != ':' {
			p.fail(p.pos, "missing ':' after object key %q", key)
			return nil
		}
		p.pos++
		p.skipSpace()
		v := p.value()
		if p.err != nil {
			return nil
		}
		p.keyStack = append(p.keyStack, key)
		p.valStack = append(p.valStack, v)
		p.skipSpace()
		if p.err != nil {
			return nil
		}
		if p.pos >= len(p.src) {
			p.fail(p.pos, "unexpected end of input inside an object")
			return nil
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			n.keys = p.keys(p.keyStack[base:])
			n.vals = p.vals(p.valStack[base:])
			return n
		default:
			p.fail(p.pos, "invalid %s after an object value, want ',' or '}'", quoteChar(p.src[p.pos]))
			return nil
		}
	}
	return nil
}

func (p *parser) array() *node {
	n := p.newNode(kindArray)
	if !p.enter() {
		return nil
	}
	defer func() { p.depth-- }()
	p.pos++ // [
	// Lists share the value stack with objects; keyStack is padded so
	// that both stacks keep the same height.
	base := len(p.valStack)
	defer func() {
		p.keyStack = p.keyStack[:base]
		p.valStack = p.valStack[:base]
	}()
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ']' {
		p.pos++
		n.vals = []*node{}
		return n
	}
	for p.err == nil {
		p.skipSpace()
		v := p.value()
		if p.err != nil {
			return nil
		}
		p.keyStack = append(p.keyStack, "")
		p.valStack = append(p.valStack, v)
		p.skipSpace()
		if p.err != nil {
			return nil
		}
		if p.pos >= len(p.src) {
			p.fail(p.pos, "unexpected end of input inside a list")
			return nil
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			n.vals = p.vals(p.valStack[base:])
			return n
		default:
			p.fail(p.pos, "invalid %s after a list element, want ',' or ']'", quoteChar(p.src[p.pos]))
			return nil
		}
	}
	return nil
}

// str reads a string literal starting at the opening quote.
func (p *parser) str() string {
	start := p.pos
	body := p.src[start+1:]
	end := bytes.IndexByte(body, '"')
	if end < 0 {
		p.fail(start, "string is never closed")
		return ""
	}
	// Fast path: rule files are ASCII without escapes. One pass checks for
	// control characters, escapes and non-ASCII bytes together.
	seg := body[:end]
	plain := true
	for i, c := range seg {
		if c < 0x20 {
			p.fail(start+1+i, "control character 0x%02x inside a string", c)
			return ""
		}
		if c == '\\' || c >= 0x80 {
			plain = false
			break
		}
	}
	if plain {
		p.pos = start + 1 + end + 1
		return p.text(seg)
	}
	return p.slowStr(start)
}

// slowStr reads a string with escapes or non-ASCII bytes.
func (p *parser) slowStr(start int) string {
	i := start + 1
	escaped := false
	for ; i < len(p.src); i++ {
		c := p.src[i]
		if c == '"' {
			break
		}
		if c < 0x20 {
			p.fail(i, "control character 0x%02x inside a string", c)
			return ""
		}
		if c == '\\' {
			escaped = true
			i++
		}
	}
	if i >= len(p.src) {
		p.fail(start, "string is never closed")
		return ""
	}
	p.pos = i + 1
	raw := p.src[start:p.pos]
	if !escaped {
		b := raw[1 : len(raw)-1]
		if !utf8.Valid(b) {
			// Replacing the bytes would change a resource name in silence.
			off := start + 1 + invalidUTF8(b)
			p.fail(off, "invalid UTF-8 at byte offset %d", off)
			return ""
		}
		return p.text(b)
	}
	if !utf8.Valid(raw) {
		off := start + invalidUTF8(raw)
		p.fail(off, "invalid UTF-8 at byte offset %d", off)
		return ""
	}
	// Escapes are rare in rule files; the standard library knows them all,
	// including surrogate pairs (a lone surrogate escape becomes U+FFFD).
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		p.fail(start, "invalid escape in string")
		return ""
	}
	return s
}

// scanNumber returns the end of the JSON number starting at i, or -1.
func scanNumber(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return -1
		}
	}
	return i
}

// isJSONNumber reports whether s is exactly one JSON number literal.
func isJSONNumber(s string) bool {
	return s != "" && scanNumber([]byte(s), 0) == len(s)
}
