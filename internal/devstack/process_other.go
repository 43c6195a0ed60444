//go:build !unix

package devstack

import (
	"errors"
	"os/exec"
	"syscall"
)

// checkPlatform refuses to start: the Lambda runtime interface emulator and
// the process-group handling Stop relies on need Linux or macOS.
func checkPlatform() error {
	return errors.New("the local stack needs Linux or macOS (the Lambda runtime interface emulator runs only there)")
}

// The rest is never reached, since Start fails first; it lets the package
// build (and vet) everywhere.

func setProcessGroup(*exec.Cmd)       {}
func signalGroup(int, syscall.Signal) {}
func processExists(int) bool          { return false }

type child struct{ pid int }

func childProcesses(int) []child { return nil }

func (child) kill() {}
