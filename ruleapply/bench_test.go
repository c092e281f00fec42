package ruleapply_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/property"
	"github.com/rulesync/rulesync/ruleapply"
)

// flowPayload is count flow rules in the JSON Java Sentinel writes; scale
// changes every count, so that each payload differs from the last.
func flowPayload(count, scale int) []byte {
	var b strings.Builder
	b.WriteByte('[')
	for i := range count {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"resource":"GET:/api/v1/item/%d","limitApp":"default","grade":1,"count":%d,"strategy":0,"controlBehavior":0,"warmUpPeriodSec":10,"maxQueueingTimeMs":500,"clusterMode":false}`, i, i+scale)
	}
	b.WriteByte(']')
	return []byte(b.String())
}

// BenchmarkDecodeValidateApply10k is what one change of a 10,000-rule payload
// costs between the bytes arriving and the rules being in force: decode and
// validate with the flow codec, then the property update that loads the flow
// manager through Bind. Every iteration is a different payload.
func BenchmarkDecodeValidateApply10k(b *testing.B) {
	const n = 10_000
	payloads := [][]byte{flowPayload(n, 1), flowPayload(n, 2)}
	codec := converter.Flow()
	e := engine.New()
	defer e.Close()
	p := property.New(property.WithEqual(codec.Equal))
	defer ruleapply.Bind(p, e.Flow())()
	b.SetBytes(int64(len(payloads[0])))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rules, rep, err := codec.Decode(payloads[i%2])
		if err != nil || rep.Accepted != n {
			b.Fatalf("decode: %v, accepted %d", err, rep.Accepted)
		}
		if !p.Update(rules) {
			b.Fatal("a different payload did not update the property")
		}
		i++
	}
	if got := len(e.Flow().Rules()); got != n {
		b.Fatalf("%d rules in force", got)
	}
}
