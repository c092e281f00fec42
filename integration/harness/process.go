package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
const stopGrace = 5 * time.Second

// process runs a server binary as a child with fixed arguments, so that every
// start uses the same ports and data directory.
type process struct {
	bin  string
	args []string
	dir  string

	out  *syncBuffer
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
}

func newProcess(bin, dir string, args ...string) *process {
	return &process{bin: bin, args: args, dir: dir, out: &syncBuffer{}}
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
	sig := syscall.SIGCONT
	if on {
		sig = syscall.SIGSTOP
	}
	return p.cmd.Process.Signal(sig)
}

// syncBuffer collects a child's output; exec copies into it from its own goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Keep memory bounded for chatty servers in long fault loops.
	if s.b.Len() > 1<<20 {
		keep := s.b.Bytes()[s.b.Len()-(256<<10):]
		s.b = *bytes.NewBuffer(append([]byte(nil), keep...))
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
