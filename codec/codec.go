// Package codec is the contract between rule payloads and the datasources
// that carry them: the Codec interface, the Report a decode returns, and the
// errors every decoder shares. It imports no rule family, so that a source or
// a datasource never links the engine; package converter holds the codecs of
// the engine's rule families.
package codec

import (
	"errors"
	"fmt"
	"strings"
)

// Codec turns the bytes a config center holds into typed rules and back.
type Codec[T any] interface {
	// Decode reads data. It returns an error (wrapping ErrUnreadable) only when
	// nothing can be read; rules that fail validation are left out of the result
	// and listed in the report. Empty input ("", whitespace, "[]", "null")
	// decodes to an empty, non-nil value.
	Decode(data []byte) (T, Report, error)
	// Encode writes v as canonical Sentinel JSON that Java Sentinel reads
	// (indented, ending in a newline; see the package doc for which fields
	// it writes).
	Encode(v T) ([]byte, error)
	// Equal reports whether two decoded values mean the same rules.
	Equal(a, b T) bool
}

// ErrUnreadable is wrapped by Decode errors: the payload could not be read at all.
var ErrUnreadable = errors.New("rulesync: payload unreadable")

// UnknownKey is a key the decoder did not recognise.
type UnknownKey struct {
	Index int    // rule position, -1 for the top level
	Key   string // dotted path, e.g. "clusterConfig.flowID"
}

// Rejection is one rule of a payload that was left out, and why.
type Rejection struct {
	Index    int    // position in the input list
	Resource string // the rule's resource (or apiName), if it had one
	Reason   string
}

// String formats the rejection for logs.
func (r Rejection) String() string {
	return fmt.Sprintf("rule %d (%q): %s", r.Index, r.Resource, r.Reason)
}

// Report is what a Decode noticed.
type Report struct {
	Format      string      // "json" or "yaml"
	Total       int         // rules in the input
	Accepted    int         // rules in the result
	Rejected    []Rejection // rules left out, with the reason
	UnknownKeys []UnknownKey
	Notes       []string // e.g. "unwrapped dashboard entity format (key \"rule\")"
}

// Clean reports whether nothing was rejected and no key was unknown.
func (r Report) Clean() bool { return len(r.Rejected) == 0 && len(r.UnknownKeys) == 0 }

// String summarizes the report in one line for logs.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d/%d rules accepted", r.Format, r.Accepted, r.Total)
	for _, rj := range r.Rejected {
		b.WriteString("; rejected ")
		b.WriteString(rj.String())
	}
	for _, u := range r.UnknownKeys {
		fmt.Fprintf(&b, "; unknown key %q in rule %d", u.Key, u.Index)
	}
	for _, n := range r.Notes {
		b.WriteString("; ")
		b.WriteString(n)
	}
	return b.String()
}
