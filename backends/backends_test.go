package backends_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/rulesync/rulesync/backends"
	"github.com/rulesync/rulesync/datasource"
)

// TestAll: every backend is in the table once, each names its primary
// parameter among its parameters, and each refuses parameters it does not
// know without connecting anywhere.
func TestAll(t *testing.T) {
	table := backends.All()
	want := []string{"file", "etcd", "redis", "consul", "nacos", "apollo"}
	if got := table.Names(); !slices.Equal(got, want) {
		t.Fatalf("names %v, want %v", got, want)
	}
	for _, b := range table {
		found := false
		for _, p := range b.Params {
			found = found || p.Name == b.Primary
		}
		if !found || b.Open == nil || b.DataID == nil || b.Summary == "" {
			t.Errorf("%s: primary %q listed %v, open %v, data id %v, summary %q", b.Name, b.Primary, found, b.Open != nil, b.DataID != nil, b.Summary)
		}
		if err := table.Check(b.Name, datasource.Params{"no-such-parameter": "x"}); !errors.Is(err, datasource.ErrBadParams) {
			t.Errorf("%s: an unknown parameter gave %v", b.Name, err)
		}
	}
}
