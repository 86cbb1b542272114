//go:build !linux

package main

import "os/exec"

// dieWithTest does nothing where the kernel cannot tie a child's life to
// its parent's; the test's cleanup stops the nodes.
func dieWithTest(*exec.Cmd) {}
