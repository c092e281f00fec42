package consul

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseIndex: any revision a caller passes as expect is either a
// positive ModifyIndex that formats back to itself, or an error; never a
// panic.
func FuzzParseIndex(f *testing.F) {
	for _, s := range []string{"", "0", "1", "42", "-3", "+5", "007", "18446744073709551615", "18446744073709551616", "abc", "*", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		i, err := parseIndex(s)
		if err != nil {
			if i != 0 {
				t.Fatalf("parseIndex(%q) = %d with error %v", s, i, err)
			}
			return
		}
		if i == 0 || formatIndex(i) != s {
			t.Fatalf("parseIndex(%q) = %d", s, i)
		}
		if n, _ := strconv.ParseUint(s, 10, 64); n != i {
			t.Fatalf("parseIndex(%q) = %d, want %d", s, i, n)
		}
	})
}

// FuzzDescribeDenial: whatever Consul answers, the description of a
// refusal never panics and is given exactly for a refusal.
func FuzzDescribeDenial(f *testing.F) {
	for _, s := range []string{
		`HTTP 403: Permission denied: token with AccessorID '03120cee-1194-bbcf-e3b2-afc315aee209' lacks permission 'key:write' on "rules/a"`,
		`Permission denied: token with AccessorID '00000000-0000-0000-0000-000000000002' lacks permission 'key:read' on "x"`,
		`Unexpected response code: 403 (Permission denied)`,
		`Failed request: ACL not found`,
		`Permission denied: lacks permission '`,
		`failed to set key "rules/a", index is stale`,
		``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		d, ok := describeDenial(msg)
		refusal := strings.Contains(msg, "Permission denied") || strings.Contains(msg, "ACL not found")
		if ok != refusal {
			t.Fatalf("describeDenial(%q) = %q, %v", msg, d, ok)
		}
		if ok && d == "" {
			t.Fatalf("describeDenial(%q): empty description", msg)
		}
	})
}
