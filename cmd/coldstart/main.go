// Command coldstart measures the function's cold start, reproducibly, under
// the Lambda runtime interface emulator (aws-lambda-rie, the one inside
// SAM's containers), against a hello-world baseline built the same way.
//
// It builds the real bootstrap (functions/contracts) and bench/helloworld
// exactly as for Lambda (CGO_ENABLED=0, -tags lambda.norpc, -trimpath,
// -ldflags=-s -w) for linux/amd64 and linux/arm64, and prints their sizes
// and the real bootstrap's module list (`go version -m`), flagging any
// dependency beyond aws-lambda-go, the AWS SDK and the standard library.
//
// Then, -n times for each function (alternating which goes first, after
// -warmup discarded rounds that fill the page cache), it starts a fresh
// emulator on loopback ports of its own, in its own process group, and
// times one invocation of events/direct-flat.json: from starting the
// emulator process to the answer, and from sending the invocation (the
// emulator starts the bootstrap only then) to the answer. The real
// function runs against an in-process WeChat Pay simulator and a local
// Secrets Manager endpoint on 127.0.0.1, as e2e/harness_test.go wires them,
// so its cold start includes the secret fetch, the key parsing, the first
// connection and a signed, verified call. The emulator's REPORT (and INIT
// REPORT, when it prints one) lines are parsed too. It prints the median
// and p90 of each figure and the ratio real/hello (target: 1.3 or less).
//
// With -rss it also runs -rss-n warm invocations against one emulator per
// function and reads the bootstrap's VmHWM and VmRSS from /proc at the
// 100th and the last.
//
// Run it from anywhere in the module:
//
//	go run ./cmd/coldstart [-n 20] [-warmup 1] [-rss] [-rss-n 1000]
//
// It needs Linux (the emulator and /proc), Go, and the module's
// dependencies; it opens no connection beyond 127.0.0.1.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/campuspay/contracts/internal/config"
	"github.com/campuspay/contracts/internal/devkeys"
	"github.com/campuspay/contracts/internal/emulator"
	"github.com/campuspay/contracts/internal/secretsmanagerlocal"
	"github.com/campuspay/contracts/internal/wechatpaysim"
)

// Package paths of the two functions.
const (
	realPkg  = "./functions/contracts"
	helloPkg = "./bench/helloworld"
)

// secretName is the secret the real function is configured to read.
const secretName = "campuspay/merchant"

// rssMark is the invocation at which the RSS is read first.
const rssMark = 100

// ldflags are the Makefile's bootstrap linker flags: stripped.
const ldflags = "-s -w"

// allowedModules are the module path prefixes a bootstrap may depend on:
// aws-lambda-go and the AWS SDK for Go v2 (smithy-go is its core).
var allowedModules = []string{
	"github.com/aws/aws-lambda-go",
	"github.com/aws/aws-sdk-go-v2",
	"github.com/aws/smithy-go",
}

func main() {
	n := flag.Int("n", 20, "measured cold starts of each function")
	warmup := flag.Int("warmup", 1, "discarded cold starts of each function before measuring (fills the page cache)")
	rss := flag.Bool("rss", false, "also run -rss-n warm invocations against one emulator and read the bootstrap's VmHWM/VmRSS")
	rssN := flag.Int("rss-n", 1000, "warm invocations of the -rss run")
	simSigns := flag.Bool("sim-signs", false, "let the WeChat Pay simulator sign every answer afresh (by default it reuses one signature per answer, so its own RSA cost is not counted as the function's)")
	flag.Parse()
	if *n < 1 || *warmup < 0 || *rssN < rssMark {
		fmt.Fprintf(os.Stderr, "coldstart: want -n ≥ 1, -warmup ≥ 0 and -rss-n ≥ %d\n", rssMark)
		os.Exit(2)
	}
	if runtime.GOOS != "linux" {
		fmt.Fprintln(os.Stderr, "coldstart: the emulator and /proc need Linux")
		os.Exit(2)
	}
	if err := run(*n, *warmup, *rss, *rssN, *simSigns); err != nil {
		fmt.Fprintln(os.Stderr, "coldstart:", err)
		os.Exit(1)
	}
}

