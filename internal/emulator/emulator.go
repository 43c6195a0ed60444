// Package emulator builds a Lambda bootstrap and the Lambda runtime
// interface emulator (aws-lambda-rie, the one inside SAM's containers,
// pinned in go.mod as a tool), and runs the one under the other on
// 127.0.0.1, for the end-to-end tests (e2e), `make run` (internal/devstack)
// and the cold-start measurement (cmd/coldstart).
//
// Running it is the delicate part, so it is done once, here: the emulator
// runs in a process group of its own (a terminal's Ctrl-C reaches only its
// caller, which stops it in order), gets SIGTERM on Linux should its caller
// die without stopping it, and is stopped with SIGTERM, then SIGKILL to its
// group after a bound. The emulator starts the bootstrap in a process group
// of its own too, so Stop also kills that group (found in /proc, on Linux)
// when the emulator did not see to it. Every wait is bounded.
package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Package is the emulator's main package, the version go.mod pins.
const Package = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// InvokePath is the emulator's Lambda Invoke API path.
const InvokePath = "/2015-03-31/functions/function/invocations"

// host is the only address the emulator is given: it and the Runtime API
// have no authentication, and the function holds merchant keys.
const host = "127.0.0.1"

// Defaults of Config's bounds, and the fixed ones.
const (
	defaultReadyTimeout = 15 * time.Second
	defaultStopGrace    = 5 * time.Second
	// pollInterval is how often Start tries to connect while the emulator
	// comes up. It is short because cmd/coldstart times start → answer and
	// the wait's granularity adds to that; a refused connection on loopback
	// costs next to nothing.
	pollInterval = time.Millisecond
	// dialTimeout bounds each of those connection attempts.
	dialTimeout = 100 * time.Millisecond
	// outputWaitDelay bounds the wait for the emulator's output pipe once
	// it has exited: a process left holding the pipe must not hang Stop.
	outputWaitDelay = 2 * time.Second
)

// Binaries are the paths of a bootstrap and an emulator to run it.
type Binaries struct {
	Bootstrap string // named bootstrap, as Lambda's provided runtimes want
	Emulator  string
}

// BinariesIn are the paths Builder.Build writes in dir, so that a caller
// can run binaries built earlier.
func BinariesIn(dir string) Binaries {
	return Binaries{
		Bootstrap: filepath.Join(dir, "bootstrap"),
		Emulator:  filepath.Join(dir, "aws-lambda-rie"),
	}
}

// Buffer collects an emulator's output for a caller that reads it while the
// emulator runs: Output is written from os/exec's copying goroutine. The
// zero value is ready.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Builder runs `go build` for the bootstrap and the emulator. Its zero
// value builds with "go" from PATH in the current directory, output to
// standard error, for this machine.
type Builder struct {
	// Go is the go command; "" is "go" from PATH.
	Go string
	// Dir is where go build runs (inside the module, so that go.mod's
	// versions apply); "" is the current directory. Package paths are
	// relative to it, output directories are not.
	Dir string
	// Output receives the builds' output; nil is os.Stderr.
	Output io.Writer
	// GOARCH is the bootstrap's architecture; "" is this machine's, which
	// the emulator here can run (cmd/coldstart builds the others for their
	// size only). The emulator is always built for this machine.
	GOARCH string
	// LDFlags are extra linker flags of the bootstrap, such as "-s -w"
	// (stripped, as the Makefile builds it); "" passes none.
	LDFlags string
}

// BootstrapFlags are the go build flags of the bootstrap besides -o: those
// of every Lambda build of it (no RPC mode: provided.al2023 uses the
// Runtime API; reproducible paths), and LDFlags.
func (b Builder) BootstrapFlags() []string {
	flags := []string{"-tags", "lambda.norpc", "-trimpath"}
	if b.LDFlags != "" {
		flags = append(flags, "-ldflags="+b.LDFlags)
	}
	return flags
}

// Build builds the bootstrap from package pkg and the emulator into dir
// (see BinariesIn), creating dir if need be.
func (b Builder) Build(ctx context.Context, pkg, dir string) (Binaries, error) {
	bootstrap, err := b.Bootstrap(ctx, pkg, dir)
	if err != nil {
		return Binaries{}, err
	}
	emulator, err := b.Emulator(ctx, dir)
	if err != nil {
		return Binaries{}, err
	}
	return Binaries{Bootstrap: bootstrap, Emulator: emulator}, nil
}

// Bootstrap builds package pkg the Lambda way, static (CGO_ENABLED=0) with
// BootstrapFlags, for this machine's OS (which on Linux is GOOS=linux,
// Lambda's; elsewhere the emulator here could not run a Linux binary), into
// dir/bootstrap, and returns that file's absolute path.
func (b Builder) Bootstrap(ctx context.Context, pkg, dir string) (string, error) {
	arch := b.GOARCH
	if arch == "" {
		arch = runtime.GOARCH
	}
	out, err := outputPath(dir, "bootstrap")
	if err != nil {
		return "", err
	}
	args := append(append([]string{"-o", out}, b.BootstrapFlags()...), pkg)
	if err := b.goBuild(ctx, arch, args); err != nil {
		return "", err
	}
	return out, nil
}

