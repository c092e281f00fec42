package datasource

import (
	"cmp"
	"strconv"
)

// NumericRevisions is the default RevisionOrder: revisions that are both
// unsigned decimal integers (etcd mod revisions, Consul indexes) compare
// numerically; anything else (content hashes, MD5s) cannot be compared.
func NumericRevisions(a, b string) (int, bool) {
	x, err := strconv.ParseUint(a, 10, 64)
	if err != nil {
		return 0, false
	}
	y, err := strconv.ParseUint(b, 10, 64)
	if err != nil {
		return 0, false
	}
	return cmp.Compare(x, y), true
}
