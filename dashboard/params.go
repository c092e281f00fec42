package dashboard

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrBadParams is wrapped by the errors of ParseParams.
var ErrBadParams = errors.New("dashboard: malformed parameters")

// ParseParams reads a query string or a form body the way Sentinel's
// command center does (HttpEventTask.parseParams), into m: everything from a
// '#' on is dropped; pairs are split on '&'; a pair without '=', with an
// empty name or with an empty value is skipped; name and value are trimmed
// of white space and then URL-decoded once ('+' is a space); a later pair
// replaces an earlier one of the same name. Java fails the whole request on a
// malformed escape (its URLDecoder throws); ParseParams returns an error
// naming the pair, leaving m with the pairs before it.
func ParseParams(s string, m map[string]string) error {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		// Java skips pairs shorter than "a=b" before anything else.
		if len(pair) < 3 {
			continue
		}
		eq := strings.IndexByte(pair, '=')
		if eq <= 0 || eq >= len(pair)-1 {
			continue
		}
		key, err := formDecode(trimJava(pair[:eq]))
		if err != nil {
			return fmt.Errorf("%w: name of %q: %v", ErrBadParams, clip(pair), err)
		}
		if strings.TrimSpace(key) == "" {
			return fmt.Errorf("%w: %q has a blank name", ErrBadParams, clip(pair))
		}
		val, err := formDecode(trimJava(pair[eq+1:]))
		if err != nil {
			return fmt.Errorf("%w: value of %q: %v", ErrBadParams, key, err)
		}
		m[key] = val
	}
	return nil
}

// trimJava trims what Java's String.trim does: every byte <= ' '.
func trimJava(s string) string {
	i, j := 0, len(s)
	for i < j && s[i] <= ' ' {
		i++
	}
	for j > i && s[j-1] <= ' ' {
		j--
	}
	return s[i:j]
}

// formDecode is java.net.URLDecoder.decode(s, "UTF-8"): '+' is a space and
// %XX a byte. Bytes that do not form UTF-8 become U+FFFD, as Java's decoder
// replaces them.
func formDecode(s string) (string, error) {
	if !strings.ContainsAny(s, "%+") {
		return validUTF8(s), nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b.WriteByte(' ')
		case '%':
			if i+2 >= len(s) {
				return "", fmt.Errorf("incomplete escape at byte %d", i)
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", fmt.Errorf("bad escape %q at byte %d", s[i:i+3], i)
			}
			b.WriteByte(hi<<4 | lo)
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return validUTF8(b.String()), nil
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// clip shortens s for an error message.
func clip(s string) string {
	const n = 60
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// FormEscape encodes s as java.net.URLEncoder.encode(s, "UTF-8") and the
// dashboard's HTTP client do: letters, digits and ".-*_" stay, a space is
// '+', every other byte is %XX (upper-case hex).
func FormEscape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '*', c == '_':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}
