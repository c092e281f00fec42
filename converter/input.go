package converter

import (
	"bytes"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// DefaultMaxBytes is the largest payload Decode reads unless WithMaxBytes says
// otherwise. Ten thousand flow rules take about 2.5 MB.
const DefaultMaxBytes = 64 << 20

// readDocument parses data as JSON (comments allowed) or, failing that, as
// YAML, and returns the top-level node and the format it was read as.
func readDocument(data []byte, maxBytes int) (*node, string, []string, error) {
	if maxBytes > 0 && len(data) > maxBytes {
		return nil, "", nil, fmt.Errorf("%w: payload is %d bytes, more than the limit of %d", ErrUnreadable, len(data), maxBytes)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 byte-order mark some editors write
	root, jerr := parseJSON(data)
	if jerr == nil {
		return root, "json", nil, nil
	}
	// YAML is a superset of JSON, so a document that failed as JSON is tried
	// as YAML. When it looked like JSON and is not YAML either, the JSON error
	// is the one that helps the person who wrote it.
	looksJSON := looksLikeJSON(data)
	js, yerr := yaml.YAMLToJSON(data)
	if yerr == nil {
		root, perr := parseJSON(js)
		if perr == nil {
			var notes []string
			if looksJSON {
				notes = append(notes, fmt.Sprintf("not valid JSON (%v); read as YAML", jerr))
			}
			return root, "yaml", notes, nil
		}
		yerr = perr
	}
	if looksJSON {
		return nil, "json", nil, fmt.Errorf("%w: json: %v", ErrUnreadable, jerr)
	}
	msg := strings.TrimPrefix(yerr.Error(), "error converting YAML to JSON: ")
	return nil, "yaml", nil, fmt.Errorf("%w: neither JSON (%v) nor YAML (%s)", ErrUnreadable, jerr, msg)
}

// looksLikeJSON reports whether the first significant character opens a JSON
// list or object.
func looksLikeJSON(data []byte) bool {
	p := &parser{src: data}
	p.skipSpace()
	return p.pos < len(data) && (data[p.pos] == '[' || data[p.pos] == '{')
}
