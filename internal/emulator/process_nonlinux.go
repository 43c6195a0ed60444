//go:build unix && !linux

package emulator

import "syscall"

// setParentDeathSignal does nothing: only Linux has a parent-death signal.
func setParentDeathSignal(*syscall.SysProcAttr) {}

// child is a process found running under the emulator. Without /proc none
// is found: Stop relies on the emulator stopping the function on SIGTERM.
type child struct{ pid int }

// childProcesses finds nothing outside Linux (see child).
func childProcesses(int) []child { return nil }

func (child) kill()      {}
func (child) gone() bool { return true }

// isZombie cannot tell outside Linux; a zombie then counts as alive.
func isZombie(int) bool { return false }
