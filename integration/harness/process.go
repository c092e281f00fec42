package harness

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"

	"github.com/rulesync/rulesync/internal/syncbuf"
)

// stopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
const stopGrace = 5 * time.Second

// process runs a server binary as a child with fixed arguments, so that every
// start uses the same ports and data directory.
type process struct {
	bin  string
	args []string
	dir  string

	out  *syncbuf.Buffer
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
}

func newProcess(bin, dir string, args ...string) *process {
	return &process{bin: bin, args: args, dir: dir, out: &syncbuf.Buffer{Limit: 1 << 20}}
}

func (p *process) start(context.Context) error {
	if p.running() {
		return errors.New("already running")
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Dir = p.dir
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	cmd.SysProcAttr = sysProcAttr()
	fmt.Fprintf(p.out, "--- harness: starting %s\n", p.bin)
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // exit status is expected to be non-zero after a kill
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

func (p *process) running() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *process) stop(graceful bool) error {
	if !p.running() {
		return nil
	}
	if graceful {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			return nil
		case <-time.After(stopGrace):
		}
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, syscall.ESRCH) {
		select {
		case <-p.done:
			return nil
		default:
			return fmt.Errorf("kill %s: %w", p.bin, err)
		}
	}
	<-p.done
	return nil
}

func (p *process) logs() string { return p.out.String() }

func (p *process) remove() {}

func (p *process) pause(on bool) error {
	if !p.running() {
		return errors.New("not running")
	}
	if !on {
		return p.cmd.Process.Signal(syscall.SIGCONT)
	}
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	return waitStopped(p.cmd.Process.Pid)
}
