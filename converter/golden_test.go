package converter

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/codec"
	"github.com/rulesync/rulesync/engine/authority"
	"github.com/rulesync/rulesync/engine/gateway"
	"github.com/rulesync/rulesync/engine/param"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenFamily runs one family's codec over its testdata directory.
type goldenFamily struct {
	dir string
	// run decodes in and returns the canonical encoding, any extra encodings
	// (by golden file suffix) and the report; it also checks the round trip.
	run func(t *testing.T, in []byte) (out []byte, extra map[string][]byte, rep codec.Report)
}

// roundTrip decodes in with c and checks that every encoding of the result
// (plus the codecs in alts, for other output formats) decodes back to an equal,
// cleanly reported value. V is a rule list or a config object.
func roundTrip[V any](c codec.Codec[V], alts map[string]codec.Codec[V]) func(t *testing.T, in []byte) ([]byte, map[string][]byte, codec.Report) {
	return func(t *testing.T, in []byte) ([]byte, map[string][]byte, codec.Report) {
		t.Helper()
		rules, rep, err := c.Decode(in)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		out, err := c.Encode(rules)
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		check := func(name string, enc []byte) {
			again, rep2, err := c.Decode(enc)
			if err != nil {
				t.Fatalf("%s: re-Decode: %v", name, err)
			}
			if !c.Equal(rules, again) {
				t.Errorf("%s: round trip changed the rules:\n first %+v\nsecond %+v", name, rules, again)
			}
			if !rep2.Clean() || rep2.Accepted != accepted(rules) {
				t.Errorf("%s: re-Decode of our own encoding is not clean: %s", name, rep2)
			}
		}
		check("canonical", out)
		extra := map[string][]byte{}
		for suffix, alt := range alts {
			enc, err := alt.Encode(rules)
			if err != nil {
				t.Fatalf("%s: Encode: %v", suffix, err)
			}
			check(suffix, enc)
			extra[suffix] = enc
		}
		return out, extra, rep
	}
}

func TestGolden(t *testing.T) {
	families := []goldenFamily{
		{"flow", roundTrip(Flow(), nil)},
		{"degrade", roundTrip(Degrade(), nil)},
		{"system", roundTrip(System(), nil)},
		{"authority", roundTrip(Authority(), map[string]codec.Codec[[]authority.Rule]{"dashboard": Authority(WithDashboardFormat())})},
		{"param", roundTrip(Param(), map[string]codec.Codec[[]param.Rule]{"dashboard": Param(WithDashboardFormat())})},
		{"gateway", roundTrip(GatewayFlow(), map[string]codec.Codec[[]gateway.Rule]{"dashboard": GatewayFlow(WithDashboardFormat())})},
		{"api", roundTrip(APIDefinitions(), nil)},
		{"clustermap", roundTrip(ClusterMap(), nil)},
		{"namespaces", roundTrip(NamespaceSet(), nil)},
		{"transport", roundTrip(ServerTransport(), nil)},
		{"serverflow", roundTrip(ServerFlow(), nil)},
	}
	for _, fam := range families {
		inputs := goldenInputs(t, fam.dir)
		if len(inputs) < 4 {
			t.Errorf("%s: want at least 4 inputs (Sentinel, dashboard, YAML, messy), found %d", fam.dir, len(inputs))
		}
		for _, in := range inputs {
			name := strings.TrimSuffix(in, filepath.Ext(in))
			t.Run(name, func(t *testing.T) {
				data, err := os.ReadFile(in)
				if err != nil {
					t.Fatal(err)
				}
				out, extra, rep := fam.run(t, data)
				var repJSON bytes.Buffer
				enc := json.NewEncoder(&repJSON)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					t.Fatal(err)
				}
				compareGolden(t, name+".golden.json", out)
				compareGolden(t, name+".report.golden.json", repJSON.Bytes())
				for suffix, b := range extra {
					compareGolden(t, name+"."+suffix+".golden.json", b)
				}
			})
		}
	}
}

// accepted is how many rules a decode of v's own encoding accepts: the
// length of a rule list, 1 for a config object.
func accepted(v any) int {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice {
		return rv.Len()
	}
	return 1
}

// goldenInputs lists a family's inputs: every .json and .yaml file that is
// not itself a golden file.
func goldenInputs(t *testing.T, dir string) []string {
	t.Helper()
	all, err := filepath.Glob(filepath.Join("testdata", dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var in []string
	for _, f := range all {
		if strings.Contains(f, ".golden.") {
			continue
		}
		if ext := filepath.Ext(f); ext == ".json" || ext == ".yaml" {
			in = append(in, f)
		}
	}
	return in
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	got = append(bytes.TrimSpace(got), '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it)\n got: %s\nwant: %s", path, got, want)
	}
}
