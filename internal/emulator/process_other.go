//go:build !unix

package emulator

import (
	"errors"
	"os/exec"
	"syscall"
)

// CheckPlatform refuses: the Lambda runtime interface emulator, and the
// process groups Stop relies on, need Linux or macOS.
func CheckPlatform() error {
	return errors.New("the Lambda runtime interface emulator needs Linux or macOS")
}

// The rest is never reached, since Start fails first; it lets the package
// (and its callers) build and vet everywhere.

func setProcessGroup(*exec.Cmd)       {}
func signalGroup(int, syscall.Signal) {}

// Alive reports nothing here (see CheckPlatform).
func Alive(int) bool { return false }

type child struct{ pid int }

func childProcesses(int) []child { return nil }

func (child) kill()      {}
func (child) gone() bool { return true }