// function is one bootstrap under measurement.
type function struct {
	name      string
	bootstrap string // built for this machine's architecture
	// check says whether an answer is this function's successful answer.
	check func(body []byte) error
}

func run(n, warmup int, rss bool, rssN int, simSigns bool) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "coldstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// Build everything first, so no build competes with a measurement.
	fmt.Printf("building in %s (go %s, %s/%s, %d CPUs)\n", root, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	ctx := context.Background()
	build := emulator.Builder{Dir: root, LDFlags: ldflags}
	bins := map[string]string{} // "<name>/<arch>" → path
	for _, fn := range []struct{ name, pkg string }{{"real", realPkg}, {"hello", helloPkg}} {
		for _, arch := range []string{"amd64", "arm64"} {
			build.GOARCH = arch
			out, err := build.Bootstrap(ctx, fn.pkg, filepath.Join(tmp, fn.name+"-"+arch))
			if err != nil {
				return fmt.Errorf("build %s for linux/%s: %w", fn.pkg, arch, err)
			}
			bins[fn.name+"/"+arch] = out
		}
	}
	riePath, err := build.Emulator(ctx, tmp)
	if err != nil {
		return fmt.Errorf("build the emulator: %w", err)
	}
	native := runtime.GOARCH
	if _, ok := bins["real/"+native]; !ok {
		return fmt.Errorf("no bootstrap for this machine's architecture %s", native)
	}

	if err := printSizes(bins, build.BootstrapFlags()); err != nil {
		return err
	}
	if err := printModules(root, bins["real/"+native]); err != nil {
		return err
	}

	// The real function's upstreams, in process, on loopback.
	id, err := devkeys.Generate()
	if err != nil {
		return err
	}
	// The simulator still verifies every request in full; by default it
	// signs each distinct answer once (the warm-up round) and resends that
	// signature, as the warm benchmark's pre-signed upstream does: WeChat
	// Pay's signing is not the function's cold start.
	sim := httptest.NewServer(wechatpaysim.New(wechatpaysim.Config{Identity: id, RequireSerialHeader: true, ReuseSignatures: !simSigns}))
	defer sim.Close()
	sm := secretsmanagerlocal.New()
	secret, err := id.SecretJSON(devkeys.ModePublicKey)
	if err != nil {
		return err
	}
	sm.Put(secretName, string(secret))
	smSrv := httptest.NewServer(sm)
	defer smSrv.Close()
	home := filepath.Join(tmp, "home") // no ~/.aws files: the SDK reads only the environment
	if err := os.Mkdir(home, 0o700); err != nil {
		return err
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"WECHATPAY_SECRET_ID=" + secretName,
		"WECHATPAY_BASE_URL=" + sim.URL,
		"WECHATPAY_BACKUP_BASE_URL=off",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + smSrv.URL,
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDLOCALTEST",
		"AWS_SECRET_ACCESS_KEY=local-test-secret",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=10",
		"LOG_LEVEL=info",
	}
	env = append(env, config.GoRuntimeEnv...) // both functions run as deployed
	payload, err := os.ReadFile(filepath.Join(root, "events", "direct-flat.json"))
	if err != nil {
		return err
	}
	em := &runner{rie: riePath, env: env, payload: payload}
	fns := []function{
		{name: "real", bootstrap: bins["real/"+native], check: checkPage},
		{name: "hello", bootstrap: bins["hello/"+native], check: checkHello},
	}

	fmt.Printf("\ncold starts: %d warm-up + %d measured rounds, each round one cold start of each function\n", warmup, n)
	samples := map[string][]sample{}
	for round := range warmup + n {
		order := fns
		if round%2 == 1 {
			order = []function{fns[1], fns[0]}
		}
		for _, fn := range order {
			s, err := em.coldStart(fn)
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", fn.name, round+1, err)
			}
			if round >= warmup {
				samples[fn.name] = append(samples[fn.name], s)
			}
		}
	}
	printColdStarts(samples["real"], samples["hello"])

	if rss {
		fmt.Printf("\npeak memory: %d warm invocations against one emulator each\n", rssN)
		for _, fn := range fns {
			if err := em.rssRun(fn, rssN); err != nil {
				return fmt.Errorf("%s, RSS run: %w", fn.name, err)
			}
		}
	}
	return nil
}

