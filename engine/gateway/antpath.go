package gateway

import (
	"fmt"
	"regexp"
	"strings"
)

// Ant-style path patterns, as Spring's AntPathMatcher reads them:
//
//	?        one character within a segment
//	*        zero or more characters within a segment
//	**       zero or more whole segments
//	{name}   a template variable: like * within a segment
//	{name:r} a template variable restricted to the regular expression r
//
// Segments are separated by '/'; empty segments are ignored, so "/a//b" and
// "/a/b" match alike. A pattern and a path must agree on a leading '/'.

type segKind uint8

const (
	segLiteral    segKind = iota // no wildcard: compared with ==
	segGlob                      // '*' and '?' only
	segRegex                     // has a {template}: compiled to a regular expression
	segDoubleStar                // "**"
)

type antSeg struct {
	kind segKind
	text string
	re   *regexp.Regexp
}

// antPattern is a compiled Ant-style path pattern.
type antPattern struct {
	raw           string
	absolute      bool
	trailingSlash bool
	segs          []antSeg
}

// hasAntWildcard reports whether p uses any Ant wildcard or template.
func hasAntWildcard(p string) bool { return strings.ContainsAny(p, "*?{") }

func compileAnt(pattern string) (*antPattern, error) {
	ap := &antPattern{
		raw:           pattern,
		absolute:      strings.HasPrefix(pattern, "/"),
		trailingSlash: strings.HasSuffix(pattern, "/"),
	}
	for part := range strings.SplitSeq(pattern, "/") {
		if part == "" {
			continue
		}
		seg := antSeg{text: part}
		switch {
		case part == "**":
			seg.kind = segDoubleStar
		case strings.ContainsRune(part, '{'):
			re, err := templateRegexp(part)
			if err != nil {
				return nil, fmt.Errorf("pattern %q: segment %q: %w", pattern, part, err)
			}
			seg.kind, seg.re = segRegex, re
		case strings.ContainsAny(part, "*?"):
			seg.kind = segGlob
		default:
			seg.kind = segLiteral
		}
		ap.segs = append(ap.segs, seg)
	}
	return ap, nil
}

// templateRegexp turns one segment with {templates} into an anchored regexp.
func templateRegexp(seg string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(seg); {
		switch c := seg[i]; c {
		case '*':
			b.WriteString(".*")
			i++
		case '?':
			b.WriteString(".")
			i++
		case '{':
			// Braces may nest inside a variable's own regexp ({id:[0-9]{2}}).
			depth, j := 0, i
			for ; j < len(seg); j++ {
				if seg[j] == '{' {
					depth++
				} else if seg[j] == '}' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			if j == len(seg) {
				return nil, fmt.Errorf("unclosed '{'")
			}
			inner := seg[i+1 : j]
			if name, expr, ok := strings.Cut(inner, ":"); ok {
				if strings.TrimSpace(name) == "" {
					return nil, fmt.Errorf("template variable without a name")
				}
				b.WriteString("(?:" + expr + ")")
			} else {
				if strings.TrimSpace(inner) == "" {
					return nil, fmt.Errorf("empty template variable")
				}
				b.WriteString(".*")
			}
			i = j + 1
		default:
			j := i
			for j < len(seg) && !strings.ContainsRune("*?{", rune(seg[j])) {
				j++
			}
			b.WriteString(regexp.QuoteMeta(seg[i:j]))
			i = j
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// maxStackSegs is how many path segments are split without allocating.
const maxStackSegs = 32

// splitPath records the [start,end) bounds of each non-empty segment of path.
func splitPath(path string, dst [][2]int32) [][2]int32 {
	start := -1
	for i := 0; i <= len(path); i++ {
		if i == len(path) || path[i] == '/' {
			if start >= 0 && i > start {
				dst = append(dst, [2]int32{int32(start), int32(i)})
			}
			start = -1
			continue
		}
		if start < 0 {
			start = i
		}
	}
	return dst
}

// segAt returns the i-th segment of path. Paths and their segment bounds
// travel apart so that escape analysis keeps a stack buffer of bounds on the
// stack (a segment may reach a regexp, which makes the string leak).
func segAt(path string, segs [][2]int32, i int) string { b := segs[i]; return path[b[0]:b[1]] }

func (s *antSeg) match(v string) bool {
	switch s.kind {
	case segLiteral:
		return s.text == v
	case segGlob:
		return globMatch(s.text, v)
	case segRegex:
		return s.re.MatchString(v)
	}
	return true // "**" is handled by the caller
}

// globMatch matches one segment against a pattern of literal characters, '*'
// and '?'. It backtracks only to the last '*', so it is linear in practice.
func globMatch(pat, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pat) && (pat[p] == '?' || pat[p] == s[i]):
			p++
			i++
		case p < len(pat) && pat[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}

// match reports whether the whole path matches the pattern. The algorithm
// matches the segments before the first "**" and after the last "**" in place,
// then finds each run of segments between two "**" at its first occurrence;
// so it never backtracks exponentially, whatever the number of "**".
func (ap *antPattern) match(path string, segs [][2]int32) bool {
	if strings.HasPrefix(path, "/") != ap.absolute {
		return false
	}
	pats := ap.segs
	pStart, pEnd := 0, len(pats)-1
	sStart, sEnd := 0, len(segs)-1

	for pStart <= pEnd && sStart <= sEnd {
		if pats[pStart].kind == segDoubleStar {
			break
		}
		if !pats[pStart].match(segAt(path, segs, sStart)) {
			return false
		}
		pStart++
		sStart++
	}
	if sStart > sEnd {
		// The path is used up.
		if pStart > pEnd {
			return ap.trailingSlash == strings.HasSuffix(path, "/")
		}
		if pStart == pEnd && pats[pStart].kind == segGlob && pats[pStart].text == "*" && strings.HasSuffix(path, "/") {
			return true
		}
		return onlyDoubleStars(pats[pStart : pEnd+1])
	}
	if pStart > pEnd {
		return false // the pattern is used up but the path is not
	}

	for pStart <= pEnd && sStart <= sEnd {
		if pats[pEnd].kind == segDoubleStar {
			break
		}
		if !pats[pEnd].match(segAt(path, segs, sEnd)) {
			return false
		}
		pEnd--
		sEnd--
	}
	if sStart > sEnd {
		return onlyDoubleStars(pats[pStart : pEnd+1])
	}

	for pStart != pEnd && sStart <= sEnd {
		next := -1
		for i := pStart + 1; i <= pEnd; i++ {
			if pats[i].kind == segDoubleStar {
				next = i
				break
			}
		}
		if next == pStart+1 {
			pStart++ // "**/**" is the same as "**"
			continue
		}
		run := pats[pStart+1 : next]
		found := -1
	scan:
		for i := 0; i <= sEnd-sStart+1-len(run); i++ {
			for j := range run {
				if !run[j].match(segAt(path, segs, sStart+i+j)) {
					continue scan
				}
			}
			found = sStart + i
			break
		}
		if found < 0 {
			return false
		}
		pStart = next
		sStart = found + len(run)
	}
	return onlyDoubleStars(pats[pStart : pEnd+1])
}

func onlyDoubleStars(segs []antSeg) bool {
	for i := range segs {
		if segs[i].kind != segDoubleStar {
			return false
		}
	}
	return true
}
