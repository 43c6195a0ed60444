//go:build unix

package emulator

import (
	"os/exec"
	"syscall"
)

// CheckPlatform reports whether the emulator can be run and stopped here:
// it needs process groups (Linux or macOS).
func CheckPlatform() error { return nil }

// setProcessGroup makes cmd the leader of a new process group, so that a
// terminal's Ctrl-C (sent to the caller's group) does not reach it before
// its caller stops it, and so that one signal reaches it and whatever it
// started in its group.
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

// Alive reports whether pid names a process that has not exited. A zombie
// counts as gone: it runs nothing and holds no port. Tests use it to check
// that Stop left nothing behind.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
		return false
	}
	return !isZombie(pid)
}
