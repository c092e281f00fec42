//go:build !linux

package harness

import "syscall"

// sysProcAttr: only Linux can tie a child's life to the test binary's; elsewhere
// t.Cleanup is the only guard against leaked servers.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// waitStopped: without /proc there is nothing to wait on; SIGSTOP takes
// effect shortly after it is sent.
func waitStopped(int) error { return nil }
