// Package devstack runs the whole product on this machine, as `make run`
// does: the WeChat Pay simulator, a local Secrets Manager endpoint holding a
// merchant secret made from generated keys, the real bootstrap under the
// real Lambda runtime interface emulator, and a local HTTP API in front of
// it. Nothing but Go is needed and nothing leaves the machine: every piece
// listens on a loopback address, and the function reaches only those.
//
// The function runs exactly as in Lambda (same bootstrap build flags, same
// Runtime API, same Secrets Manager and WeChat Pay code paths), so an answer
// from the local API is real, signed and verified data, not a mock.
//
// A Stack is started once and stopped once; tests start it on free ports
// (port 0) with keys and binaries in temporary directories.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/campuspay/contracts/internal/config"
	"github.com/campuspay/contracts/internal/devkeys"
	"github.com/campuspay/contracts/internal/emulator"
	"github.com/campuspay/contracts/internal/localapi"
	"github.com/campuspay/contracts/internal/secretsmanagerlocal"
	"github.com/campuspay/contracts/internal/wechatpaysim"
)

// Defaults of `make run`: the addresses README and CONTRACT.md show, and
// the git-ignored folders under .local.
const (
	DefaultAddr           = "127.0.0.1:3000"
	DefaultWeChatPayAddr  = "127.0.0.1:8081"
	DefaultSecretsAddr    = "127.0.0.1:8082"
	DefaultEmulatorAddr   = "127.0.0.1:9000"
	DefaultRuntimeAPIAddr = "127.0.0.1:9001"
	DefaultKeysDir        = ".local/keys"
	DefaultBinDir         = ".local/bin"
	DefaultLogLevel       = "info"
)

// SecretName is the Secrets Manager secret the function is pointed at, the
// name README's deploy steps create.
const SecretName = "campuspay/merchant"

// Route is the local API's one route, the deployed HTTP API's.
const Route = "GET /users/{openid}/contracts"

// InvokePath is the emulator's Lambda Invoke API path.
const InvokePath = emulator.InvokePath

// bootstrapPackage is the function the stack builds, relative to
// Stack.ModuleDir.
const bootstrapPackage = "./functions/contracts"

// Bounds of the waits, so that nothing in Start or Stop hangs (the
// emulator's are package emulator's).
const (
	// shutdownTimeout bounds the graceful close of each HTTP server.
	shutdownTimeout = 3 * time.Second
	// integrationTimeout is API Gateway's HTTP API integration timeout.
	integrationTimeout = 30 * time.Second
)

// Stack is the local product. Set its fields, then call Start once and Stop
// once (Stop may be deferred: it is safe after a failed Start and is
// idempotent, but must not run while Start does: cancel Start's context
// instead). Empty fields take the Default values above. Every address must
// be a loopback IP with a port; port 0 picks a free one.
type Stack struct {
	// Mode chooses the merchant secret and how the simulator signs:
	// ModePublicKey (default), ModeCertificates, ModeAPIv3Key or ModeMigration.
	Mode devkeys.Mode

	// Addr is the local HTTP API's address.
	Addr string
	// WeChatPayAddr is the WeChat Pay simulator's address.
	WeChatPayAddr string
	// SecretsAddr is the local Secrets Manager endpoint's address.
	SecretsAddr string
	// EmulatorAddr is where the runtime interface emulator takes Invoke
	// requests (its --runtime-interface-emulator-address). Its host must be
	// 127.0.0.1, the only one package emulator binds.
	EmulatorAddr string
	// RuntimeAPIAddr is the Lambda Runtime API the emulator serves to the
	// function (its --runtime-api-address); its host must be 127.0.0.1.
	RuntimeAPIAddr string

	// KeysDir holds the dev identity; it is generated there on first use
	// and reused after, so the merchant secret stays the same between runs.
	KeysDir string
	// BinDir receives the bootstrap and the emulator.
	BinDir string
	// ModuleDir is the repository root, where `go build` runs; "" is the
	// current directory.
	ModuleDir string
	// GoCommand is the go command that builds; "" is "go" from PATH.
	GoCommand string
	// SkipBuild uses the bootstrap and emulator already in BinDir (see
	// Build), so that tests starting several stacks build once.
	SkipBuild bool

	// LogLevel is the function's LOG_LEVEL.
	LogLevel string
	// ReadyTimeout bounds the wait for the emulator to listen; 0 is package
	// emulator's default, 15s.
	ReadyTimeout time.Duration

	// Stdout receives the emulator's output: the function's JSON log lines
	// and the emulator's own. nil is os.Stdout.
	Stdout io.Writer
	// Log receives the stack's own messages and the builds' output. nil is
	// os.Stderr.
	Log io.Writer

	started  bool
	stopOnce sync.Once
	ends     Endpoints
	id       *devkeys.Identity // the identity in use, once loaded
	servers  []*http.Server
	serving  sync.WaitGroup    // the servers' Serve calls
	rie      *emulator.Process // the emulator, once it listens
	// failed is closed, once, when a piece stops without being asked to.
	failed   chan struct{}
	failOnce sync.Once
	failErr  error
	stopping chan struct{} // closed when Stop begins
}