// moduleRoot is the directory of this module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run coldstart inside the module (go run ./cmd/coldstart)")
	}
	return filepath.Dir(mod), nil
}

// printSizes prints the size of each bootstrap, built with flags.
func printSizes(bins map[string]string, flags []string) error {
	fmt.Println("\nstripped bootstrap sizes (CGO_ENABLED=0 GOOS=linux, " + strings.Join(flags, " ") + "):")
	for _, name := range []string{"real", "hello"} {
		for _, arch := range []string{"amd64", "arm64"} {
			fi, err := os.Stat(bins[name+"/"+arch])
			if err != nil {
				return err
			}
			fmt.Printf("  %-5s linux/%-5s %10d bytes  %6.2f MiB\n", name, arch, fi.Size(), float64(fi.Size())/(1<<20))
		}
	}
	return nil
}

// printModules prints `go version -m` of the bootstrap and every module
// dependency outside allowedModules.
func printModules(dir, bootstrap string) error {
	cmd := exec.Command("go", "version", "-m", bootstrap)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go version -m: %w", err)
	}
	fmt.Println("\ngo version -m (real bootstrap):")
	var others []string
	deps := 0
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && (fields[0] == "dep" || fields[0] == "=>") {
			deps++
			if !slices.ContainsFunc(allowedModules, func(p string) bool {
				return fields[1] == p || strings.HasPrefix(fields[1], p+"/")
			}) {
				others = append(others, fields[1])
			}
		}
		if i := strings.Index(line, bootstrap); i >= 0 { // the temporary path means nothing to the reader
			line = line[:i] + "bootstrap" + line[i+len(bootstrap):]
		}
		fmt.Println("  " + line)
	}
	if len(others) == 0 {
		fmt.Printf("  => %d dependencies, all aws-lambda-go or the AWS SDK (aws-sdk-go-v2, smithy-go); the rest is the standard library\n", deps)
	} else {
		fmt.Printf("  => dependencies beyond aws-lambda-go, the AWS SDK and the standard library: %s\n", strings.Join(others, ", "))
	}
	return nil
}

// runner runs bootstraps under aws-lambda-rie.
type runner struct {
	rie     string
	env     []string
	payload []byte
}

// instance is one running emulator with its bootstrap.
type instance struct {
	*emulator.Process
	output  *emulator.Buffer
	client  *http.Client
	started time.Time // just before the emulator started (after a port check of a few µs)
}

// start runs the emulator for fn on two free loopback ports, in its own
// process group, and returns once it accepts connections.
func (r *runner) start(fn function) (*instance, error) {
	in := &instance{output: &emulator.Buffer{}, client: &http.Client{Transport: &http.Transport{}}}
	in.started = time.Now()
	p, err := emulator.Start(context.Background(), emulator.Config{
		Emulator:  r.rie,
		Bootstrap: fn.bootstrap,
		Env:       r.env,
		Dir:       filepath.Dir(fn.bootstrap),
		Output:    in.output,
	})
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, in.output.String())
	}
	in.Process = p
	return in, nil
}

// stop stops the emulator and the bootstrap, and waits until they are gone.
func (in *instance) stop() {
	if err := in.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "coldstart:", err)
	}
	in.client.CloseIdleConnections()
}

// call invokes the function once and returns the raw answer.
func (in *instance) call(payload []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.InvokeURL(), bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := in.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("emulator status %d: %s", resp.StatusCode, body)
	}
	return body, nil
}

// sample is one cold start, in milliseconds; NaN where the emulator printed
// no such figure.
type sample struct {
	total      float64 // emulator process start → answer
	invoke     float64 // invocation sent → answer (the bootstrap starts then)
	reportInit float64 // REPORT "Init Duration"
	reportDur  float64 // REPORT "Duration"
	initReport float64 // INIT REPORT durationMs: bootstrap start → its first /next
	rtDone     float64 // INVOKE RTDONE duration: the first invocation in the runtime
	handler    float64 // the function's own summary line: duration_ms
	upstream   float64 // the function's own summary line: upstream_ms
}

