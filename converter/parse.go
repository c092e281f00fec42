package converter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
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
	kind    kind
	text    string   // string value, number literal, or "true"/"false"
	keys    []string // object keys, in input order
	vals    []*node  // object values (parallel to keys) or array elements
	offset  int      // byte offset in the JSON text, for messages
	dupeKey string   // first key that appears twice in this object
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
	// Nodes are handed out from slabs: a 10,000-rule payload has ~150,000
	// values and one allocation each would dominate the decode time.
	slab []node
}

func (p *parser) newNode(k kind, off int) *node {
	if len(p.slab) == 0 {
		p.slab = make([]node, 256)
	}
	n := &p.slab[0]
	p.slab = p.slab[1:]
	n.kind, n.offset = k, off
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

// parseJSON parses a whole JSON document (comments allowed between tokens).
// An input with nothing but whitespace and comments yields a null node.
func parseJSON(src []byte) (*node, error) {
	p := &parser{src: src}
	p.skipSpace()
	if p.err != nil {
		return nil, p.err
	}
	if p.pos == len(src) {
		return &node{kind: kindNull}, nil
	}
	n := p.value()
	if p.err == nil {
		p.skipSpace()
		if p.err == nil && p.pos < len(src) {
			p.fail(p.pos, "unexpected %s after the end of the top-level value", quoteChar(src[p.pos]))
		}
	}
	if p.err != nil {
		return nil, p.err
	}
	return n, nil
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
	start := p.pos
	switch c := p.src[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s := p.str()
		n := p.newNode(kindString, start)
		n.text = s
		return n
	case c == '-' || (c >= '0' && c <= '9'):
		end := scanNumber(p.src, p.pos)
		if end < 0 {
			p.fail(p.pos, "malformed number")
			return nil
		}
		n := p.newNode(kindNumber, start)
		n.text = string(p.src[p.pos:end])
		p.pos = end
		return n
	case bytes.HasPrefix(p.src[p.pos:], []byte("true")):
		p.pos += 4
		n := p.newNode(kindBool, start)
		n.text = "true"
		return n
	case bytes.HasPrefix(p.src[p.pos:], []byte("false")):
		p.pos += 5
		n := p.newNode(kindBool, start)
		n.text = "false"
		return n
	case bytes.HasPrefix(p.src[p.pos:], []byte("null")):
		p.pos += 4
		return p.newNode(kindNull, start)
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
	n := p.newNode(kindObject, p.pos)
	if !p.enter() {
		return nil
	}
	defer func() { p.depth-- }()
	p.pos++ // {
	var seen map[string]struct{}
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
		if n.dupeKey == "" {
			if seen != nil {
				if _, ok := seen[key]; ok {
					n.dupeKey = key
				}
				seen[key] = struct{}{}
			} else if n.get(key) != nil {
				n.dupeKey = key
			} else if len(n.keys) == 16 {
				// Rules have a dozen keys; past that a linear search
				// would make a hostile object quadratic.
				seen = make(map[string]struct{}, 32)
				for _, k := range n.keys {
					seen[k] = struct{}{}
				}
				seen[key] = struct{}{}
			}
		}
		n.keys = append(n.keys, key)
		n.vals = append(n.vals, v)
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
			return n
		default:
			p.fail(p.pos, "invalid %s after an object value, want ',' or '}'", quoteChar(p.src[p.pos]))
			return nil
		}
	}
	return nil
}

func (p *parser) array() *node {
	n := p.newNode(kindArray, p.pos)
	if !p.enter() {
		return nil
	}
	defer func() { p.depth-- }()
	p.pos++ // [
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
		n.vals = append(n.vals, v)
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
	i := p.pos + 1
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
		s := string(raw[1 : len(raw)-1])
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "\uFFFD")
		}
		return s
	}
	// Escapes are rare in rule files; the standard library knows them all
	// (including surrogate pairs) and replaces invalid UTF-8 as we do.
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