// Endpoints are the addresses a started Stack listens on.
type Endpoints struct {
	API        string // host:port of the local HTTP API
	WeChatPay  string // host:port of the simulator
	Secrets    string // host:port of the Secrets Manager endpoint
	Emulator   string // host:port of the emulator's Invoke API
	RuntimeAPI string // host:port of the Runtime API
}

// APIURL is the local API's base URL, e.g. "http://127.0.0.1:3000".
func (e Endpoints) APIURL() string { return "http://" + e.API }

// InvokeURL is the emulator's Invoke URL, for direct invocations.
func (e Endpoints) InvokeURL() string { return "http://" + e.Emulator + InvokePath }

// Endpoints returns the addresses the stack listens on (with the ports
// picked for port 0). It is meaningful once Start has returned nil.
func (s *Stack) Endpoints() Endpoints { return s.ends }

// EmulatorPID is the emulator's process id (the leader of its own process
// group), 0 before it starts.
func (s *Stack) EmulatorPID() int {
	if s.rie == nil {
		return 0
	}
	return s.rie.PID()
}

// Done is closed when a piece of the stack stops on its own (the emulator
// exits, a server fails) rather than through Stop; Err then says why.
func (s *Stack) Done() <-chan struct{} {
	s.init()
	return s.failed
}

// Err is why Done was closed, nil while it is open.
func (s *Stack) Err() error {
	select {
	case <-s.Done():
		return s.failErr
	default:
		return nil
	}
}

func (s *Stack) init() {
	if s.failed == nil {
		s.failed = make(chan struct{})
		s.stopping = make(chan struct{})
	}
}

// fail records the first unrequested stop of a piece and closes Done.
func (s *Stack) fail(err error) {
	select {
	case <-s.stopping:
		return // asked to stop: not a failure
	default:
	}
	s.failOnce.Do(func() {
		s.failErr = err
		close(s.failed)
	})
}

func (s *Stack) logf(format string, args ...any) {
	w := s.Log
	if w == nil {
		w = os.Stderr
	}
	fmt.Fprintf(w, "devstack: "+format+"\n", args...)
}

// applyDefaults fills the empty fields.
func (s *Stack) applyDefaults() {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	if s.Mode == "" {
		s.Mode = devkeys.ModePublicKey
	}
	def(&s.Addr, DefaultAddr)
	def(&s.WeChatPayAddr, DefaultWeChatPayAddr)
	def(&s.SecretsAddr, DefaultSecretsAddr)
	def(&s.EmulatorAddr, DefaultEmulatorAddr)
	def(&s.RuntimeAPIAddr, DefaultRuntimeAPIAddr)
	def(&s.KeysDir, DefaultKeysDir)
	def(&s.BinDir, DefaultBinDir)
	def(&s.GoCommand, "go")
	def(&s.LogLevel, DefaultLogLevel)
	if s.Stdout == nil {
		s.Stdout = os.Stdout
	}
}

// simConfig is how the simulator behaves for a secret mode: it signs with
// what that merchant can verify, and insists on Wechatpay-Serial where a
// merchant holding the public key must send it.
func simConfig(mode devkeys.Mode) (wechatpaysim.Config, error) {
	var cfg wechatpaysim.Config
	switch mode {
	case devkeys.ModePublicKey:
		cfg.SignMode, cfg.RequireSerialHeader = wechatpaysim.SignPublicKey, true
	case devkeys.ModeCertificates, devkeys.ModeAPIv3Key:
		cfg.SignMode = wechatpaysim.SignCertificate
	case devkeys.ModeMigration:
		cfg.SignMode, cfg.RequireSerialHeader = wechatpaysim.SignAlternate, true
	default:
		return cfg, fmt.Errorf("unknown mode %q (want %s, %s, %s or %s)", mode,
			devkeys.ModePublicKey, devkeys.ModeCertificates, devkeys.ModeAPIv3Key, devkeys.ModeMigration)
	}
	return cfg, nil
}

