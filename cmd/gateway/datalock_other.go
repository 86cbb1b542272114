//go:build !unix

package main

// lockDataDir does not lock on systems without flock(2); the embedded
// store is for a single `serve` there by the operator's care.
func lockDataDir(dataDir string) (func(), error) { return func() {}, nil }
