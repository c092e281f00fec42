package harness

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// sysProcAttr puts the server in its own process group and kills it when the
// test binary dies, so that an aborted test run leaks no servers.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// waitStopped waits until the process reports itself stopped after a
// SIGSTOP. The signal is delivered asynchronously: until every thread of the
// server has stopped, a request sent right after Pause can still be served.
func waitStopped(pid int) error {
	path := "/proc/" + strconv.Itoa(pid) + "/stat"
	deadline := time.Now().Add(stopGrace)
	for {
		stat, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("wait for stop: %w", err)
		}
		// "pid (comm) state ...": comm may hold spaces and parentheses.
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
			switch stat[i+2] {
			case 'T', 't':
				return nil
			case 'Z', 'X':
				return fmt.Errorf("process %d exited instead of stopping", pid)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d not stopped %v after SIGSTOP", pid, stopGrace)
		}
		time.Sleep(time.Millisecond)
	}
}