// Start brings the stack up: keys, simulator, Secrets Manager endpoint,
// builds, emulator, local API, in that order. ctx bounds the start only
// (the builds and the waits), not the life of the stack. On any failure it
// stops what it started and returns an error naming the piece at fault.
func (s *Stack) Start(ctx context.Context) (err error) {
	s.init()
	select {
	case <-s.stopping:
		return errors.New("devstack: Start after Stop")
	default:
	}
	if s.started {
		return errors.New("devstack: Start called twice")
	}
	s.started = true
	s.applyDefaults()
	defer func() {
		if err != nil {
			s.Stop()
			err = fmt.Errorf("devstack: %w", err)
		}
	}()

	if err := emulator.CheckPlatform(); err != nil {
		return err
	}
	sim, err := simConfig(s.Mode)
	if err != nil {
		return err
	}
	for _, a := range []struct{ name, addr string }{
		{"-addr", s.Addr}, {"-wechatpay-addr", s.WeChatPayAddr}, {"-secrets-addr", s.SecretsAddr},
		{"-emulator-addr", s.EmulatorAddr}, {"-runtime-api-addr", s.RuntimeAPIAddr},
	} {
		if err := checkLoopback(a.addr); err != nil {
			return fmt.Errorf("%s: %w", a.name, err)
		}
	}
	for _, a := range []struct{ name, addr string }{
		{"-emulator-addr", s.EmulatorAddr}, {"-runtime-api-addr", s.RuntimeAPIAddr},
	} {
		if host, _, _ := net.SplitHostPort(a.addr); host != "127.0.0.1" {
			return fmt.Errorf("%s: address %q: the emulator listens on 127.0.0.1 only", a.name, a.addr)
		}
	}

	id, generated, err := devkeys.LoadOrGenerate(s.KeysDir)
	if err != nil {
		return fmt.Errorf("dev keys in %s: %w", s.KeysDir, err)
	}
	s.id = id
	if generated {
		s.logf("generated new dev keys in %s (git-ignored; delete it for fresh ones)", s.KeysDir)
	} else {
		s.logf("using the dev keys in %s", s.KeysDir)
	}
	secret, err := id.SecretJSON(s.Mode)
	if err != nil {
		return fmt.Errorf("merchant secret: %w", err)
	}
	sim.Identity = id

	// Every port is taken before the slow builds, so that a busy one fails
	// at once.
	simLn, err := listen("WeChat Pay simulator", "-wechatpay-addr", s.WeChatPayAddr)
	if err != nil {
		return err
	}
	s.ends.WeChatPay = simLn.Addr().String()
	s.serve("WeChat Pay simulator", simLn, wechatpaysim.New(sim))

	secrets := secretsmanagerlocal.New()
	secrets.Put(SecretName, string(secret))
	smLn, err := secretsmanagerlocal.Listen(s.SecretsAddr)
	if err != nil {
		return fmt.Errorf("Secrets Manager endpoint on %s: %w (is another `make run` running? -secrets-addr moves it)", s.SecretsAddr, err)
	}
	s.ends.Secrets = smLn.Addr().String()
	s.serve("Secrets Manager endpoint", smLn, secrets)

	apiLn, err := listen("local API", "-addr", s.Addr)
	if err != nil {
		return err
	}
	s.ends.API = apiLn.Addr().String()
	var apiLnServed bool
	defer func() {
		if !apiLnServed {
			apiLn.Close()
		}
	}()

	// The emulator binds its own ports: check they are free (and pick
	// free ones for port 0) now rather than after the builds.
	if s.ends.Emulator, err = freePort("runtime interface emulator", "-emulator-addr", s.EmulatorAddr); err != nil {
		return err
	}
	if s.ends.RuntimeAPI, err = freePort("Lambda Runtime API", "-runtime-api-addr", s.RuntimeAPIAddr); err != nil {
		return err
	}

	if !s.SkipBuild {
		if err := s.Build(ctx); err != nil {
			return err
		}
	}
	if err := s.startEmulator(ctx); err != nil {
		return err
	}

	logWriter := s.Log
	if logWriter == nil {
		logWriter = os.Stderr
	}
	gw := &localapi.Gateway{
		InvokeURL: s.ends.InvokeURL(),
		Client:    &http.Client{Timeout: integrationTimeout},
		Route:     Route,
		ErrorLog:  log.New(logWriter, "localapi: ", log.LstdFlags),
	}
	apiLnServed = true
	s.serve("local API", apiLn, gw)
	return nil
}

// Build builds the bootstrap exactly as for Lambda (no RPC mode, trimmed
// paths, no cgo) but for this machine, so the emulator can run it, and the
// emulator pinned in go.mod, into BinDir.
func (s *Stack) Build(ctx context.Context) error {
	s.applyDefaults()
	s.logf("building the bootstrap and the runtime interface emulator into %s", s.BinDir)
	_, err := emulator.Builder{Go: s.GoCommand, Dir: s.ModuleDir, Output: s.Log}.Build(ctx, bootstrapPackage, s.BinDir)
	return err
}