var (
	reportRE     = regexp.MustCompile(`REPORT RequestId: \S+\s+(?:Init Duration: ([0-9.]+) ms\s+)?Duration: ([0-9.]+) ms`)
	initReportRE = regexp.MustCompile(`INIT REPORT[^\n]*?(?:durationMs: |Init Duration: )([0-9.]+)`)
	rtDoneRE     = regexp.MustCompile(`INVOKE RTDONE\([^\n]*?duration: ([0-9.]+) ?ms`)
	handlerRE    = regexp.MustCompile(`"duration_ms":([0-9.]+)`)
	upstreamRE   = regexp.MustCompile(`"upstream_ms":([0-9.]+)`)
)

// coldStart starts a fresh emulator for fn and times its first invocation.
func (r *runner) coldStart(fn function) (sample, error) {
	in, err := r.start(fn)
	if err != nil {
		return sample{}, err
	}
	defer in.stop()
	sent := time.Now()
	body, err := in.call(r.payload)
	answered := time.Now()
	if err == nil {
		err = fn.check(body)
	}
	if err != nil {
		return sample{}, fmt.Errorf("%w\nemulator output:\n%s", err, in.output.String())
	}
	s := sample{total: ms(answered.Sub(in.started)), invoke: ms(answered.Sub(sent)),
		reportInit: math.NaN(), reportDur: math.NaN(), initReport: math.NaN(),
		rtDone: math.NaN(), handler: math.NaN(), upstream: math.NaN()}
	// The emulator prints REPORT just before it answers; give its output
	// pipe a moment to deliver it.
	for wait := time.Now().Add(time.Second); !strings.Contains(in.output.String(), "REPORT RequestId") && time.Now().Before(wait); {
		time.Sleep(time.Millisecond)
	}
	out := in.output.String()
	if m := reportRE.FindStringSubmatch(out); m != nil {
		s.reportInit, s.reportDur = parseMs(m[1]), parseMs(m[2])
	}
	for _, f := range []struct {
		re  *regexp.Regexp
		dst *float64
	}{{initReportRE, &s.initReport}, {rtDoneRE, &s.rtDone}, {handlerRE, &s.handler}, {upstreamRE, &s.upstream}} {
		if m := f.re.FindStringSubmatch(out); m != nil {
			*f.dst = parseMs(m[1])
		}
	}
	return s, nil
}

// rssRun makes `calls` warm invocations against one emulator and prints the
// bootstrap's VmHWM and VmRSS after the rssMark-th and the last, with the
// warm invocations' latency as the emulator's caller sees it.
func (r *runner) rssRun(fn function, calls int) error {
	in, err := r.start(fn)
	if err != nil {
		return err
	}
	defer in.stop()
	var pid int
	lat := make([]float64, 0, calls)
	for i := 1; i <= calls; i++ {
		start := time.Now()
		body, err := in.call(r.payload)
		if err == nil {
			err = fn.check(body)
		}
		if err != nil {
			return fmt.Errorf("invocation %d: %w\nemulator output (end):\n%s", i, err, tail(in.output.String(), 4000))
		}
		if i > 1 {
			lat = append(lat, ms(time.Since(start)))
		}
		if i == 1 {
			pids := in.BootstrapPIDs()
			if len(pids) != 1 {
				return fmt.Errorf("bootstrap processes under the emulator (pid %d): %v, want one", in.PID(), pids)
			}
			pid = pids[0]
		}
		if i == rssMark || i == calls {
			hwm, rss, err := memoryOf(pid)
			if err != nil {
				return err
			}
			fmt.Printf("  %-5s after invocation %4d: VmHWM %6d kB  VmRSS %6d kB\n", fn.name, i, hwm, rss)
		}
	}
	slices.Sort(lat)
	fmt.Printf("  %-5s warm invocation through the emulator (invocations 2–%d): median %.2f ms, p90 %.2f ms\n",
		fn.name, calls, median(lat), p90(lat))
	return nil
}

