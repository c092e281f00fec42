package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/flow"
)

const unixStart = 1_700_000_000_000

// The metric command answers Sentinel's lines for the seconds asked, oldest
// first, per resource.
func TestMetric(t *testing.T) {
	clock := engine.NewManualClock(unixStart)
	e := engine.New(engine.WithClock(clock))
	defer e.Close()
	e.Flow().Load([]flow.Rule{{Resource: "r|1", Grade: flow.GradeQPS, Count: 3, LimitApp: "default"}})
	b := newBenchWith(t, e, false, withNow(func() time.Time { return time.UnixMilli(clock.NowMs()) }))
	ctx := context.Background()
	// Seconds 0..24: 4 calls on r|1 (3 pass, the first with an error), 2 on
	// "s" entered inbound, 6 ms each.
	for k := range 25 {
		clock.Set(unixStart + int64(k)*1000 + 100)
		for i := range 4 {
			if en, err := e.Entry(ctx, "r|1"); err == nil {
				clock.Advance(6 * time.Millisecond)
				if i == 0 {
					en.Exit(engine.WithError(errors.New("x")))
				} else {
					en.Exit()
				}
			}
		}
		for range 2 {
			en, _ := e.Entry(ctx, "s", engine.Inbound())
			en.Exit()
		}
	}
	clock.Set(unixStart + 27_300)
	from, to := int64(unixStart+15_000), int64(unixStart+20_000)
	a := b.get(t, "metric", kv{{"startTime", strconv.FormatInt(from, 10)}, {"endTime", strconv.FormatInt(to, 10)}, {"refetch", "false"}})
	lines := strings.Split(strings.TrimSuffix(a.body, "\n"), "\n")
	if !strings.HasSuffix(a.body, "\n") || len(lines) != 6*3 {
		t.Fatalf("got %d lines:\n%s", len(lines), a.body)
	}
	for i, line := range lines {
		f := parseThinLine(t, line)
		ts, _ := strconv.ParseInt(f[0], 10, 64)
		if want := from + int64(i/3)*1000; ts != want {
			t.Fatalf("line %d %q: timestamp %d, want %d", i, line, ts, want)
		}
		switch f[1] {
		case "r_1": // '|' in a name becomes '_'
			if got := strings.Join(f[2:], "|"); got != "3|1|3|1|6|0|0|0" {
				t.Fatalf("r|1 line %q", line)
			}
		case "s":
			if got := strings.Join(f[2:], "|"); got != "2|0|2|0|0|0|0|0" {
				t.Fatalf("s line %q", line)
			}
		case engine.InboundResource:
			if f[2] != "2" {
				t.Fatalf("inbound line %q", line)
			}
		default:
			t.Fatalf("line %q", line)
		}
	}
	// identity picks one resource.
	a = b.get(t, "metric", kv{{"startTime", strconv.FormatInt(from, 10)}, {"endTime", strconv.FormatInt(to, 10)}, {"identity", "s"}})
	if n := strings.Count(a.body, "\n"); n != 6 || strings.Contains(a.body, "r_1") {
		t.Fatalf("identity=s:\n%s", a.body)
	}
	// The dashboard's window, 6 s starting 15 s back: all there (20 s of history at least).
	a = b.get(t, "metric", kv{{"startTime", strconv.FormatInt(unixStart+7_000, 10)}, {"endTime", strconv.FormatInt(unixStart+12_000, 10)}})
	if n := strings.Count(a.body, "\n"); n != 18 {
		t.Fatalf("15 s back: %d lines", n)
	}
	// Without startTime: an empty answer; without endTime: maxLines from startTime.
	if a := b.get(t, "metric", nil); a.status != 200 || a.body != "" {
		t.Fatalf("no startTime: %d %q", a.status, a.body)
	}
	if a := b.get(t, "metric", kv{{"startTime", strconv.FormatInt(unixStart+20_000, 10)}, {"maxLines", "4"}}); strings.Count(a.body, "\n") != 4 {
		t.Fatalf("maxLines 4:\n%s", a.body)
	}
	if a := b.get(t, "metric", kv{{"startTime", "soon"}}); a.status != 400 {
		t.Fatalf("bad startTime: %d", a.status)
	}
	// clusterNode: every resource with its figures now and over the minute.
	clock.Set(unixStart + 27_300)
	var nodes []map[string]any
	if err := json.Unmarshal([]byte(b.get(t, "clusterNode", kv{{"type", "notZero"}}).body), &nodes); err != nil || len(nodes) != 2 {
		t.Fatalf("clusterNode: %v %v", nodes, err)
	}
	r := nodes[0]
	if r["resource"] != "r|1" || r["oneMinutePass"] != 75.0 || r["oneMinuteBlock"] != 25.0 || r["oneMinuteTotal"] != 100.0 ||
		r["oneMinuteException"] != 25.0 || r["passQps"] != 0.0 || r["id"] != nil {
		t.Fatalf("clusterNode r|1: %v", r)
	}
	clock.Set(unixStart + 200_000)
	if err := json.Unmarshal([]byte(b.get(t, "clusterNode", kv{{"type", "notZero"}}).body), &nodes); err != nil || len(nodes) != 0 {
		t.Fatalf("clusterNode notZero after a quiet minute: %v %v", nodes, err)
	}
	if err := json.Unmarshal([]byte(b.get(t, "clusterNode", kv{{"type", "zero"}}).body), &nodes); err != nil || len(nodes) != 2 {
		t.Fatalf("clusterNode zero: %v %v", nodes, err)
	}
}

// jsonTree answers the call tree in pre-order, each child after its parent.
func TestJSONTree(t *testing.T) {
	b := newBench(t, false)
	ctx := engine.WithEntrance(context.Background(), "web")
	for _, c := range []context.Context{context.Background(), ctx} {
		en, err := b.e.Entry(c, "res")
		if err != nil {
			t.Fatal(err)
		}
		en.Exit()
	}
	var nodes []struct {
		ID       string  `json:"id"`
		ParentID *string `json:"parentId"`
		Resource string  `json:"resource"`
		PassQps  int64   `json:"passQps"`
	}
	if err := json.Unmarshal([]byte(b.get(t, "jsonTree", kv{{"type", "root"}}).body), &nodes); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	var names []string
	for i, n := range nodes {
		if i == 0 && (n.ParentID != nil || n.Resource != engine.TreeRoot) || i > 0 && (n.ParentID == nil || seen[*n.ParentID] == "") {
			t.Fatalf("node %d %+v out of order", i, n)
		}
		seen[n.ID] = n.Resource
		names = append(names, n.Resource)
	}
	if strings.Join(names, ",") != "machine-root,sentinel_default_context,res,web,res" {
		t.Fatalf("tree %v", names)
	}
}
