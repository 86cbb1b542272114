package main

import (
	"os/exec"
	"syscall"
)

// dieWithTest has the kernel kill a node when the test process dies
// without its cleanup (a -timeout panic, a kill), so no `gateway serve`
// outlives the loop on a shared machine.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
