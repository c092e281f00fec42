// Package testcodec holds a tiny codec.Codec for tests of the datasource
// machinery, so that they need no real rule family: a payload is a JSON list of
// resource names, an empty name is a bad rule and anything but a list is
// unreadable.
package testcodec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/rulesync/rulesync/codec"
)

// Names decodes a JSON list of resource names.
type Names struct{}

// Decode reads a JSON list of names; empty input is an empty list.
func (Names) Decode(data []byte) ([]string, codec.Report, error) {
	rep := codec.Report{Format: "json"}
	out := []string{}
	if len(bytes.TrimSpace(data)) == 0 {
		return out, rep, nil
	}
	var in []string
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, rep, fmt.Errorf("%w: %v", codec.ErrUnreadable, err)
	}
	rep.Total = len(in)
	for i, s := range in {
		if s == "" {
			rep.Rejected = append(rep.Rejected, codec.Rejection{Index: i, Reason: "empty resource"})
			continue
		}
		out = append(out, s)
	}
	rep.Accepted = len(out)
	return out, rep, nil
}

// Encode writes v as a JSON list (nil as []).
func (Names) Encode(v []string) ([]byte, error) {
	if v == nil {
		v = []string{}
	}
	return json.Marshal(v)
}

// Equal compares two lists in order.
func (Names) Equal(a, b []string) bool { return slices.Equal(a, b) }
