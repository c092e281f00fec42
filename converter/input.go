package converter

import (
	"bytes"
	"fmt"
	"strings"

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
