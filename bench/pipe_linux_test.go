package bench

import (
	"os"
	"syscall"
)

// growPipe raises the pipe's capacity to 1 MiB (Linux's default
// pipe-max-size), so that a batch-drained pipe does not fill up between two
// reads however fast a benchmark writes lines; where that fails it stays at
// the default 64 KiB.
func growPipe(w *os.File) {
	const setPipeSize = 1031 // F_SETPIPE_SZ
	rc, err := w.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, setPipeSize, 1<<20)
	})
}
