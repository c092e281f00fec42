package modcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// heavy are module path prefixes that must not reach the core module: the
// SDKs of the backends, adapters and tools that live in modules of their own
// (see README, "Modules").
var heavy = []string{
	"github.com/cloudwego/", "github.com/bytedance/", // Kitex
	"google.golang.org/grpc",
	"github.com/redis/go-redis/",
	"go.etcd.io/etcd/",
	"github.com/nacos-group/",
	"github.com/hashicorp/consul/",
	"github.com/apolloconfig/",
	"github.com/prometheus/",
	"github.com/testcontainers/",
	"github.com/alibaba/sentinel-golang",
}

// TestCoreModuleRequirements: `go list -m all` of the core module, built on
// its own (GOWORK=off), names none of the heavy modules, so that a user who
// imports the core and one backend does not inherit another's SDK.
func TestCoreModuleRequirements(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-m", "all")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -m all: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "github.com/rulesync/rulesync") {
		t.Fatalf("unexpected output:\n%s", out)
	}
	for _, l := range lines {
		for _, h := range heavy {
			if strings.HasPrefix(l, h) {
				t.Errorf("the core module requires %s", l)
			}
		}
	}
	t.Logf("the core module lists %d modules", len(lines))
}
