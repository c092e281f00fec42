package suggest

import "testing"

func TestClosest(t *testing.T) {
	known := []string{"server-addr", "data-id", "rule-type", "file", "gw-flow", "gw-api-group"}
	for _, tc := range []struct{ in, want string }{
		{"server-adr", "server-addr"},
		{"rule_type", "rule-type"},
		{"dataid", "data-id"},
		{"fiel", "file"},
		{"password", ""},
		{"data", "data-id"},
		{"", ""},
		{"gw", ""}, // two candidates
		{"server", "server-addr"},
	} {
		if got := Closest(tc.in, known); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