// Emulator builds the emulator go.mod pins, for this machine, into
// dir/aws-lambda-rie, and returns that file's absolute path.
func (b Builder) Emulator(ctx context.Context, dir string) (string, error) {
	out, err := outputPath(dir, "aws-lambda-rie")
	if err != nil {
		return "", err
	}
	if err := b.goBuild(ctx, runtime.GOARCH, []string{"-o", out, Package}); err != nil {
		return "", err
	}
	return out, nil
}

// outputPath is dir/name made absolute (go build runs in Builder.Dir, the
// caller's paths are relative to the current directory), with dir created.
func outputPath(dir, name string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("build directory: %w", err)
	}
	return filepath.Join(abs, name), nil
}

// goBuild runs go build with args, without cgo, for this OS and arch. The
// package built is the last argument, which errors name.
func (b Builder) goBuild(ctx context.Context, arch string, args []string) error {
	goCmd, out := b.Go, b.Output
	if goCmd == "" {
		goCmd = "go"
	}
	if out == nil {
		out = os.Stderr
	}
	cmd := exec.CommandContext(ctx, goCmd, append([]string{"build"}, args...)...)
	cmd.Dir = b.Dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+arch)
	cmd.Stdout, cmd.Stderr = out, out
	pkg := args[len(args)-1]
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("go build %s interrupted: %w", pkg, ctx.Err())
		}
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	return nil
}

// Config is how to run the emulator. Emulator and Bootstrap are required;
// paths are relative to the current directory, not to Dir.
type Config struct {
	// Emulator is the aws-lambda-rie binary.
	Emulator string
	// Bootstrap is the function's binary, which the emulator starts on the
	// first invocation (not before: Start checks only that it can be run).
	Bootstrap string
	// Env is the emulator's whole environment, which it hands on to the
	// function. Nothing of the caller's is inherited (nil is an empty
	// environment), so no real AWS profile or credentials leak in.
	Env []string
	// Dir is the emulator's (and the function's) working directory; "" is
	// the current directory.
	Dir string
	// Port is where, on 127.0.0.1, the emulator takes Invoke requests (its
	// --runtime-interface-emulator-address); 0 picks a free port.
	Port int
	// RuntimeAPIPort is where, on 127.0.0.1, the emulator serves the
	// function the Lambda Runtime API (its --runtime-api-address); 0 picks
	// a free port.
	RuntimeAPIPort int
	// Output receives the emulator's standard output and error: its own
	// lines and the function's. nil discards them.
	Output io.Writer
	// ReadyTimeout bounds Start's wait for the emulator to listen; 0 is 15s.
	ReadyTimeout time.Duration
	// StopGrace is how long Stop gives the emulator after SIGTERM, and
	// again after SIGKILL; 0 is 5s.
	StopGrace time.Duration
}

// Process is a running emulator, from a successful Start. Its methods may
// be called from any goroutine.
type Process struct {
	cmd        *exec.Cmd
	addr       string // host:port of the Invoke API
	runtimeAPI string // host:port of the Runtime API
	grace      time.Duration
	exited     chan struct{} // closed once the emulator has been waited for
	err        error         // what Wait returned; read only once exited is closed
	stopOnce   sync.Once
	stopErr    error
}

// Start runs the emulator with the bootstrap, on 127.0.0.1, in a process
// group of its own, and returns once it takes connections. It fails fast
// when the bootstrap cannot be run, a port is taken, or the emulator exits
// before listening, and gives up after ReadyTimeout or when ctx is done
// (ctx bounds the start only, not the life of the emulator). On failure
// nothing is left running.
func Start(ctx context.Context, c Config) (*Process, error) {
	if err := CheckPlatform(); err != nil {
		return nil, err
	}
	emulator, err := filepath.Abs(c.Emulator)
	if err != nil {
		return nil, err
	}
	bootstrap, err := executable(c.Bootstrap)
	if err != nil {
		return nil, err
	}
	// The emulator binds its ports itself, a moment later: another program
	// could take one in between, which then shows as the emulator exiting.
	addr, err := freeAddr(c.Port)
	if err != nil {
		return nil, err
	}
	runtimeAPI, err := freeAddr(c.RuntimeAPIPort)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(emulator,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", runtimeAPI,
		bootstrap)
	cmd.Dir = c.Dir
	cmd.Env = c.Env
	if cmd.Env == nil {
		cmd.Env = []string{} // nil would inherit ours
	}
	if c.Output != nil {
		cmd.Stdout, cmd.Stderr = c.Output, c.Output
	}
	cmd.WaitDelay = outputWaitDelay
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("runtime interface emulator: %w", err)
	}
	p := &Process{cmd: cmd, addr: addr, runtimeAPI: runtimeAPI, grace: c.StopGrace, exited: make(chan struct{})}
	if p.grace <= 0 {
		p.grace = defaultStopGrace
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	ready := c.ReadyTimeout
	if ready <= 0 {
		ready = defaultReadyTimeout
	}
	if err := p.waitListening(ctx, ready); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// waitListening returns once the Invoke API takes a connection, or an error
// when the emulator exits first, ready elapses or ctx is done.
func (p *Process) waitListening(ctx context.Context, ready time.Duration) error {
	deadline := time.NewTimer(ready)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if c, err := net.DialTimeout("tcp", p.addr, dialTimeout); err == nil {
			c.Close()
			select {
			case <-p.exited: // another program answered: the emulator could not bind
			default:
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("the runtime interface emulator exited before listening on %s: %v", p.addr, p.err)
		case <-ctx.Done():
			return fmt.Errorf("waiting for the runtime interface emulator: %w", ctx.Err())
		case <-deadline.C:
			return fmt.Errorf("the runtime interface emulator did not listen on %s within %s", p.addr, ready)
		case <-tick.C:
		}
	}
}

// executable returns the absolute path of the bootstrap, or why the
// emulator could not run it: it would only say so on the first invocation,
// as a 502.
func executable(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("bootstrap %s: not an executable file (%s)", abs, fi.Mode())
	}
	return abs, nil
}

