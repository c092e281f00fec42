package converter

import (
	"strings"
	"testing"
)

func TestParserStrings(t *testing.T) {
	tests := []struct{ in, want string }{
		{`"plain"`, "plain"},
		{`""`, ""},
		{`"a\"b"`, `a"b`},
		{`"tab\tnl\n"`, "tab\tnl\n"},
		{`"\u00e9\u4e2d"`, "é中"},
		{`"\ud83d\ude00"`, "😀"},     // surrogate pair
		{`"\ud800"`, "\ufffd"},      // lone surrogate
		{"\"caf\xc3\xa9\"", "café"}, // raw UTF-8
		{`"// not a comment /* nor this */"`, "// not a comment /* nor this */"},
	}
	for _, tt := range tests {
		root, err := parseList([]byte("["+tt.in+"]"), func(_ int, el *node) {
			if el.kind != kindString || el.text != tt.want {
				t.Errorf("%s: got %v %q, want %q", tt.in, el.kind, el.text, tt.want)
			}
		})
		if err != nil || root.kind != kindArray {
			t.Errorf("%s: %v", tt.in, err)
		}
	}
}

func TestParserErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"[1,\n 2,\n x]", "line 3, column 2: invalid character 'x' looking for a value"},
		{"[\"a\\q\"]", "line 1, column 2: invalid escape"},
		{"[\"open", "line 1, column 2: string is never closed"},
		{"[1 2]", "line 1, column 4: invalid character '2' after a list element"},
		{`{"a" 1}`, `missing ':' after object key "a"`},
		{`{a: 1}`, "keys need double quotes"},
		{"[01]", "after a list element"}, // a leading zero ends the number
		{"[1.]", "malformed number"},
		{"[-]", "malformed number"},
		{"[1e]", "malformed number"},
		{"[tru]", "invalid character 't'"},
		{"[1] /", "unexpected character '/'"},
		{"[1] /* x", "never closed"},
		{"[\"\t\"]", "control character 0x09"},
		{"[\x00]", "byte 0x00"},
		{"[\"bad\xff\xfebyte\"]", "line 1, column 6: invalid UTF-8 at byte offset 5"},
		{"[", "unexpected end of input"},
		{"{", "unexpected end of input inside an object"},
	}
	for _, tt := range tests {
		_, err := parseList([]byte(tt.in), func(int, *node) {})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func TestParserComments(t *testing.T) {
	in := "// head\n[ /* a */ {\"k\" /* b */ : // c\n 1 /* d */ } // e\n, 2 ] /* tail */ \n// end"
	var got []kind
	root, err := parseList([]byte(in), func(_ int, el *node) { got = append(got, el.kind) })
	if err != nil || root.kind != kindArray || len(got) != 2 || got[0] != kindObject || got[1] != kindNumber {
		t.Fatalf("root %v, elements %v, err %v", root, got, err)
	}
}

func TestParserKeepsKeyOrderAndNumbers(t *testing.T) {
	root, err := parseList([]byte(`{"z":1,"a":-0.5e3,"m":12345678901234567890}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(root.keys, ",") != "z,a,m" {
		t.Errorf("keys = %v", root.keys)
	}
	if root.get("a").text != "-0.5e3" || root.get("m").text != "12345678901234567890" {
		t.Errorf("numbers must keep their literal text: %q %q", root.get("a").text, root.get("m").text)
	}
	if root.get("missing") != nil || root.has("missing") {
		t.Error("absent key found")
	}
}

func TestArenaReuse(t *testing.T) {
	// Each element is only valid during its callback: the arenas are reused,
	// so what a callback reads must be right even after many elements.
	var b strings.Builder
	b.WriteString("[")
	for i := range 2000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"resource":"r`)
		b.WriteString(strings.Repeat("x", i%40))
		b.WriteString(`","list":[1,2,3],"nested":{"k":"v"}}`)
	}
	b.WriteString("]")
	n := 0
	_, err := parseList([]byte(b.String()), func(i int, el *node) {
		want := "r" + strings.Repeat("x", i%40)
		if el.get("resource").text != want || len(el.get("list").vals) != 3 || el.get("nested").get("k").text != "v" {
			t.Fatalf("element %d decoded wrong: %q", i, el.get("resource").text)
		}
		n++
	})
	if err != nil || n != 2000 {
		t.Fatalf("%d elements, %v", n, err)
	}
}
