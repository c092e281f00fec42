package dashboard

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The requests of testdata/dashboard-1.8.3 are the bytes the real Sentinel
// dashboard (1.8.3) sent to this package's command server while
// TestRealDashboard drove its pages (RULESYNC_UPDATE_DASHBOARD_TESTDATA=1
// writes them again): POST forms with and without a charset, GET queries
// for old versions, rule text with '+', '%', '&' and spaces. Replayed in
// order against a fresh agent, every answer must read as success the way
// the dashboard reads it, and the rules must end as the dashboard left them.
func TestReplayDashboardRequests(t *testing.T) {
	for _, tc := range []struct {
		dir  string
		want map[string]int // rules in force at the end, by type
	}{
		{capturedDir, map[string]int{"flow": 0, "degrade": 1, "authority": 1, "param-flow": 1, "system": 1}},
		{filepath.Join(capturedDir, "v1.6.0"), map[string]int{"flow": 0}},
		{filepath.Join(capturedDir, "v1.5.0"), map[string]int{"flow": 0}},
		{filepath.Join(capturedDir, "gateway"), map[string]int{"gw-flow": 1, "gw-api": 1}},
	} {
		t.Run(filepath.Base(tc.dir), func(t *testing.T) {
			files, err := filepath.Glob(filepath.Join(tc.dir, "[0-9]*.http"))
			if err != nil || len(files) == 0 {
				t.Fatalf("no captured requests in %s (%v)", tc.dir, err)
			}
			sort.Strings(files)
			b := newBench(t, true)
			for _, f := range files {
				req, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				a := b.raw(t, string(req))
				cmd := strings.TrimPrefix(strings.TrimSuffix(filepath.Base(f)[4:], ".http"), "gateway_")
				switch {
				case strings.HasPrefix(cmd, "get"):
					rulesOf(t, a)
				case cmd == "setRules" && strings.Contains(string(req), "type=flow"):
					// setRulesAsync: the trimmed body must be "success", any case.
					if !a.success() {
						t.Fatalf("%s: %d %q\n%s", f, a.status, a.body, b.logs)
					}
				case cmd == "setParamFlowRules":
					if !a.ok2xx() || a.body != "success" {
						t.Fatalf("%s: %d %q", f, a.status, a.body)
					}
				default:
					if !a.ok2xx() {
						t.Fatalf("%s: %d %q", f, a.status, a.body)
					}
				}
			}
			counts := map[string]int{
				"flow": len(b.e.Flow().Rules()), "degrade": len(b.e.Degrade().Rules()), "authority": len(b.e.Authority().Rules()),
				"param-flow": len(b.e.Param().Rules()), "system": len(b.e.System().Rules()),
				"gw-flow": len(b.e.Gateway().Rules()), "gw-api": len(b.e.Gateway().APIs()),
			}
			for k, n := range tc.want {
				if counts[k] != n {
					t.Errorf("%s rules at the end: %d, want %d", k, counts[k], n)
				}
			}
			// The statistics commands, parsed as the dashboard parses them.
			for _, name := range []string{"once-metric.http", "once-clusterNode.http", "once-jsonTree.http"} {
				req, err := os.ReadFile(filepath.Join(tc.dir, name))
				if os.IsNotExist(err) {
					continue
				}
				a := b.raw(t, string(req))
				if !a.ok2xx() {
					t.Fatalf("%s: %d %q", name, a.status, a.body)
				}
				if name == "once-metric.http" {
					for _, line := range strings.Split(strings.TrimSpace(a.body), "\n") {
						if line != "" {
							parseThinLine(t, line)
						}
					}
					continue
				}
				var nodes []map[string]any
				if err := json.Unmarshal([]byte(a.body), &nodes); err != nil {
					t.Fatalf("%s: %v: %s", name, err, a.body)
				}
			}
		})
	}
}

// parseThinLine is MetricNode.fromThinString: ten '|'-separated fields, all
// but the resource integers.
func parseThinLine(t *testing.T, line string) []string {
	t.Helper()
	f := strings.Split(line, "|")
	if len(f) != 10 {
		t.Fatalf("metric line %q has %d fields, want 10", line, len(f))
	}
	for i, v := range f {
		if i == 1 {
			continue
		}
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("metric line %q: field %d %q is not an integer", line, i, v)
		}
	}
	return f
}
