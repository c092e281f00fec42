package converter

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/rulesync/rulesync/codec"
	"sigs.k8s.io/yaml"
)

// DefaultMaxBytes is the largest payload Decode reads unless WithMaxBytes says
// otherwise. Ten thousand flow rules take about 2.5 MB.
const DefaultMaxBytes = 64 << 20

// readDocument parses data as JSON (comments allowed) or, when it does not
// open with a JSON list or object, as YAML, and returns the top-level node and
// the format it was read as.
//
// When the top level is a list, its elements go to each as they are parsed
// (see parseList); the caller must drop what it got from each when
// readDocument returns an error.
func readDocument(data []byte, maxBytes int, each func(i int, el *node)) (*node, string, error) {
	if maxBytes > 0 && len(data) > maxBytes {
		return nil, "", fmt.Errorf("%w: payload is %d bytes, more than the limit of %d", codec.ErrUnreadable, len(data), maxBytes)
	}
	if err := checkEncoding(data); err != nil {
		return nil, "", err
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 byte-order mark some editors write
	root, jerr := parseList(data, each)
	if jerr == nil {
		return root, "json", nil
	}
	// A document that opens a JSON list or object is JSON with a mistake in
	// it: reading it as YAML instead would be wrong in quiet ways (YAML takes
	// "[] x" for an empty list, which would clear every rule).
	if looksLikeJSON(data) {
		return nil, "json", fmt.Errorf("%w: json: %v", codec.ErrUnreadable, jerr)
	}
	js, yerr := yaml.YAMLToJSON(data)
	if yerr == nil {
		root, perr := parseList(js, each)
		if perr == nil {
			return root, "yaml", nil
		}
		yerr = perr
	}
	msg := strings.TrimPrefix(yerr.Error(), "error converting YAML to JSON: ")
	return nil, "yaml", fmt.Errorf("%w: neither JSON (%v) nor YAML (%s)", codec.ErrUnreadable, jerr, msg)
}

// looksLikeJSON reports whether the first significant character opens a JSON
// list or object.
func looksLikeJSON(data []byte) bool {
	p := &parser{src: data}
	p.skipSpace()
	return p.pos < len(data) && (data[p.pos] == '[' || data[p.pos] == '{')
}

// checkEncoding refuses payloads that are not UTF-8, which is what Java
// Sentinel's readers and the dashboard expect. Decoding invalid bytes as
// U+FFFD would change a resource name in silence; a UTF-16 file (as some
// Windows editors save) would otherwise read as one odd YAML string.
func checkEncoding(data []byte) error {
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xfe")):
		return fmt.Errorf("%w: UTF-16 is not supported (the payload starts with the UTF-16 little-endian byte-order mark FF FE); save it as UTF-8", codec.ErrUnreadable)
	case bytes.HasPrefix(data, []byte("\xfe\xff")):
		return fmt.Errorf("%w: UTF-16 is not supported (the payload starts with the UTF-16 big-endian byte-order mark FE FF); save it as UTF-8", codec.ErrUnreadable)
	case len(data) >= 2 && (data[0] == 0) != (data[1] == 0):
		// Rule payloads open with ASCII ([, {, -, a comment): one NUL byte
		// beside it is the other half of a UTF-16 code unit.
		return fmt.Errorf("%w: UTF-16 is not supported (a NUL byte in the first two bytes); save it as UTF-8", codec.ErrUnreadable)
	}
	if utf8.Valid(data) {
		return nil
	}
	off := invalidUTF8(data)
	line, col := lineCol(data, off)
	return fmt.Errorf("%w: invalid UTF-8 at byte offset %d (line %d, column %d): byte 0x%02x; save the payload as UTF-8", codec.ErrUnreadable, off, line, col, data[off])
}

// invalidUTF8 returns the offset of the first byte of data that does not
// begin a valid UTF-8 sequence, or -1.
func invalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		if data[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}
