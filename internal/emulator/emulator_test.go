package emulator

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// roleEnv makes the test binary stand in for an emulator or a function
// (see TestMain), for what the real ones do not do on demand.
const roleEnv = "EMULATOR_TEST_ROLE"

// Roles of the test binary.
const (
	// roleExit exits at once, as an emulator that cannot start does.
	roleExit = "exit"
	// roleStubbornEmulator ignores SIGTERM, starts a stubborn function in
	// a process group of its own (as the emulator starts the bootstrap) on
	// its own output, and listens on its Invoke address.
	roleStubbornEmulator = "stubborn-emulator"
	// roleStubbornFunction ignores SIGTERM and waits to be killed.
	roleStubbornFunction = "stubborn-function"
)

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "":
		os.Exit(m.Run())
	case roleExit:
		fmt.Println("emulator: cannot start")
		os.Exit(1)
	case roleStubbornEmulator:
		stubbornEmulator()
	case roleStubbornFunction:
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("function: up")
		select {}
	}
	os.Exit(2)
}

func stubbornEmulator() {
	signal.Ignore(syscall.SIGTERM)
	var addr string
	for i, a := range os.Args {
		if a == "--runtime-interface-emulator-address" && i+1 < len(os.Args) {
			addr = os.Args[i+1]
		}
	}
	fn := exec.Command(os.Args[0])
	fn.Env = []string{roleEnv + "=" + roleStubbornFunction}
	fn.Stdout = os.Stdout // the function holds the output pipe too
	setProcessGroup(fn)
	if err := fn.Start(); err != nil {
		fmt.Println(err)
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Println(err)
		return
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// invoke posts payload to the emulator, bounded, and returns the answer.
func invoke(t *testing.T, p *Process, payload string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.InvokeURL(), strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// checkGone fails if the emulator, any of pids, or either port is still
// there.
func checkGone(t *testing.T, p *Process, pids []int) {
	t.Helper()
	select {
	case <-p.Exited():
	default:
		t.Error("Exited is open after Stop")
	}
	if Alive(p.PID()) {
		t.Errorf("the emulator (pid %d) is still there after Stop", p.PID())
	}
	for _, pid := range pids {
		if Alive(pid) {
			t.Errorf("the function (pid %d) is still there after Stop", pid)
		}
	}
	for _, addr := range []string{p.Addr(), p.RuntimeAPIAddr()} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Stop", addr)
		}
	}
}

func TestEmulator(t *testing.T) {
	if err := CheckPlatform(); err != nil {
		t.Skip(err)
	}
	if testing.Short() {
		t.Skip("builds a bootstrap and the emulator, and runs them")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var buildOut Buffer
	bins, err := Builder{Dir: "../..", Output: &buildOut}.Build(ctx, "./bench/helloworld", filepath.Join(t.TempDir(), "bin"))
	if err != nil {
		t.Fatalf("%v\n%s", err, buildOut.String())
	}
	if bins != BinariesIn(filepath.Dir(bins.Bootstrap)) {
		t.Errorf("Build wrote %+v, not where BinariesIn says", bins)
	}
	// Nothing of ours: the function gets only this.
	env := []string{"HOME=" + t.TempDir(), "AWS_REGION=us-east-1"}

	t.Run("invoke and stop", func(t *testing.T) {
		out := &Buffer{}
		p, err := Start(ctx, Config{Emulator: bins.Emulator, Bootstrap: bins.Bootstrap, Env: env, Output: out})
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		t.Cleanup(func() { p.Stop() })
		if host, _, _ := net.SplitHostPort(p.Addr()); host != "127.0.0.1" || !strings.HasPrefix(p.InvokeURL(), "http://"+p.Addr()+"/") {
			t.Errorf("Invoke API on %s (%s), want 127.0.0.1", p.Addr(), p.InvokeURL())
		}
		if host, _, _ := net.SplitHostPort(p.RuntimeAPIAddr()); host != "127.0.0.1" || p.RuntimeAPIAddr() == p.Addr() {
			t.Errorf("Runtime API on %s, want another port of 127.0.0.1", p.RuntimeAPIAddr())
		}
		if status, body := invoke(t, p, `{}`); status != http.StatusOK || body != `{"hello":"world"}` {
			t.Fatalf("invoke: %d %s\n%s", status, body, out.String())
		}
		pids := p.BootstrapPIDs()
		if len(pids) == 0 && runtime.GOOS == "linux" {
			t.Error("no bootstrap process found under the emulator after an invocation")
		}
		if err := p.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
		checkGone(t, p, pids)
		if err := p.Stop(); err != nil {
			t.Errorf("second Stop: %v", err)
		}
	})

	t.Run("bootstrap that exits", func(t *testing.T) {
		bootstrap := filepath.Join(t.TempDir(), "bootstrap")
		if err := os.WriteFile(bootstrap, []byte("#!/bin/sh\necho 'function: cannot start' >&2\nexit 3\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		out := &Buffer{}
		p, err := Start(ctx, Config{Emulator: bins.Emulator, Bootstrap: bootstrap, Env: env, Output: out})
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		t.Cleanup(func() { p.Stop() })
		// The emulator starts the bootstrap on the first invocation, and
		// answers it with its failure.
		if status, body := invoke(t, p, `{}`); status != http.StatusBadGateway {
			t.Errorf("invoke: %d %s, want 502\n%s", status, body, out.String())
		}
		// Its output comes through the emulator's pipe, maybe after the answer.
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), "function: cannot start") && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if !strings.Contains(out.String(), "function: cannot start") {
			t.Errorf("the bootstrap's output is not in the emulator's:\n%s", out.String())
		}
		if err := p.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
		checkGone(t, p, nil)
	})

	t.Run("bootstrap that cannot be run", func(t *testing.T) {
		notExec := filepath.Join(t.TempDir(), "bootstrap")
		if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, bootstrap := range []string{filepath.Join(t.TempDir(), "missing"), notExec, t.TempDir()} {
			p, err := Start(ctx, Config{Emulator: bins.Emulator, Bootstrap: bootstrap, Env: env})
			if err == nil {
				p.Stop()
				t.Errorf("Start with bootstrap %s succeeded", bootstrap)
			} else if !strings.Contains(err.Error(), "bootstrap") {
				t.Errorf("error %q does not say the bootstrap is at fault", err)
			}
		}
	})

	t.Run("busy port", func(t *testing.T) {
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		port := busy.Addr().(*net.TCPAddr).Port
		for _, c := range []Config{{Port: port}, {RuntimeAPIPort: port}} {
			c.Emulator, c.Bootstrap, c.Env = bins.Emulator, bins.Bootstrap, env
			p, err := Start(ctx, c)
			if err == nil {
				p.Stop()
				t.Errorf("Start succeeded with %+v on a busy port", c)
			} else if !strings.Contains(err.Error(), busy.Addr().String()) {
				t.Errorf("error %q does not name the busy address", err)
			}
		}
	})
}

func TestStartReportsAnEmulatorThatExits(t *testing.T) {
	if err := CheckPlatform(); err != nil {
		t.Skip(err)
	}
	out := &Buffer{}
	start := time.Now()
	p, err := Start(context.Background(), Config{
		Emulator:     os.Args[0],
		Bootstrap:    os.Args[0], // any executable: it is never run
		Env:          []string{roleEnv + "=" + roleExit},
		Output:       out,
		ReadyTimeout: time.Minute,
	})
	if err == nil {
		p.Stop()
		t.Fatal("Start succeeded")
	}
	if !strings.Contains(err.Error(), "exited before listening") {
		t.Errorf("error %q does not say the emulator exited", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Start took %s to see the emulator exit", d)
	}
	if !strings.Contains(out.String(), "emulator: cannot start") {
		t.Errorf("the emulator's output is not in Output: %q", out.String())
	}
}

// An emulator that ignores SIGTERM, and a function that does too (in a
// process group of its own, holding the output pipe), are killed within
// the bounds.
func TestStopKillsWhatIgnoresSIGTERM(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the function is found through /proc")
	}
	out := &Buffer{}
	const grace = 300 * time.Millisecond
	p, err := Start(context.Background(), Config{
		Emulator:  os.Args[0],
		Bootstrap: os.Args[0],
		Env:       []string{roleEnv + "=" + roleStubbornEmulator},
		Output:    out,
		StopGrace: grace,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Cleanup(func() { p.Stop() })
	pids := p.BootstrapPIDs()
	if len(pids) != 1 {
		t.Fatalf("functions under the emulator: %v, want one", pids)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "function: up"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the function did not start:\n%s", out.String())
		}
	}
	start := time.Now()
	err = p.Stop()
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Stop = %v, want it to say the emulator was killed", err)
	}
	if d := time.Since(start); d >= outputWaitDelay {
		t.Errorf("Stop took %s: the function's hold on the output pipe was waited out", d)
	}
	checkGone(t, p, pids)
	if got := p.BootstrapPIDs(); len(got) != 0 {
		t.Errorf("BootstrapPIDs = %v after Stop", got)
	}
}

func TestBootstrapFlags(t *testing.T) {
	if got := strings.Join(Builder{}.BootstrapFlags(), " "); got != "-tags lambda.norpc -trimpath" {
		t.Errorf("flags %q", got)
	}
	if got := strings.Join(Builder{LDFlags: "-s -w"}.BootstrapFlags(), " "); got != "-tags lambda.norpc -trimpath -ldflags=-s -w" {
		t.Errorf("flags with LDFlags %q", got)
	}
}
