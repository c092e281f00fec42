package harness

import "syscall"

// sysProcAttr puts the server in its own process group and kills it when the
// test binary dies, so that an aborted test run leaks no servers.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
