package converter

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/engine/flow"
	"sigs.k8s.io/yaml"
)

// flowPayload returns n distinct flow rules as a Java Sentinel app writes them
// (fastjson: sorted keys, doubles with ".0", a full clusterConfig).
func flowPayload(n int) []byte {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"clusterConfig":{"acquireRefuseStrategy":0,"clientOfflineTime":2000,"fallbackToLocalWhenFail":true,"resourceTimeout":2000,"resourceTimeoutStrategy":0,"sampleCount":10,"strategy":0,"thresholdType":0,"windowIntervalMs":1000},"clusterMode":false,"controlBehavior":%d,"count":%d.0,"grade":1,"limitApp":"default","maxQueueingTimeMs":500,"resource":"GET:/api/v1/resource/%d","strategy":0,"warmUpPeriodSec":10}`, i%3, 10+i%1000, i)
	}
	b.WriteByte(']')
	return []byte(b.String())
}

func benchDecode(b *testing.B, data []byte, want int) {
	c := Flow()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		rules, rep, err := c.Decode(data)
		if err != nil || len(rules) != want || !rep.Clean() {
			b.Fatalf("%d rules, %s, %v", len(rules), rep, err)
		}
	}
}

// BenchmarkFlowDecode10k measures decode + validation + duplicate check of
// 10,000 flow rules in Sentinel JSON.
func BenchmarkFlowDecode10k(b *testing.B) {
	benchDecode(b, flowPayload(10_000), 10_000)
}

// BenchmarkFlowDecodeYAML10k is the same payload written as YAML.
func BenchmarkFlowDecodeYAML10k(b *testing.B) {
	y, err := yaml.JSONToYAML(flowPayload(10_000))
	if err != nil {
		b.Fatal(err)
	}
	benchDecode(b, y, 10_000)
}

// BenchmarkFlowDecode100 is a payload of typical size.
func BenchmarkFlowDecode100(b *testing.B) {
	benchDecode(b, flowPayload(100), 100)
}

// BenchmarkFlowEncode10k measures the canonical encoding of 10,000 rules.
func BenchmarkFlowEncode10k(b *testing.B) {
	c := Flow()
	rules, _, err := c.Decode(flowPayload(10_000))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(rules); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStdlibUnmarshal10k is a yardstick, not a feature: encoding/json
// reading the same payload into []flow.Rule, with no leniency, defaults,
// validation or report. Compare it with BenchmarkFlowDecode10k in one run.
func BenchmarkStdlibUnmarshal10k(b *testing.B) {
	data := flowPayload(10_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var rules []flow.Rule
		if err := json.Unmarshal(data, &rules); err != nil || len(rules) != 10_000 {
			b.Fatal(err)
		}
	}
}