// startEmulator runs the emulator with the bootstrap on the ports Start
// checked, and waits until it takes connections. Package emulator runs it
// in a process group of its own, so a terminal's Ctrl-C reaches only us and
// Stop stops it in order.
func (s *Stack) startEmulator(ctx context.Context) error {
	bin, err := filepath.Abs(s.BinDir)
	if err != nil {
		return err
	}
	bins := emulator.BinariesIn(bin)
	p, err := emulator.Start(ctx, emulator.Config{
		Emulator:       bins.Emulator,
		Bootstrap:      bins.Bootstrap,
		Env:            s.functionEnv(),
		Dir:            s.ModuleDir,
		Port:           port(s.ends.Emulator),
		RuntimeAPIPort: port(s.ends.RuntimeAPI),
		Output:         s.Stdout,
		ReadyTimeout:   s.ReadyTimeout,
	})
	if err != nil {
		return err
	}
	s.rie = p
	go func() {
		<-p.Exited()
		s.fail(fmt.Errorf("the runtime interface emulator exited: %v", p.Err()))
	}()
	s.logf("runtime interface emulator (pid %d) on %s, Runtime API on %s", p.PID(), p.Addr(), p.RuntimeAPIAddr())
	return nil
}

// port is the port of a host:port that checkLoopback accepted.
func port(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// functionEnv is the function's whole environment: what Lambda and the
// template would set (the Go runtime's included), pointed at the local pieces, and nothing of ours
// beyond PATH and HOME (so no real AWS profile or credentials leak in).
func (s *Stack) functionEnv() []string {
	return append([]string{
		"WECHATPAY_SECRET_ID=" + SecretName,
		"WECHATPAY_BASE_URL=http://" + s.ends.WeChatPay,
		"WECHATPAY_BACKUP_BASE_URL=off",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=http://" + s.ends.Secrets,
		"AWS_REGION=" + secretsmanagerlocal.Region,
		// Dummy credentials: the local endpoint checks that requests are
		// SigV4-signed, not by whom.
		"AWS_ACCESS_KEY_ID=AKIDLOCALDEVSTACK",
		"AWS_SECRET_ACCESS_KEY=local-devstack-not-a-secret",
		"AWS_EC2_METADATA_DISABLED=true",
		"LOG_LEVEL=" + s.LogLevel,
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
	}, config.GoRuntimeEnv...)
}

// serve serves h on ln until Stop; a server that fails on its own closes Done.
func (s *Stack) serve(name string, ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	s.serving.Go(func() {
		// Serve closes ln when it returns, even when Shutdown came first.
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.fail(fmt.Errorf("%s: %w", name, err))
		}
	})
}

// Stop stops the emulator (and with it the function), then the servers. It
// waits, bounded, for each to be gone; it is safe to call more than once and
// after a failed Start.
func (s *Stack) Stop() {
	s.init()
	s.stopOnce.Do(func() {
		close(s.stopping)
		s.stopEmulator()
		var wg sync.WaitGroup
		for _, srv := range s.servers {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
				defer cancel()
				if srv.Shutdown(ctx) != nil {
					srv.Close()
				}
			})
		}
		wg.Wait()
		// Once Serve has returned its listener is closed: the ports are
		// free when Stop returns. Shutdown (or Close) makes it return at once.
		s.serving.Wait()
	})
}

// stopEmulator stops the emulator and the function (see
// emulator.Process.Stop), saying so when it took more than SIGTERM.
func (s *Stack) stopEmulator() {
	if s.rie == nil {
		return
	}
	if err := s.rie.Stop(); err != nil {
		s.logf("%v", err)
	}
}

// checkLoopback refuses an address whose host is not a loopback IP: these
// pieces have no authentication and hold merchant keys.
func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %q: the host must be a loopback IP such as 127.0.0.1", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("address %q: bad port", addr)
	}
	return nil
}

// listen opens a listener for the piece name, with an error that says which
// flag moves it when the port is busy.
func listen(name, flag, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w (is another `make run` running? %s moves it)", name, addr, err, flag)
	}
	return ln, nil
}

// freePort checks that addr can be listened on, and returns it, or for port
// 0 a free port picked now. A piece we do not run in-process (the emulator)
// binds it a moment later; another program could take it in between, which
// Start then reports as the emulator failing to listen.
func freePort(name, flag, addr string) (string, error) {
	ln, err := listen(name, flag, addr)
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
