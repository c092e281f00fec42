package converter

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/rulesync/rulesync/codec"
)

// fuzzCodec seeds f with every file of testdata/<dir> and checks, for any
// input, that Decode does not panic, fails only with codec.ErrUnreadable, keeps its
// report consistent, and that what it accepted encodes and decodes back to
// equal rules with a clean report. V is a rule list or a config object.
func fuzzCodec[V any](f *testing.F, dir string, c codec.Codec[V], alts ...codec.Codec[V]) {
	files, _ := filepath.Glob(filepath.Join("testdata", dir, "*"))
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{"", "[]", "null", "{}", "[{}]", "[null]", `[{"resource":"a","count":"1"}]`, "- a: 1\n", "[/*", `["\ud800"]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, rep, err := c.Decode(data)
		if err != nil {
			if !errors.Is(err, codec.ErrUnreadable) {
				t.Fatalf("error %v does not wrap codec.ErrUnreadable", err)
			}
			return
		}
		rv := reflect.ValueOf(rules)
		if rv.Kind() == reflect.Slice {
			if rv.IsNil() {
				t.Fatal("nil rules without an error")
			}
			if rep.Accepted != rv.Len() {
				t.Fatalf("inconsistent report %s for %d rules", rep, rv.Len())
			}
		} else if rep.Accepted > 1 {
			t.Fatalf("report %s accepts more than one config", rep)
		}
		if rep.Accepted+len(rep.Rejected) > rep.Total {
			t.Fatalf("inconsistent report %s", rep)
		}
		for _, enc := range append([]codec.Codec[V]{c}, alts...) {
			out, err := enc.Encode(rules)
			if err != nil {
				t.Fatalf("Encode of decoded rules: %v", err)
			}
			again, rep2, err := c.Decode(out)
			if err != nil {
				t.Fatalf("re-Decode of %s: %v", out, err)
			}
			if !c.Equal(rules, again) {
				t.Fatalf("round trip changed the rules:\n first %+v\nsecond %+v\nencoded %s", rules, again, out)
			}
			if !rep2.Clean() || rep2.Accepted != accepted(rules) {
				t.Fatalf("re-Decode of our own encoding not clean: %s\nencoded %s", rep2, out)
			}
		}
	})
}

func FuzzFlowDecode(f *testing.F)    { fuzzCodec(f, "flow", Flow()) }
func FuzzDegradeDecode(f *testing.F) { fuzzCodec(f, "degrade", Degrade()) }
func FuzzSystemDecode(f *testing.F)  { fuzzCodec(f, "system", System()) }
func FuzzAuthorityDecode(f *testing.F) {
	fuzzCodec(f, "authority", Authority(), Authority(WithDashboardFormat()))
}
func FuzzParamDecode(f *testing.F) { fuzzCodec(f, "param", Param(), Param(WithDashboardFormat())) }
func FuzzGatewayFlowDecode(f *testing.F) {
	fuzzCodec(f, "gateway", GatewayFlow(), GatewayFlow(WithDashboardFormat()))
}
func FuzzAPIDefinitionsDecode(f *testing.F)  { fuzzCodec(f, "api", APIDefinitions()) }
func FuzzClusterMapDecode(f *testing.F)      { fuzzCodec(f, "clustermap", ClusterMap()) }
func FuzzNamespaceSetDecode(f *testing.F)    { fuzzCodec(f, "namespaces", NamespaceSet()) }
func FuzzServerTransportDecode(f *testing.F) { fuzzCodec(f, "transport", ServerTransport()) }
func FuzzServerFlowDecode(f *testing.F)      { fuzzCodec(f, "serverflow", ServerFlow()) }

// FuzzIndent holds the encoder's indenter to json.Indent on every compact
// text encoding/json can write: the same bytes, whatever the strings hold.
func FuzzIndent(f *testing.F) {
	for _, s := range []string{
		`[]`, `{}`, `[{"a":1,"b":[],"c":{}}]`, `{"k\"ey":"v\\\\","x":[1,[2,[3]]]}`,
		`"a,b:c{d}[e]"`, `[{"resource":"<a&b>","count":1.5e300,"x":null,"y":true}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if json.Unmarshal(data, &v) != nil {
			return
		}
		var compact bytes.Buffer
		enc := json.NewEncoder(&compact)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if err := json.Indent(&want, compact.Bytes(), "", "  "); err != nil {
			t.Fatal(err)
		}
		if got := indent(nil, compact.Bytes()); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("indent(%s) =\n%s\nwant\n%s", compact.Bytes(), got, want.Bytes())
		}
	})
}
