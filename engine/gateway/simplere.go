package gateway

import (
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// simpleRegex matches a whole path against a regular expression of a common
// shape without running the regexp engine: a sequence of literals and
// character classes, each class repeated a fixed or a bounded/unbounded number
// of times, where every variable repetition is followed by a literal whose
// first character the class cannot match (or by the end). For that shape the
// greedy scan is the only way to match, so one pass decides it. Patterns of
// any other shape are left to package regexp.
type simpleRegex struct {
	elems []reElem
}

type reElem struct {
	lit      string // a literal, when class is nil
	class    []rune // lo, hi pairs, as in syntax.Regexp.Rune
	min, max int    // repetitions of class; max < 0 is unbounded
}

// compileSimple returns the matcher for pattern, or nil when pattern does not
// have the shape simpleRegex handles.
func compileSimple(pattern string) *simpleRegex {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	var elems []reElem
	if !flattenRegex(re, &elems) {
		return nil
	}
	for i, e := range elems {
		if e.class == nil || e.min == e.max {
			continue
		}
		if i+1 == len(elems) {
			continue
		}
		next := elems[i+1]
		if next.class != nil {
			return nil
		}
		r, _ := utf8.DecodeRuneInString(next.lit)
		if inClass(e.class, r) {
			return nil
		}
	}
	return &simpleRegex{elems: elems}
}

// flattenRegex appends the elements of re to out, merging adjacent literals,
// and reports whether re has the simple shape.
func flattenRegex(re *syntax.Regexp, out *[]reElem) bool {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return true
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !flattenRegex(sub, out) {
				return false
			}
		}
		return true
	case syntax.OpCapture:
		return flattenRegex(re.Sub[0], out)
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return false
		}
		lit := string(re.Rune)
		// Package regexp reads an invalid byte of the input as U+FFFD; a
		// literal U+FFFD would match it, which a byte comparison would not.
		if strings.ContainsRune(lit, utf8.RuneError) {
			return false
		}
		if n := len(*out); n > 0 && (*out)[n-1].class == nil {
			(*out)[n-1].lit += lit
			return true
		}
		*out = append(*out, reElem{lit: lit})
		return true
	case syntax.OpCharClass, syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		c, ok := classOf(re)
		if ok {
			*out = append(*out, reElem{class: c, min: 1, max: 1})
		}
		return ok
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		c, ok := classOf(re.Sub[0])
		if !ok {
			return false
		}
		e := reElem{class: c}
		switch re.Op {
		case syntax.OpStar:
			e.min, e.max = 0, -1
		case syntax.OpPlus:
			e.min, e.max = 1, -1
		case syntax.OpQuest:
			e.min, e.max = 0, 1
		default:
			e.min, e.max = re.Min, re.Max
		}
		*out = append(*out, e)
		return true
	}
	return false
}

// classOf returns the ranges of a single-character expression.
func classOf(re *syntax.Regexp) ([]rune, bool) {
	switch re.Op {
	case syntax.OpCharClass:
		return re.Rune, true
	case syntax.OpAnyCharNotNL:
		return []rune{0, '\n' - 1, '\n' + 1, utf8.MaxRune}, true
	case syntax.OpAnyChar:
		return []rune{0, utf8.MaxRune}, true
	case syntax.OpLiteral:
		if len(re.Rune) == 1 && re.Flags&syntax.FoldCase == 0 && re.Rune[0] != utf8.RuneError {
			return []rune{re.Rune[0], re.Rune[0]}, true
		}
	}
	return nil, false
}

func inClass(class []rune, r rune) bool {
	for i := 0; i+1 < len(class); i += 2 {
		if r < class[i] {
			return false // the ranges are sorted
		}
		if r <= class[i+1] {
			return true
		}
	}
	return false
}

// match reports whether the whole of s matches.
func (m *simpleRegex) match(s string) bool {
	i := 0
	for k := range m.elems {
		e := &m.elems[k]
		if e.class == nil {
			if !strings.HasPrefix(s[i:], e.lit) {
				return false
			}
			i += len(e.lit)
			continue
		}
		n := 0
		for (e.max < 0 || n < e.max) && i < len(s) {
			r, w := rune(s[i]), 1
			if r >= utf8.RuneSelf {
				r, w = utf8.DecodeRuneInString(s[i:])
			}
			if !inClass(e.class, r) {
				break
			}
			i += w
			n++
		}
		if n < e.min {
			return false
		}
	}
	return i == len(s)
}