// freeAddr checks that port can be listened on at 127.0.0.1 and returns
// the address, or for port 0 a free port picked now.
//
// The emulator binds its ports itself, so a port picked here is free only
// when picked. Letting the kernel pick (port 0) makes the race likely: a
// port just released is soon handed to the next caller, such as another
// test package starting its own emulator at the same moment. So port 0 is
// drawn at random below Linux's ephemeral range (32768 and up), where the
// kernel hands out nothing by itself and two callers rarely meet.
func freeAddr(port int) (string, error) {
	if port < 0 || port > 65535 {
		return "", fmt.Errorf("bad port %d", port)
	}
	if port != 0 {
		return listenable(port)
	}
	const lo, hi = 20000, 32767
	var lastErr error
	for range 50 {
		addr, err := listenable(lo + rand.IntN(hi-lo+1))
		if err == nil {
			return addr, nil
		}
		lastErr = err
	}
	return "", fmt.Errorf("no free port in %d-%d: %w", lo, hi, lastErr)
}

func listenable(port int) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// InvokeURL is the emulator's Invoke URL, where each POST is an invocation.
func (p *Process) InvokeURL() string { return "http://" + p.addr + InvokePath }

// Addr is the host:port of the emulator's Invoke API.
func (p *Process) Addr() string { return p.addr }

// RuntimeAPIAddr is the host:port of the Runtime API it serves the function.
func (p *Process) RuntimeAPIAddr() string { return p.runtimeAPI }

// PID is the emulator's process id, which is also its process group's.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// BootstrapPIDs are the processes the emulator runs now: the bootstrap, from
// the first invocation on, each the leader of a process group of its own.
// They are found in /proc, so the list is empty outside Linux.
func (p *Process) BootstrapPIDs() []int {
	select {
	case <-p.exited:
		return nil // its children, if any, are someone else's now
	default:
	}
	var pids []int
	for _, c := range childProcesses(p.PID()) {
		pids = append(pids, c.pid)
	}
	return pids
}

// Exited is closed once the emulator has exited, on its own or by Stop.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is how the emulator exited (what os/exec's Wait returned) once Exited
// is closed, nil before.
func (p *Process) Err() error {
	select {
	case <-p.exited:
		return p.err
	default:
		return nil
	}
}

// Stop stops the emulator and the function, and returns once both are gone
// or the bounds have passed. It sends the emulator's group SIGTERM, on which
// the emulator kills the function and exits, then SIGKILL if it has not
// within StopGrace; then it kills what is left of the bootstrap's own group.
// It returns nil when the emulator stopped on SIGTERM, otherwise what it had
// to do or could not. It may be called more than once; later calls return
// the first one's result.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.stop() })
	return p.stopErr
}

func (p *Process) stop() error {
	select {
	case <-p.exited:
		// It exited on its own and was reaped: its pid, and so its group's,
		// may be another process's now, so nothing is signalled. A function
		// it left behind finds the Runtime API gone and exits.
		return nil
	default:
	}
	pid := p.PID()
	// Listed now: once the emulator is gone they are init's children.
	children := childProcesses(pid)
	var errs []error
	signalGroup(pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(p.grace):
		errs = append(errs, fmt.Errorf("the runtime interface emulator did not stop within %s of SIGTERM: killed", p.grace))
		signalGroup(pid, syscall.SIGKILL)
		// The function may hold the output pipe that Wait drains.
		for _, c := range children {
			c.kill()
		}
		select {
		case <-p.exited:
		case <-time.After(p.grace):
			errs = append(errs, fmt.Errorf("the runtime interface emulator (pid %d) is still there %s after SIGKILL", pid, p.grace))
		}
	}
	for _, c := range children {
		c.kill()
	}
	deadline := time.Now().Add(p.grace)
	for _, c := range children {
		for !c.gone() {
			if time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("the function (pid %d) is still there %s after SIGKILL", c.pid, p.grace))
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}
