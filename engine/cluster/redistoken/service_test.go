package redistoken

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/cluster/internal/jvalue"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/param"
)

var quiet = WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

// noRedis is a client of an address where nothing listens: the tests here
// need no Redis (the integration suite runs the service against real ones).
func noRedis(t *testing.T) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestNewValidates(t *testing.T) {
	rdb := noRedis(t)
	for _, opts := range [][]Option{
		{WithNamespace("")},
		{WithNamespace("a{b}")},
		{WithKeyPrefix("x{")},
		{WithExceedCount(-1)},
	} {
		if _, err := New(rdb, append(opts, quiet)...); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%d options: %v", len(opts), err)
		}
	}
	if _, err := New(nil, quiet); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("nil client: %v", err)
	}
}

func TestKeysShareTheRuleHashTag(t *testing.T) {
	s, err := New(noRedis(t), quiet, WithNamespace("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.tag(42); got != "rulesync:cluster:{orders:42}" {
		t.Fatalf("tag = %q", got)
	}
	k, _ := jvalue.Of(int32(5))
	if got := valueKey(k); got != "i:5" {
		t.Fatalf("value key %q", got)
	}
	long, _ := jvalue.Of(string(make([]byte, 100)))
	if got := valueKey(long); len(got) != 2+64 || got[:2] != "x:" {
		t.Fatalf("long string key %q", got)
	}
}

func TestRulesAndUnreachableRedis(t *testing.T) {
	s, err := New(noRedis(t), quiet, WithTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := flow.DefaultRule()
	r.Resource, r.Count, r.ClusterMode = "a", 1, true
	r.ClusterConfig = flow.DefaultClusterConfig()
	r.ClusterConfig.FlowID = 3
	dup := r
	dup.Resource = "b"
	local := r
	local.ClusterMode = false
	local.ClusterConfig.FlowID = 4
	s.SetFlowRules([]flow.Rule{r, dup, local})
	if c := s.Conflicts(); len(c) != 1 {
		t.Fatalf("conflicts %v", c)
	}
	ctx := context.Background()
	if res, _ := s.RequestToken(ctx, 4, 1, false); res.Status != base.TokenNoRuleExists {
		t.Fatalf("a local rule is served: %v", res.Status)
	}
	if res, _ := s.RequestParamToken(ctx, 3, 1, []any{"x"}); res.Status != base.TokenNoRuleExists {
		t.Fatalf("a flow id served as a param rule: %v", res.Status)
	}
	pr := param.DefaultRule()
	pr.Resource, pr.Count, pr.ClusterMode = "p", 1, true
	pr.ClusterConfig = param.DefaultClusterConfig()
	pr.ClusterConfig.FlowID = 3
	s.SetParamRules([]param.Rule{pr})
	if res, _ := s.RequestParamToken(ctx, 3, 1, []any{struct{}{}}); res.Status != base.TokenBadRequest {
		t.Fatalf("only unsupported values: %v", res.Status)
	}
	t0 := time.Now()
	if _, err := s.RequestToken(ctx, 3, 1, false); err == nil {
		t.Fatal("no Redis, no error")
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("an unreachable Redis took %v", d)
	}
	s.Close()
	if _, err := s.RequestToken(ctx, 3, 1, false); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
