package datasource

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestTypedOpenAndDataIDAt(t *testing.T) {
	type params struct {
		Key   string `param:"key,required"`
		Count int    `param:"count"`
	}
	var got params
	open := TypedOpen("kv", params{Count: 7}, func(_ context.Context, p params) (WritableSource, error) {
		got = p
		return nil, nil
	})
	if _, err := open(context.Background(), Params{"key": "a"}); err != nil || got != (params{Key: "a", Count: 7}) {
		t.Fatalf("open = %v, decoded %+v; want the default count kept", err, got)
	}
	_, err := open(context.Background(), Params{"key": "a", "count": "many"})
	if !errors.Is(err, ErrBadParams) || !strings.HasPrefix(err.Error(), "kv: ") || !strings.Contains(err.Error(), `count="many"`) {
		t.Fatalf("bad count: %v", err)
	}

	p := Params{"key-prefix": "/sentinel/", "key": "old"}
	if q := DataIDAt("key", "key-prefix")(p, "app-flow-rules"); q["key"] != "/sentinel/app-flow-rules" || p["key"] != "old" {
		t.Fatalf("DataIDAt with a prefix: %v (and the original %v)", q, p)
	}
	if q := DataIDAt("data-id", "")(Params{"": "x"}, "app-flow-rules"); q["data-id"] != "app-flow-rules" {
		t.Fatalf("DataIDAt without a prefix: %v", q)
	}
}
