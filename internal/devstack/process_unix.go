//go:build unix

package devstack

import (
	"os/exec"
	"syscall"
)

// checkPlatform reports whether the stack can run here: it needs process
// groups to stop the emulator and the function together.
func checkPlatform() error { return nil }

// setProcessGroup makes cmd the leader of a new process group, so that a
// terminal's Ctrl-C (sent to our group) does not reach it before we stop it,
// and so that one signal reaches it and whatever it started in its group.
func setProcessGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	setParentDeathSignal(cmd.SysProcAttr)
}

// signalGroup sends sig to the process group that pid leads.
func signalGroup(pid int, sig syscall.Signal) {
	_ = syscall.Kill(-pid, sig)
}

// processExists reports whether pid names a process that has not been
// reaped (a zombie counts as gone: it runs nothing and holds no port).
func processExists(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
		return false
	}
	return !isZombie(pid)
}
