//go:build unix && !linux

package devstack

import "syscall"

// setParentDeathSignal does nothing: only Linux has a parent-death signal.
func setParentDeathSignal(*syscall.SysProcAttr) {}

// child is a process found running under the emulator. Without /proc none
// is found: Stop relies on the emulator stopping the function on SIGTERM.
type child struct{ pid int }

// childProcesses finds nothing outside Linux (see child).
func childProcesses(int) []child { return nil }

func (child) kill() {}

// isZombie cannot tell outside Linux; a zombie then counts as existing.
func isZombie(int) bool { return false }
