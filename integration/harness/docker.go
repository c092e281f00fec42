package harness

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
)

// dockerHealthy reports, once per test binary, whether a Docker daemon answers.
// It never fails a test: without Docker the harness uses local binaries.
var dockerHealthy = sync.OnceValue(func() (ok bool) {
	defer func() {
		// Some provider set-ups panic instead of returning an error.
		if recover() != nil {
			ok = false
		}
	}()
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.Health(ctx) == nil // Health closes the provider
})

// containerBackend runs an official image with its port published on a fixed
// loopback host port, so that Restart keeps the address clients dialled.
type containerBackend struct {
	image    string
	port     string // container port, "6379/tcp"
	hostPort int
	cmd      []string

	ctr *testcontainers.DockerContainer
	up  bool
}

func newContainer(image, port string, hostPort int, cmd ...string) *containerBackend {
	return &containerBackend{image: image, port: port, hostPort: hostPort, cmd: cmd}
}

func (c *containerBackend) start(ctx context.Context) error {
	if c.ctr != nil {
		// Same container: same data directory, same port binding.
		if err := c.ctr.Start(ctx); err != nil {
			return err
		}
		c.up = true
		return nil
	}
	p, err := network.ParsePort(c.port)
	if err != nil {
		return err
	}
	ctr, err := testcontainers.Run(ctx, c.image,
		testcontainers.WithCmd(c.cmd...),
		testcontainers.WithExposedPorts(c.port),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.PortBindings = network.PortMap{p: {{
				HostIP:   netip.MustParseAddr("127.0.0.1"),
				HostPort: strconv.Itoa(c.hostPort),
			}}}
		}),
	)
	if err != nil {
		if ctr != nil {
			_ = testcontainers.TerminateContainer(ctr)
		}
		return fmt.Errorf("run %s: %w", c.image, err)
	}
	c.ctr, c.up = ctr, true
	return nil
}

func (c *containerBackend) stop(graceful bool) error {
	if c.ctr == nil || !c.up {
		return nil
	}
	timeout := 5 * time.Second
	if !graceful {
		timeout = 0 // docker stop -t 0 sends SIGKILL right away
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.up = false
	return c.ctr.Stop(ctx, &timeout)
}

func (c *containerBackend) running() bool { return c.ctr != nil && c.up }

func (c *containerBackend) logs() string {
	if c.ctr == nil {
		return ""
	}
	return fmt.Sprintf("(container %s of %s; see docker logs)", c.ctr.GetContainerID(), c.image)
}

func (c *containerBackend) remove() {
	if c.ctr != nil {
		_ = testcontainers.TerminateContainer(c.ctr)
		c.ctr, c.up = nil, false
	}
}

// pause is not offered for containers: testcontainers-go has no pause call.
func (c *containerBackend) pause(bool) error { return errors.ErrUnsupported }
