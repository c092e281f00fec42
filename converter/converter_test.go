package converter

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rulesync/rulesync/codec"
	"github.com/rulesync/rulesync/engine/authority"
	"github.com/rulesync/rulesync/engine/degrade"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/gateway"
	"github.com/rulesync/rulesync/engine/param"
	"github.com/rulesync/rulesync/engine/system"
)

func TestDecodeEmpty(t *testing.T) {
	for _, in := range []string{"", "  \n\t", "[]", "null", " [ ] ", "// nothing yet\n", "/* */ []", "# yaml comment only\n", "\xef\xbb\xbf[]"} {
		rules, rep, err := Flow().Decode([]byte(in))
		if err != nil {
			t.Errorf("%q: unexpected error %v", in, err)
			continue
		}
		if rules == nil || len(rules) != 0 {
			t.Errorf("%q: got %#v, want an empty non-nil slice", in, rules)
		}
		if rep.Total != 0 || rep.Accepted != 0 || !rep.Clean() {
			t.Errorf("%q: report %s, want an empty clean one", in, rep)
		}
	}
}

func TestDecodeUnreadable(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // substrings of the error
	}{
		{"syntax error names line and column", "[\n {\"resource\": \"a\",\n  \"count\": 1,,\n}]", []string{"line 3, column 14", "invalid character ','"}},
		{"truncated list", `[{"resource":"a"}`, []string{"end of input"}},
		{"unclosed comment", "[ /* never closed", []string{"never closed"}},
		{"bare word", "hello there", []string{"top level is a string"}},
		{"neither JSON nor YAML", "a: b: c", []string{"neither JSON", "nor YAML"}},
		{"JSON with a trailing comma is not handed to YAML", `[{"resource":"a","count":1},]`, []string{"line 1, column 29"}},
		{"JSON-looking YAML is not guessed at", `[{resource: a, count: 2}]`, []string{"keys need double quotes"}},
		{"top-level string", `"flow rules"`, []string{"top level is a string"}},
		{"top-level number", `42`, []string{"top level is a number"}},
		{"wrapper object not guessed", `{"rules":[{"resource":"a","count":1}]}`, []string{`under "rules"`}},
		{"too deep", strings.Repeat("[", 100) + strings.Repeat("]", 100), []string{"nesting deeper than 64"}},
		{"yaml scalar", "just: [unclosed", []string{"YAML"}},
		{"control character in string", "[{\"resource\":\"a\x01\"}]", []string{"control character"}},
		{"trailing garbage", `[] x`, []string{"after the end"}},
		{"invalid UTF-8 names its byte offset", "[{\"resource\":\"caf\xff\",\"count\":1}]", []string{"invalid UTF-8", "byte offset 17", "line 1, column 18"}},
		{"invalid UTF-8 in YAML", "- resource: a\n  count: 1\n- resource: \xc3(\n", []string{"invalid UTF-8", "byte offset 37", "line 3, column 13"}},
		{"invalid UTF-8 in a comment", "// caf\xe9\n[]", []string{"invalid UTF-8", "byte offset 6"}},
		{"UTF-16 LE with its byte-order mark", "\xff\xfe[\x00]\x00", []string{"UTF-16 is not supported"}},
		{"UTF-16 BE with its byte-order mark", "\xfe\xff\x00[\x00]", []string{"UTF-16 is not supported"}},
		{"UTF-16 LE without a byte-order mark", "[\x00{\x00}\x00]\x00", []string{"UTF-16 is not supported"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules, _, err := Flow().Decode([]byte(tt.in))
			if !errors.Is(err, codec.ErrUnreadable) {
				t.Fatalf("err = %v, want one wrapping codec.ErrUnreadable (rules %v)", err, rules)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestDecodeMaxBytes(t *testing.T) {
	in := []byte(`[{"resource":"a","count":1}]`)
	if _, _, err := Flow(WithMaxBytes(10)).Decode(in); !errors.Is(err, codec.ErrUnreadable) || !strings.Contains(err.Error(), "limit") {
		t.Errorf("over the limit: err = %v, want codec.ErrUnreadable naming the limit", err)
	}
	if rules, _, err := Flow(WithMaxBytes(len(in))).Decode(in); err != nil || len(rules) != 1 {
		t.Errorf("at the limit: %v, %v", rules, err)
	}
}

func TestFlowLeniency(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		check  func(t *testing.T, r flow.Rule)
		reject string // substring of the rejection reason; "" = accepted
	}{
		{name: "numbers and booleans as strings", in: `{"resource":"a","count":" 12.5 ","grade":"0","clusterMode":"FALSE","regex":"false"}`,
			check: func(t *testing.T, r flow.Rule) {
				if r.Count != 12.5 || r.Grade != flow.GradeThread || r.ClusterMode {
					t.Errorf("got %+v", r)
				}
			}},
		{name: "missing keys keep Sentinel defaults", in: `{"resource":"a","count":1}`,
			check: func(t *testing.T, r flow.Rule) {
				want := flow.DefaultRule()
				want.Resource, want.Count = "a", 1
				if r != want || r.WarmUpPeriodSec != 10 || r.MaxQueueingTimeMs != 500 {
					t.Errorf("got %+v, want %+v", r, want)
				}
			}},
		{name: "null is the default", in: `{"resource":"a","count":1,"grade":null,"maxQueueingTimeMs":null,"clusterConfig":null}`,
			check: func(t *testing.T, r flow.Rule) {
				if r.Grade != flow.GradeQPS || r.MaxQueueingTimeMs != 500 || r.ClusterConfig != (flow.ClusterConfig{}) {
					t.Errorf("got %+v", r)
				}
			}},
		{name: "partial clusterConfig gets cluster defaults", in: `{"resource":"a","count":1,"clusterMode":true,"clusterConfig":{"flowId":"7","thresholdType":1}}`,
			check: func(t *testing.T, r flow.Rule) {
				want := flow.DefaultClusterConfig()
				want.FlowID, want.ThresholdType = 7, 1
				if r.ClusterConfig != want {
					t.Errorf("clusterConfig = %+v, want %+v", r.ClusterConfig, want)
				}
			}},
		{name: "whole float fills an int", in: `{"resource":"a","count":1,"warmUpPeriodSec":20.0,"maxQueueingTimeMs":"1e3"}`,
			check: func(t *testing.T, r flow.Rule) {
				if r.WarmUpPeriodSec != 20 || r.MaxQueueingTimeMs != 1000 {
					t.Errorf("got %+v", r)
				}
			}},
		{name: "large id keeps its precision", in: `{"id":9007199254740993,"resource":"a","count":1}`,
			check: func(t *testing.T, r flow.Rule) {
				if r.ID != 9007199254740993 {
					t.Errorf("id = %d", r.ID)
				}
			}},
		{name: "number as a string field", in: `{"resource":8080,"count":1}`,
			check: func(t *testing.T, r flow.Rule) {
				if r.Resource != "8080" {
					t.Errorf("resource = %q", r.Resource)
				}
			}},
		{name: "comment markers inside strings are text", in: `{"resource":"http://a/*b*/","count":1}`,
			check: func(t *testing.T, r flow.Rule) {
				if r.Resource != "http://a/*b*/" {
					t.Errorf("resource = %q", r.Resource)
				}
			}},
		{name: "escapes are decoded", in: `{"resource":"a\u00e9\"\\b","count":1}`,
			check: func(t *testing.T, r flow.Rule) {
				if r.Resource != "a\u00e9\"\\b" {
					t.Errorf("resource = %q", r.Resource)
				}
			}},
		{name: "word for a number", in: `{"resource":"a","count":"abc"}`, reject: `count: "abc" is not a number`},
		{name: "hex is not a number", in: `{"resource":"a","count":"0x10"}`, reject: `count: "0x10" is not a number`},
		{name: "Inf is not a number", in: `{"resource":"a","count":"Inf"}`, reject: "count"},
		{name: "fraction for an int", in: `{"resource":"a","count":1,"strategy":1.5}`, reject: "strategy: 1.5 is not a whole number"},
		{name: "int out of range", in: `{"resource":"a","count":1,"warmUpPeriodSec":1e30}`, reject: "warmUpPeriodSec: 1e30 is out of range"},
		{name: "float out of range", in: `{"resource":"a","count":1e999}`, reject: "count: 1e999 is out of range"},
		{name: "object for a number", in: `{"resource":"a","count":{"v":1}}`, reject: "count: an object is not a number"},
		{name: "list for a string", in: `{"resource":["a"],"count":1}`, reject: "resource: want a string, got a list"},
		{name: "string for an object", in: `{"resource":"a","count":1,"clusterConfig":"x"}`, reject: "clusterConfig: want an object, got a string"},
		{name: "bad nested value names its path", in: `{"resource":"a","count":1,"clusterConfig":{"sampleCount":"many"}}`, reject: "clusterConfig.sampleCount"},
		{name: "yes is not a boolean", in: `{"resource":"a","count":1,"clusterMode":"yes"}`, reject: `clusterMode: "yes" is not a boolean`},
		{name: "key given twice", in: `{"resource":"a","count":1,"count":2}`, reject: `key "count" appears more than once`},
		{name: "validation failure", in: `{"resource":"a","count":1,"controlBehavior":2,"maxQueueingTimeMs":0}`, reject: "maxQueueingTimeMs > 0"},
		{name: "blank resource", in: `{"count":1}`, reject: "resource is blank"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules, rep, err := Flow().Decode([]byte("[" + tt.in + "]"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.reject != "" {
				if len(rules) != 0 || len(rep.Rejected) != 1 || rep.Accepted != 0 || rep.Total != 1 {
					t.Fatalf("want one rejection, got rules %+v report %s", rules, rep)
				}
				if !strings.Contains(rep.Rejected[0].Reason, tt.reject) {
					t.Errorf("reason %q does not contain %q", rep.Rejected[0].Reason, tt.reject)
				}
				return
			}
			if len(rules) != 1 || !rep.Clean() {
				t.Fatalf("want one clean rule, got %+v, %s", rules, rep)
			}
			tt.check(t, rules[0])
		})
	}
}

func TestUnknownKeys(t *testing.T) {
	in := `[
	  {"resource":"a","count":1,"app":"svc","ip":"1.2.3.4","port":8719,"gmtCreate":1,"gmtModified":2,"id":3},
	  {"resource":"b","count":1,"Count":2,"clusterConfig":{"flowID":1,"sampleCount":10},"extra":{"deep":1}}
	]`
	rules, rep, err := Flow().Decode([]byte(in))
	if err != nil || len(rules) != 2 {
		t.Fatalf("rules %v, err %v", rules, err)
	}
	want := []codec.UnknownKey{{Index: 1, Key: "Count"}, {Index: 1, Key: "clusterConfig.flowID"}, {Index: 1, Key: "extra"}}
	if !slices.Equal(rep.UnknownKeys, want) {
		t.Errorf("unknown keys = %v, want %v (dashboard extras are known; matching is case-sensitive)", rep.UnknownKeys, want)
	}
	if rules[1].Count != 1 {
		t.Errorf("Count must not be read as count: %v", rules[1].Count)
	}
	if rep.Clean() {
		t.Error("a report with unknown keys is not clean")
	}
}

func TestSingleObjectAndDuplicates(t *testing.T) {
	rules, rep, err := Flow().Decode([]byte(`{"resource":"a","count":1}`))
	if err != nil || len(rules) != 1 || rules[0].Resource != "a" {
		t.Fatalf("single object: %v %v", rules, err)
	}
	if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "single rule object") {
		t.Errorf("notes = %q", rep.Notes)
	}

	in := `[{"resource":"a","count":1,"id":1},{"resource":"b","count":1},{"resource":"a","count":1,"id":2,"limitApp":""},{"resource":"a","count":2}]`
	rules, rep, err = Flow().Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		got = append(got, r.Resource)
	}
	if !slices.Equal(got, []string{"a", "b", "a"}) || rules[0].ID != 1 || rules[2].Count != 2 {
		t.Errorf("rules = %+v: the equal rule 2 must collapse into rule 0, order kept", rules)
	}
	if rep.Total != 4 || rep.Accepted != 3 || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "rule 2 duplicates rule 0") {
		t.Errorf("report = %s", rep)
	}
}

func TestEntityUnwrap(t *testing.T) {
	in := `[{"id":7,"app":"svc","ip":"x","port":1,"gmtCreate":1,"gmtModified":1,"resource":"ignored","rule":{"resource":"r","limitApp":"a,b","strategy":1}},
	        {"resource":"plain","limitApp":"c"},
	        {"id":8,"rule":"oops"},
	        {"id":"x","rule":{"resource":"t","limitApp":"e"}},
	        {"id":9,"mystery":1,"rule":{"resource":"s","limitApp":"d","bogus":true}}]`
	rules, rep, err := Authority().Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []authority.Rule{{Resource: "r", LimitApp: "a,b", Strategy: authority.StrategyBlack}, {Resource: "plain", LimitApp: "c"}, {Resource: "t", LimitApp: "e"}, {Resource: "s", LimitApp: "d"}}
	if !Authority().Equal(rules, want) {
		t.Errorf("rules = %+v, want %+v", rules, want)
	}
	if len(rep.Rejected) != 1 || rep.Rejected[0].Index != 2 || !strings.Contains(rep.Rejected[0].Reason, "rule: want an object") {
		t.Errorf("rejected = %v", rep.Rejected)
	}
	if rules[0].ID != 7 || rules[2].ID != 0 {
		t.Errorf("ids = %d, %d: the entity id carries over, a malformed one is left out", rules[0].ID, rules[2].ID)
	}
	if !slices.Equal(rep.UnknownKeys, []codec.UnknownKey{{Index: 4, Key: "mystery"}, {Index: 4, Key: "rule.bogus"}}) {
		t.Errorf("unknown = %v", rep.UnknownKeys)
	}
	if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, `entity format (key "rule") in 3 of 5`) }) {
		t.Errorf("notes = %q", rep.Notes)
	}
}

