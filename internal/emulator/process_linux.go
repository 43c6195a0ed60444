package emulator

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// setParentDeathSignal has the kernel send the emulator SIGTERM should its
// caller die without stopping it (kill -9, a crash, a test binary's
// timeout), so that it does not outlive the caller holding its ports. (The
// signal comes when the thread that started it ends; Go ends threads only
// for goroutines that lock one and exit, which no caller does.)
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGTERM
}

// child is a process found running under the emulator: the function's
// bootstrap, which the emulator starts in a process group of its own.
type child struct {
	pid   int
	pgid  int
	start string // start time in clock ticks, to tell a reused pid apart
}

// childProcesses lists the live children of ppid, from /proc.
func childProcesses(ppid int) []child {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []child
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, ok := readStat(pid)
		if ok && st.ppid == ppid && st.state != "Z" {
			out = append(out, child{pid: pid, pgid: st.pgid, start: st.start})
		}
	}
	return out
}

// kill SIGKILLs c, and the process group it leads, if c is still the same
// live process: it is called once the emulator is gone or being killed, for
// a function process the emulator did not stop.
func (c child) kill() {
	if c.gone() {
		return
	}
	if c.pgid == c.pid {
		_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	}
	_ = syscall.Kill(c.pid, syscall.SIGKILL)
}

// gone reports whether c has exited (a zombie has) or its pid now names
// another process.
func (c child) gone() bool {
	st, ok := readStat(c.pid)
	return !ok || st.start != c.start || st.state == "Z"
}

// isZombie reports whether pid has exited and waits to be reaped.
func isZombie(pid int) bool {
	st, ok := readStat(pid)
	return ok && st.state == "Z"
}

// stat holds the fields of /proc/PID/stat that are used here.
type stat struct {
	state      string
	ppid, pgid int
	start      string
}

// readStat reads the fields of /proc/PID/stat we use. The command name
// (field 2) may hold spaces and parentheses, so fields are counted from its
// closing parenthesis, the last one in the line.
func readStat(pid int) (stat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, false
	}
	line := string(b)
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return stat{}, false
	}
	f := strings.Fields(line[i+1:])
	// f[0] is field 3 (state), f[1] field 4 (ppid), f[2] field 5 (pgrp),
	// f[19] field 22 (starttime).
	if len(f) < 20 {
		return stat{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgid, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return stat{}, false
	}
	return stat{state: f[0], ppid: ppid, pgid: pgid, start: f[19]}, true
}
