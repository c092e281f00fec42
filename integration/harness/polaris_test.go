package harness

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestPolarisNacosOpenAPI(t *testing.T) {
	s := Polaris(t)
	c := NacosConfig{Group: "SENTINEL_GROUP", DataID: "app-flow-rules"}
	publishReadDelete(t, s, c)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The 20,000-character cap of Polaris's config module is not applied on
	// the Nacos front end.
	big := NacosConfig{Group: c.Group, DataID: "big"}
	content := strings.Repeat("x", 20001)
	if err := s.PutConfig(ctx, big, content); err != nil {
		t.Fatalf("publish of 20,001 characters: %v", err)
	}
	if err := eventually(10*time.Second, func() error { return expectConfig(ctx, s, big, content) }); err != nil {
		t.Fatalf("read back 20,001 characters: %v", err)
	}

	// The boltdb store survives a kill.
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := eventually(30*time.Second, func() error { return expectConfig(ctx, s, c, `[{"resource":"a","count":1}]`) }); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}