func TestParam(t *testing.T) {
	in := `[{"id":12,"rule":{"resource":"a","paramIdx":"1","count":5,"clusterMode":true,"clusterConfig":{"flowId":3},
	           "paramFlowItemList":[{"object":"bad","count":[1]},{"object":42,"count":"9","classType":"int"},{"object":"x","count":"many"}]}},
	        {"resource":"b","count":5},
	        {"resource":"c","count":5,"paramIdx":null}]`
	rules, rep, err := Param().Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 1 {
		t.Fatalf("rules = %+v; %s", rules, rep)
	}
	r := rules[0]
	wantCluster := param.DefaultClusterConfig()
	wantCluster.FlowID = 3
	if r.ParamIdx != 1 || r.ClusterConfig != wantCluster || r.ClusterConfig.FallbackToLocalWhenFail {
		t.Errorf("rule = %+v: param cluster defaults (fallback false) expected", r)
	}
	if !slices.Equal(r.ParamFlowItemList, []param.Item{{Object: "42", Count: 9, ClassType: "int"}}) {
		t.Errorf("items = %+v: the two malformed hot items must drop out, the good one stay", r.ParamFlowItemList)
	}
	if r.ID != 12 {
		t.Errorf("id = %d: the entity's id must carry over to the rule", r.ID)
	}
	var dropped []string
	for _, n := range rep.Notes {
		if strings.Contains(n, "dropped rule.paramFlowItemList") {
			dropped = append(dropped, n)
		}
	}
	if len(dropped) != 2 || !strings.Contains(dropped[0], "rule 0: dropped rule.paramFlowItemList[0]: rule.paramFlowItemList[0].count") ||
		!strings.Contains(dropped[1], `rule.paramFlowItemList[2].count: "many" is not a number`) {
		t.Errorf("notes = %q", rep.Notes)
	}
	if len(rep.Rejected) != 2 || !strings.Contains(rep.Rejected[0].Reason, "paramIdx is missing") || rep.Rejected[1].Index != 2 {
		t.Errorf("rejected = %v", rep.Rejected)
	}
	// A rule built in Go with a nil item list is written with [], not null.
	out, err := Param().Encode([]param.Rule{{Resource: "x", Count: 1, DurationInSec: 1}})
	if err != nil || !strings.Contains(compact(t, out), `"paramFlowItemList":[]`) {
		t.Errorf("encode = %s, %v", out, err)
	}
}

