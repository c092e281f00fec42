package etcd

import (
	"strconv"
	"testing"
)

// FuzzParseRev: any revision string a caller passes as expect is either a
// positive etcd revision that formats back to itself, or an error; never a panic.
func FuzzParseRev(f *testing.F) {
	for _, s := range []string{"", "0", "1", "42", "-3", "+5", "007", "9223372036854775807", "9223372036854775808", "abc", "*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRev(s)
		if err != nil {
			if r != 0 {
				t.Fatalf("parseRev(%q) = %d with error %v", s, r, err)
			}
			return
		}
		if r <= 0 {
			t.Fatalf("parseRev(%q) accepted non-positive %d", s, r)
		}
		if n, _ := strconv.ParseInt(s, 10, 64); n != r {
			t.Fatalf("parseRev(%q) = %d, want %d", s, r, n)
		}
		if back, err := parseRev(formatRev(r)); err != nil || back != r {
			t.Fatalf("round trip of %d: %d %v", r, back, err)
		}
	})
}
