package datasource

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzApplySequence feeds arbitrary payload sequences through the sync loop's
// apply step. Whatever arrives, nothing panics, the property always holds the
// last readable payload's rules (or nothing after a deletion), and Status
// agrees with it.
func FuzzApplySequence(f *testing.F) {
	f.Add([]byte(`["a","b"]` + "\x00" + `{bad` + "\x00" + `["c",""]`))
	f.Add([]byte("\x01\x00[]\x00\x01"))
	f.Add([]byte(`null` + "\x00" + `[1,2]` + "\x00" + `["x"]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		src := newFake()
		d := New[[]string](src, nameCodec{})
		defer d.Close()
		var want []string
		have := false
		var prev *Snapshot
		for i, p := range bytes.Split(in, []byte{0}) {
			snap := Snapshot{Data: p, Revision: strconv.Itoa(i + 1), Exists: true}
			if len(p) == 1 && p[0] == 1 { // \x01 stands for "deleted"
				snap = Snapshot{Revision: strconv.Itoa(i + 1)}
			}
			err := d.apply(snap)
			dup := prev != nil && prev.Exists == snap.Exists && bytes.Equal(prev.Data, snap.Data)
			prev = &snap
			if dup {
				if err != nil {
					t.Fatalf("repeated payload %q: %v", p, err)
				}
				continue
			}
			if !snap.Exists {
				want, have = []string{}, true
				continue
			}
			v, _, derr := nameCodec{}.Decode(p)
			if (err != nil) != (derr != nil) {
				t.Fatalf("apply err %v, decode err %v", err, derr)
			}
			if derr == nil {
				want, have = v, true
			}
		}
		got, ok := d.Property().Get()
		if ok != have || !slices.Equal(got, want) {
			t.Fatalf("property = %v (%v), want %v (%v)", got, ok, want, have)
		}
		if have && d.Status().RuleCount != len(want) {
			t.Fatalf("RuleCount %d, want %d", d.Status().RuleCount, len(want))
		}
		_ = d.Start(context.Background()) // a fuzzed state must not break Start either
	})
}

// FuzzSnapshotPath: distinct datasource names never share a snapshot file,
// and the file always lands inside the snapshot directory.
func FuzzSnapshotPath(f *testing.F) {
	f.Add("flow", "flow/")
	f.Add("../x", "..%2fx")
	f.Add("a b", "a%20b")
	f.Fuzz(func(t *testing.T, a, b string) {
		pa, pb := snapshotPath("/snap", a), snapshotPath("/snap", b)
		if a != b && pa == pb {
			t.Fatalf("%q and %q share %s", a, b, pa)
		}
		if filepath.Dir(pa) != "/snap" || strings.HasPrefix(filepath.Base(pa), ".") {
			t.Fatalf("%q maps to %s", a, pa)
		}
	})
}