func TestSystemDefaults(t *testing.T) {
	rules, rep, err := System().Decode([]byte(`[{"qps":"100"},{"highestCpuUsage":2,"avgRt":null}]`))
	if err != nil || !rep.Clean() {
		t.Fatal(err, rep)
	}
	want := []system.Rule{system.DefaultRule(), system.DefaultRule()}
	want[0].QPS = 100
	want[1].HighestCPUUsage = 2 // kept: the manager ignores a usage above 1
	if !slices.Equal(rules, want) {
		t.Errorf("rules = %+v, want %+v", rules, want)
	}
}

func TestGatewayInterval(t *testing.T) {
	tests := []struct {
		in     string
		want   int64
		reject string
	}{
		{`"interval":30,"intervalUnit":0`, 30, ""},
		{`"interval":2,"intervalUnit":1`, 120, ""},
		{`"interval":"3","intervalUnit":"2"`, 3 * 3600, ""},
		{`"interval":1,"intervalUnit":3`, 86400, ""},
		{`"interval":1,"intervalUnit":1,"intervalSec":60`, 60, ""},
		{`"intervalSec":45`, 45, ""},
		{``, 1, ""},
		{`"interval":1,"intervalUnit":4`, 0, "intervalUnit 4 is not 0 (second), 1 (minute), 2 (hour) or 3 (day)"},
		{`"interval":1,"intervalUnit":-1`, 0, "intervalUnit -1"},
		{`"interval":2,"intervalUnit":1,"intervalSec":60`, 0, "intervalSec 60 disagrees with interval 2 x intervalUnit 1 (= 120 s)"},
		{`"interval":5`, 0, "interval needs intervalUnit"},
		{`"intervalUnit":1`, 0, "intervalUnit given without interval"},
		{`"interval":"x","intervalUnit":1`, 0, `interval: "x" is not a number`},
		{`"interval":9223372036854775807,"intervalUnit":3`, 0, "overflows"},
		{`"interval":0,"intervalUnit":1`, 0, "intervalSec 0 must be > 0"},
	}
	for _, tt := range tests {
		in := `[{"resource":"r","count":1`
		if tt.in != "" {
			in += "," + tt.in
		}
		in += "}]"
		rules, rep, err := GatewayFlow().Decode([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if tt.reject != "" {
			if len(rules) != 0 || len(rep.Rejected) != 1 || !strings.Contains(rep.Rejected[0].Reason, tt.reject) {
				t.Errorf("%s: want rejection %q, got %+v %s", tt.in, tt.reject, rules, rep)
			}
			continue
		}
		if len(rules) != 1 || rules[0].IntervalSec != tt.want || !rep.Clean() {
			t.Errorf("%s: got %+v %s, want intervalSec %d", tt.in, rules, rep, tt.want)
		}
	}
}

func TestGatewayMisspelledQueueKey(t *testing.T) {
	rules, rep, err := GatewayFlow().Decode([]byte(`[{"resource":"r","count":1,"maxQueueingTimeMs":"900"},
		{"resource":"s","count":1,"maxQueueingTimeMs":900,"maxQueueingTimeoutMs":300}]`))
	if err != nil || len(rules) != 2 {
		t.Fatal(rules, err)
	}
	if rules[0].MaxQueueingTimeoutMs != 900 || rules[1].MaxQueueingTimeoutMs != 300 {
		t.Errorf("queue timeouts = %d, %d; want 900 (misspelling read) and 300 (correct key wins)", rules[0].MaxQueueingTimeoutMs, rules[1].MaxQueueingTimeoutMs)
	}
	if !slices.Equal(rep.UnknownKeys, []codec.UnknownKey{{Index: 0, Key: "maxQueueingTimeMs"}, {Index: 1, Key: "maxQueueingTimeMs"}}) {
		t.Errorf("unknown = %v", rep.UnknownKeys)
	}
	if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "rule 0: read misspelled key maxQueueingTimeMs") {
		t.Errorf("notes = %q", rep.Notes)
	}
}

func TestSplitInterval(t *testing.T) {
	tests := []struct {
		sec      int64
		interval int64
		unit     int
	}{
		{1, 1, 0}, {59, 59, 0}, {60, 1, 1}, {90, 90, 0}, {120, 2, 1}, {3600, 1, 2}, {7200, 2, 2},
		{5400, 90, 1}, {86400, 1, 3}, {172800, 2, 3}, {90000, 25, 2}, {0, 0, 0},
	}
	for _, tt := range tests {
		n, u := splitInterval(tt.sec)
		if n != tt.interval || u != tt.unit {
			t.Errorf("splitInterval(%d) = %d, %d; want %d, %d", tt.sec, n, u, tt.interval, tt.unit)
		}
		if tt.sec > 0 && n*intervalUnitSec[u] != tt.sec {
			t.Errorf("splitInterval(%d) does not multiply back", tt.sec)
		}
	}
}

func TestGatewayDashboardEncoding(t *testing.T) {
	rules := []gateway.Rule{{Resource: "r", Grade: 1, Count: 5, IntervalSec: 7200, MaxQueueingTimeoutMs: 500}}
	out, err := GatewayFlow(WithDashboardFormat()).Encode(rules)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"interval":2`, `"intervalUnit":2`, `"intervalSec":7200`} {
		if !strings.Contains(compact(t, out), want) {
			t.Errorf("%s lacks %s", out, want)
		}
	}
	plain, _ := GatewayFlow().Encode(rules)
	if strings.Contains(string(plain), "intervalUnit") {
		t.Errorf("canonical encoding must not carry dashboard keys: %s", plain)
	}
}

func TestAPIDefinitions(t *testing.T) {
	in := `[{"id":1,"app":"gw","apiName":"a","predicateItems":[{"pattern":"/x","matchStrategy":1},{"items":[{"pattern":"/y"}]},{"items":[]},{"pattern":"","matchStrategy":0}]}]`
	defs, rep, err := APIDefinitions().Decode([]byte(in))
	if err != nil || !rep.Clean() || len(defs) != 1 {
		t.Fatalf("%+v %s %v", defs, rep, err)
	}
	items := defs[0].PredicateItems
	if len(items) != 4 || items[0].IsGroup() || !items[1].IsGroup() || !items[2].IsGroup() || items[3].IsGroup() {
		t.Fatalf("items = %+v: path/group told apart by key", items)
	}
	if items[0].Pattern != "/x" || items[0].MatchStrategy != 1 || items[1].Items[0].Pattern != "/y" {
		t.Errorf("items = %+v", items)
	}
	out, err := APIDefinitions().Encode(defs)
	if err != nil {
		t.Fatal(err)
	}
	const want = `[{"apiName":"a","predicateItems":[{"pattern":"/x","matchStrategy":1},{"items":[{"pattern":"/y","matchStrategy":0}]},{"items":[]},{"pattern":"","matchStrategy":0}]}]`
	if compact(t, out) != want {
		t.Errorf("encode =\n%s\nwant\n%s", out, want)
	}
}

func TestEncode(t *testing.T) {
	out, err := Flow().Encode(nil)
	if err != nil || string(out) != "[]\n" {
		t.Errorf("nil encodes as %q, %v; want \"[]\\n\"", out, err)
	}
	r := flow.DefaultRule()
	r.Resource, r.Count = "GET:/a?x=1&y=<2>", 3
	out, err = Flow().Encode([]flow.Rule{r})
	if err != nil {
		t.Fatal(err)
	}
	const want = `[
  {
    "resource": "GET:/a?x=1&y=<2>",
    "limitApp": "default",
    "grade": 1,
    "count": 3,
    "strategy": 0,
    "controlBehavior": 0,
    "warmUpPeriodSec": 10,
    "maxQueueingTimeMs": 500,
    "clusterMode": false
  }
]
`
	if string(out) != want {
		t.Errorf("encode =\n%s\nwant\n%s", out, want)
	}
}

// Encode leaves a field out only where Java Sentinel's field is null by
// default (and where false and absent mean the same to every Java reader);
// everything Java writes, we write, including every field whose Java default
// differs from Go's zero value and every field the dashboard's entity classes
// unbox without a null check.
func TestEncodeKeepsWhatJavaReadersNeed(t *testing.T) {
	keys := func(t *testing.T, out []byte) map[string]bool {
		t.Helper()
		var list []map[string]any
		if err := json.Unmarshal(out, &list); err != nil || len(list) != 1 {
			t.Fatalf("%s: %v", out, err)
		}
		got := map[string]bool{}
		for k := range list[0] {
			got[k] = true
		}
		return got
	}
	check := func(t *testing.T, out []byte, want, absent []string) {
		t.Helper()
		got := keys(t, out)
		for _, k := range want {
			if !got[k] {
				t.Errorf("%q is missing from %s", k, out)
			}
		}
		for _, k := range absent {
			if got[k] {
				t.Errorf("%q (null by default in Java) is written in %s", k, out)
			}
		}
	}
	enc := func(t *testing.T, c interface{ Encode(any) ([]byte, error) }, v any) []byte {
		t.Helper()
		out, err := c.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	codecs := map[string]interface{ Encode(any) ([]byte, error) }{
		"flow": anyEncoder[[]flow.Rule]{Flow()}, "degrade": anyEncoder[[]degrade.Rule]{Degrade()},
		"system": anyEncoder[[]system.Rule]{System()}, "param-flow": anyEncoder[[]param.Rule]{Param()},
		"gw-flow": anyEncoder[[]gateway.Rule]{GatewayFlow()},
	}
	codec := func(name string) interface{ Encode(any) ([]byte, error) } { return codecs[name] }
	t.Run("flow", func(t *testing.T) {
		r := flow.DefaultRule()
		r.Resource = "a"
		check(t, enc(t, codec("flow"), []flow.Rule{r}),
			[]string{"resource", "limitApp", "grade", "count", "strategy", "controlBehavior", "warmUpPeriodSec", "maxQueueingTimeMs", "clusterMode"},
			[]string{"id", "refResource", "clusterConfig"})
	})
	t.Run("degrade", func(t *testing.T) {
		r := degrade.DefaultRule()
		r.Resource = "a"
		check(t, enc(t, codec("degrade"), []degrade.Rule{r}),
			[]string{"resource", "limitApp", "grade", "count", "timeWindow", "minRequestAmount", "slowRatioThreshold", "statIntervalMs"},
			[]string{"id"})
	})
	t.Run("system", func(t *testing.T) {
		check(t, enc(t, codec("system"), []system.Rule{system.DefaultRule()}),
			[]string{"highestSystemLoad", "highestCpuUsage", "qps", "avgRt", "maxThread"}, []string{"id"})
	})
	t.Run("param", func(t *testing.T) {
		r := param.DefaultRule()
		r.Resource = "a"
		check(t, enc(t, codec("param-flow"), []param.Rule{r}),
			[]string{"resource", "limitApp", "grade", "paramIdx", "count", "controlBehavior", "maxQueueingTimeMs", "burstCount", "durationInSec", "paramFlowItemList", "clusterMode"},
			[]string{"id", "clusterConfig"})
	})
	t.Run("gateway", func(t *testing.T) {
		r := gateway.DefaultRule()
		r.Resource = "a"
		check(t, enc(t, codec("gw-flow"), []gateway.Rule{r}),
			[]string{"resource", "resourceMode", "grade", "count", "intervalSec", "controlBehavior", "burst", "maxQueueingTimeoutMs"},
			[]string{"paramItem"})
	})
}

func TestEqualIsOrderSensitive(t *testing.T) {
	a := flow.DefaultRule()
	a.Resource = "a"
	b := a
	b.Resource = "b"
	c := Flow()
	if !c.Equal([]flow.Rule{a, b}, []flow.Rule{a, b}) || c.Equal([]flow.Rule{a, b}, []flow.Rule{b, a}) || c.Equal([]flow.Rule{a}, []flow.Rule{a, b}) {
		t.Error("Equal must compare elementwise in order")
	}
	if !c.Equal(nil, []flow.Rule{}) {
		t.Error("nil and empty are equal")
	}
	id := a
	id.ID = 99
	if !c.Equal([]flow.Rule{a}, []flow.Rule{id}) {
		t.Error("ids do not matter")
	}
}

func TestYAMLDetection(t *testing.T) {
	in := "- resource: a\n  count: \"5\"\n  limitApp: appA\n"
	rules, rep, err := Flow().Decode([]byte(in))
	if err != nil || rep.Format != "yaml" || len(rules) != 1 || rules[0].Count != 5 || rules[0].LimitApp != "appA" {
		t.Fatalf("%+v %s %v", rules, rep, err)
	}
	// YAML comments and document markers.
	rules, rep, err = Flow().Decode([]byte("---\n# limits\n- {resource: b, count: 2} # flow style item\n"))
	if err != nil || rep.Format != "yaml" || len(rules) != 1 || rules[0].Resource != "b" {
		t.Fatalf("%+v %s %v", rules, rep, err)
	}
}

func TestRejectionCarriesIndexAndResource(t *testing.T) {
	_, rep, err := Flow().Decode([]byte(`[{"resource":"ok","count":1},{"resource":"bad","count":-1},null,5]`))
	if err != nil {
		t.Fatal(err)
	}
	want := []codec.Rejection{
		{Index: 1, Resource: "bad", Reason: "invalid flow rule: count -1 is not a finite number >= 0"},
		{Index: 2, Reason: "rule is null, want an object"},
		{Index: 3, Reason: "rule is a number, want an object"},
	}
	if !slices.Equal(rep.Rejected, want) {
		t.Errorf("rejected = %v, want %v", rep.Rejected, want)
	}
}

func TestSingleObjectWithKnownList(t *testing.T) {
	// A single API definition has a list of its own (predicateItems): that
	// is a rule, not a wrapper.
	defs, rep, err := APIDefinitions().Decode([]byte(`{"apiName":"a","predicateItems":[{"pattern":"/a"}]}`))
	if err != nil || len(defs) != 1 || len(rep.Notes) != 1 {
		t.Fatalf("%+v %s %v", defs, rep, err)
	}
}

func TestConcurrentDecode(t *testing.T) {
	c := Flow()
	data, err := os.ReadFile("testdata/flow/messy.json")
	if err != nil {
		t.Fatal(err)
	}
	want, wantRep, err := c.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				got, rep, err := c.Decode(data)
				if err != nil || !c.Equal(got, want) || rep.String() != wantRep.String() {
					t.Errorf("concurrent decode differs: %v %s", err, rep)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestDashboardEntityEncoding(t *testing.T) {
	rules := []authority.Rule{{ID: 4, Resource: "r", LimitApp: "a"}, {Resource: "s", LimitApp: "b", Strategy: authority.StrategyBlack}}
	out, err := Authority(WithDashboardFormat()).Encode(rules)
	if err != nil {
		t.Fatal(err)
	}
	const want = `[{"id":4,"rule":{"id":4,"resource":"r","limitApp":"a","strategy":0}},{"rule":{"resource":"s","limitApp":"b","strategy":1}}]`
	if compact(t, out) != want {
		t.Errorf("encode =\n%s\nwant\n%s", out, want)
	}
	back, rep, err := Authority().Decode(out)
	if err != nil || !Authority().Equal(back, rules) || back[0].ID != 4 || !rep.Clean() {
		t.Errorf("decode of the entity form: %+v %s %v", back, rep, err)
	}
	plain, _ := Param().Encode([]param.Rule{{Resource: "p", DurationInSec: 1}})
	if strings.Contains(string(plain), `"rule"`) {
		t.Errorf("without the option param rules are not wrapped: %s", plain)
	}
}

func TestSmallInt(t *testing.T) {
	for _, s := range []string{"0", "-0", "7", "-42", "123456789012345678", "-123456789012345678", "1234567890123456789", "1.5", "1e3", "-"} {
		got, ok := smallInt(s)
		want, err := strconv.ParseInt(s, 10, 64)
		if ok && (err != nil || got != want) {
			t.Errorf("smallInt(%q) = %d, ParseInt says %d, %v", s, got, want, err)
		}
		if !ok && err == nil && len(strings.TrimPrefix(s, "-")) <= 18 {
			t.Errorf("smallInt(%q) refused a plain decimal", s)
		}
	}
}

// compact returns the JSON text out without insignificant space, for tests
// that compare an encoding with a one-line expectation.
func compact(t *testing.T, out []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, out); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return b.String()
}

// anyEncoder sees a family codec's Encode through any, for table-driven tests.
type anyEncoder[T any] struct{ c codec.Codec[T] }

func (a anyEncoder[T]) Encode(v any) ([]byte, error) { return a.c.Encode(v.(T)) }