// memoryOf reads VmHWM and VmRSS (kB) of pid.
func memoryOf(pid int) (hwm, rss int, err error) {
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, 0, err
	}
	kB := func(name string) (int, error) {
		v := strings.TrimSuffix(field(status, name), " kB")
		return strconv.Atoi(strings.TrimSpace(v))
	}
	if hwm, err = kB("VmHWM"); err != nil {
		return 0, 0, fmt.Errorf("VmHWM of %d: %w", pid, err)
	}
	if rss, err = kB("VmRSS"); err != nil {
		return 0, 0, fmt.Errorf("VmRSS of %d: %w", pid, err)
	}
	return hwm, rss, nil
}

// field returns the value of "name:" in a /proc status file.
func field(status []byte, name string) string {
	for _, line := range strings.Split(string(status), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// checkPage accepts the real function's direct answer: a page of 20
// contracts (the fixture asks for the first 20 signed of DemoOpenID).
func checkPage(body []byte) error {
	var page struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &page); err != nil || len(page.Data) != 20 {
		return fmt.Errorf("not a page of 20 contracts: %s", body)
	}
	return nil
}

// checkHello accepts the hello-world's constant answer.
func checkHello(body []byte) error {
	if string(body) != `{"hello":"world"}` {
		return fmt.Errorf("not hello-world's answer: %s", body)
	}
	return nil
}

func printColdStarts(real, hello []sample) {
	rows := []struct {
		name string
		get  func(sample) float64
	}{
		{"emulator start → answer", func(s sample) float64 { return s.total }},
		{"invocation sent → answer", func(s sample) float64 { return s.invoke }},
		{"INIT REPORT durationMs", func(s sample) float64 { return s.initReport }},
		{"INVOKE RTDONE duration", func(s sample) float64 { return s.rtDone }},
		{"REPORT Duration", func(s sample) float64 { return s.reportDur }},
		{"REPORT Init Duration", func(s sample) float64 { return s.reportInit }},
		{"function log duration_ms", func(s sample) float64 { return s.handler }},
		{"function log upstream_ms", func(s sample) float64 { return s.upstream }},
	}
	fmt.Printf("\n%-26s %9s %9s %9s %9s %7s %7s\n", "ms (n="+strconv.Itoa(len(real))+" each)",
		"real p50", "real p90", "hello p50", "hello p90", "p50 x", "p90 x")
	for _, r := range rows {
		rv, hv := values(real, r.get), values(hello, r.get)
		switch {
		case len(rv) == 0:
			fmt.Printf("%-26s (not printed)\n", r.name)
		case len(hv) == 0:
			fmt.Printf("%-26s %9.2f %9.2f %9s %9s\n", r.name, median(rv), p90(rv), "-", "-")
		default:
			fmt.Printf("%-26s %9.2f %9.2f %9.2f %9.2f %7.2f %7.2f\n", r.name,
				median(rv), p90(rv), median(hv), p90(hv), median(rv)/median(hv), p90(rv)/p90(hv))
		}
	}
	fmt.Println(`p50: median; p90: nearest rank; x: real / hello.
"emulator start" includes the emulator's own start-up; the emulator starts
the bootstrap only when the first invocation arrives, so "invocation sent"
is the bootstrap's cold start: INIT REPORT (exec, Go runtime, main up to its
first /next) plus INVOKE RTDONE (the first invocation in the runtime).
This emulator initializes asynchronously: its REPORT "Init Duration" is not
the init, which it counts in REPORT "Duration". upstream_ms includes the
in-process simulator's own RSA verification (and, with -sim-signs, its
signature of every answer; by default it resends one kept signature).`)
}

// values returns the sorted figures of samples that have one.
func values(ss []sample, get func(sample) float64) []float64 {
	var v []float64
	for _, s := range ss {
		if x := get(s); !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	slices.Sort(v)
	return v
}

// median of sorted v.
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// p90 of sorted v, by nearest rank.
func p90(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	return v[int(math.Ceil(0.9*float64(len(v))))-1]
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func parseMs(s string) float64 {
	if s == "" {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
