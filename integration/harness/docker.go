package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Docker mode drives the docker CLI (os/exec) instead of a Docker SDK, which
// would make the SDK and its dependencies requirements of every module whose
// tests use the harness. It is not exercised on the machines this repository
// is developed on (they have the CLI but no daemon): there, auto mode finds no
// daemon and runs the local binaries. Containers carry the label
// dockerLabel; the harness removes them when the test ends, but a test binary
// killed outright leaves them behind:
//
//	docker rm -f $(docker ps -aq --filter label=org.rulesync.harness)

// dockerLabel marks the containers the harness starts.
const dockerLabel = "org.rulesync.harness"

// dockerProbeTimeout bounds the `docker info` with which auto mode looks for
// a daemon. Without a local daemon the CLI fails at once, but one pointed at
// an unreachable host (DOCKER_HOST) can hang; auto mode must then fall back
// to the local binaries quickly.
const dockerProbeTimeout = 5 * time.Second

// dockerCallTimeout bounds the CLI calls that stop, inspect or remove a
// container (run has the start-up context).
const dockerCallTimeout = 30 * time.Second

// dockerHealthy reports, once per test binary, whether a Docker daemon answers.
// It never fails a test: without Docker the harness uses local binaries.
var dockerHealthy = sync.OnceValue(func() bool {
	ctx, cancel := context.WithTimeout(context.Background(), dockerProbeTimeout)
	defer cancel()
	return dockerAnswers(ctx) == nil
})

// dockerAnswers returns nil when the docker CLI is on PATH and its daemon
// reports a server version before ctx ends, else why not.
func dockerAnswers(ctx context.Context) error {
	v, err := docker(ctx, "info", "--format", "{{.ServerVersion}}")
	if err != nil {
		return err
	}
	if v == "" {
		return errors.New("docker info: no server version")
	}
	return nil
}

// docker runs the docker CLI and returns its output, trimmed; an error
// carries what the CLI printed on stderr.
func docker(ctx context.Context, args ...string) (string, error) {
	bin, err := exec.LookPath("docker")
	if err != nil {
		return "", fmt.Errorf("docker CLI not on PATH: %w", err)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Once ctx ends the CLI is killed; a child of it that still holds the
	// output pipes must not keep Run waiting.
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// dockerCall runs one CLI call bounded by dockerCallTimeout.
func dockerCall(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dockerCallTimeout)
	defer cancel()
	return docker(ctx, args...)
}

// containerSeq makes container names unique within a test binary.
var containerSeq atomic.Uint64

// containerBackend runs an official image with its port published on a fixed
// loopback host port, so that Restart (docker start of the same container)
// keeps the address clients dialled and the data written so far.
type containerBackend struct {
	image    string
	port     string // container port, "6379/tcp"
	hostPort int
	cmd      []string

	name string // set once the container exists
	up   bool
}

func newContainer(image, port string, hostPort int, cmd ...string) *containerBackend {
	return &containerBackend{image: image, port: port, hostPort: hostPort, cmd: cmd}
}

func (c *containerBackend) start(ctx context.Context) error {
	if c.name != "" {
		// Same container: same data, same port binding.
		if _, err := docker(ctx, "start", c.name); err != nil {
			return err
		}
		c.up = true
		return nil
	}
	// A name of our own, rather than the ID run prints, so that a container
	// that was created but failed to start (port taken) can still be removed.
	name := fmt.Sprintf("rulesync-harness-%d-%d-%d", os.Getpid(), c.hostPort, containerSeq.Add(1))
	args := []string{"run", "-d", "--name", name, "--label", dockerLabel,
		"-p", "127.0.0.1:" + strconv.Itoa(c.hostPort) + ":" + c.port, c.image}
	c.name = name
	if _, err := docker(ctx, append(args, c.cmd...)...); err != nil {
		return fmt.Errorf("run %s: %w", c.image, err)
	}
	c.up = true
	// Clients dial the published address: make sure it is the one asked for.
	bound, err := docker(ctx, "port", name, c.port)
	if err != nil {
		return err
	}
	want := loopback(c.hostPort)
	for _, b := range strings.Fields(bound) {
		if b == want {
			return nil
		}
	}
	return fmt.Errorf("container %s publishes %s on %q, want %s", name, c.port, bound, want)
}

func (c *containerBackend) stop(graceful bool) error {
	if c.name == "" || !c.up {
		return nil
	}
	c.up = false
	var err error
	if graceful {
		_, err = dockerCall("stop", "-t", strconv.Itoa(int(stopGrace/time.Second)), c.name)
	} else {
		_, err = dockerCall("kill", c.name) // SIGKILL
	}
	if err != nil && strings.Contains(err.Error(), "is not running") {
		return nil // it died by itself
	}
	return err
}

func (c *containerBackend) running() bool { return c.name != "" && c.up }

func (c *containerBackend) logs() string {
	if c.name == "" {
		return ""
	}
	// docker logs writes the container's stdout and stderr to its own.
	ctx, cancel := context.WithTimeout(context.Background(), dockerCallTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "logs", c.name)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(container %s of %s: docker logs: %v)\n%s", c.name, c.image, err, out)
	}
	return string(out)
}

func (c *containerBackend) remove() {
	if c.name != "" {
		_, _ = dockerCall("rm", "-f", "-v", c.name)
		c.name, c.up = "", false
	}
}

// pause freezes the container (docker pause, the cgroup freezer): like
// SIGSTOP on a process, its connections stay open and nothing answers.
func (c *containerBackend) pause(on bool) error {
	if !c.running() {
		return errors.New("not running")
	}
	cmd := "unpause"
	if on {
		cmd = "pause"
	}
	_, err := dockerCall(cmd, c.name)
	return err
}
