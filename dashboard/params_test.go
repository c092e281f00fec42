package dashboard

import (
	"errors"
	"maps"
	"testing"
)

// ParseParams reads what Java's HttpEventTask reads from the same bytes.
func TestParseParams(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
		err  bool
	}{
		{in: "", want: map[string]string{}},
		{in: "type=flow", want: map[string]string{"type": "flow"}},
		{in: "a=1&b=2#frag&c=3", want: map[string]string{"a": "1", "b": "2"}},
		{in: "#a=1", want: map[string]string{}},
		// Pairs shorter than 3 bytes, without '=', with an empty name or value: skipped.
		{in: "a=&=b&ab&x=1&&&y", want: map[string]string{"x": "1"}},
		// Trimmed, then decoded once: '+' is a space, %2B a plus, %25 a percent.
		{in: "  k  = a+b%2Bc%25d ", want: map[string]string{"k": "a b+c%d"}},
		// A value that decodes to blank is kept (Java checks before decoding).
		{in: "k=%20", want: map[string]string{"k": " "}},
		// Later pairs override earlier ones.
		{in: "k=1&k=2", want: map[string]string{"k": "2"}},
		{in: "k=%E4%B8%AD", want: map[string]string{"k": "中"}},
		{in: "k=%FF", want: map[string]string{"k": "\uFFFD"}},
		{in: "k=%zz", err: true},
		{in: "k=abc%4", err: true},
		{in: "%g=1", err: true},
		{in: "  =1", err: true},
		{in: "k= ", want: map[string]string{"k": ""}},
	} {
		got := map[string]string{}
		err := ParseParams(tc.in, got)
		if tc.err {
			if !errors.Is(err, ErrBadParams) {
				t.Errorf("ParseParams(%q): %v, want ErrBadParams", tc.in, err)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("ParseParams(%q) = %v %v, want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestFormEscapeRoundTrip(t *testing.T) {
	for _, s := range []string{"", "a b", "a+b%c", "[{\"resource\":\"x|y\"}]", "中文", "*-._~!'()"} {
		enc := FormEscape(s)
		got := map[string]string{}
		if err := ParseParams("k="+enc+"&z=1", got); err != nil {
			t.Fatal(err)
		}
		if s == "" {
			continue // an empty value is dropped, as in Java
		}
		if got["k"] != trimJava(s) {
			t.Errorf("FormEscape(%q) = %q, decodes to %q", s, enc, got["k"])
		}
	}
	if got := FormEscape("a b*~"); got != "a+b*%7E" {
		t.Errorf("FormEscape = %q, want Java's a+b*%%7E", got)
	}
}

func FuzzParseParams(f *testing.F) {
	for _, s := range []string{"type=flow&data=%5B%5D", "a=1#x", "k=%zz", "=&&=", "k=%E4%B8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := map[string]string{}
		if err := ParseParams(s, m); err != nil && !errors.Is(err, ErrBadParams) {
			t.Fatalf("error %v does not wrap ErrBadParams", err)
		}
		for k, v := range m {
			if k == "" {
				t.Fatalf("empty name in %v", m)
			}
			if v == "" {
				continue // "k=" is dropped: an empty value does not survive a round trip
			}
			// Whatever was read re-encodes to something that reads back the
			// same: encoding protects the white space that raw input loses.
			again := map[string]string{}
			if err := ParseParams(FormEscape(k)+"="+FormEscape(v), again); err != nil {
				t.Fatal(err)
			}
			if again[k] != v {
				t.Fatalf("%q=%q re-reads as %v", k, v, again)
			}
		}
	})
}
