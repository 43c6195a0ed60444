// Command devstack is `make run`: the whole product on this machine, with
// nothing but Go and no network (see internal/devstack). It loads or
// generates the dev keys in .local/keys, starts the WeChat Pay simulator,
// a local Secrets Manager endpoint holding the merchant secret, the
// bootstrap under the Lambda runtime interface emulator and a local HTTP
// API, prints curl lines to try, and stops everything on Ctrl-C.
//
//	go run ./cmd/devstack [-mode publickey|certificates|apiv3key|migration]
//
// The function's JSON log lines go to standard output; devstack's own
// messages, the builds' output and the curl lines to standard error.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/campuspay/contracts/internal/devkeys"
	"github.com/campuspay/contracts/internal/devstack"
)

func main() {
	s := &devstack.Stack{}
	mode := flag.String("mode", string(devkeys.ModePublicKey), "what the merchant secret holds to verify WeChat Pay: publickey, certificates, apiv3key or migration")
	flag.StringVar(&s.Addr, "addr", devstack.DefaultAddr, "loopback `host:port` of the local HTTP API")
	flag.StringVar(&s.WeChatPayAddr, "wechatpay-addr", devstack.DefaultWeChatPayAddr, "loopback `host:port` of the WeChat Pay simulator")
	flag.StringVar(&s.SecretsAddr, "secrets-addr", devstack.DefaultSecretsAddr, "loopback `host:port` of the local Secrets Manager endpoint")
	flag.StringVar(&s.EmulatorAddr, "emulator-addr", devstack.DefaultEmulatorAddr, "`127.0.0.1:port` of the runtime interface emulator's Invoke API")
	flag.StringVar(&s.RuntimeAPIAddr, "runtime-api-addr", devstack.DefaultRuntimeAPIAddr, "`127.0.0.1:port` of the Lambda Runtime API the emulator serves the function")
	flag.StringVar(&s.KeysDir, "keys", devstack.DefaultKeysDir, "`directory` of the dev keys (generated on first run; git-ignored)")
	flag.StringVar(&s.LogLevel, "log-level", devstack.DefaultLogLevel, "the function's LOG_LEVEL: debug, info, warn or error")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "devstack: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	s.Mode = devkeys.Mode(*mode)
	os.Exit(run(s, os.Stderr))
}

// run starts s, serves until SIGINT or SIGTERM (exit 0) or until a piece
// stops on its own (exit 1), and always stops s before returning.
func run(s *devstack.Stack, stderr io.Writer) int {
	// Signals stay caught until we return, so a second Ctrl-C cannot cut
	// Stop short and leave the emulator behind.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s.Log = stderr
	if err := s.Start(ctx); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "devstack: interrupted while starting; stopped")
			return 0
		}
		fmt.Fprintln(stderr, err)
		return 1
	}
	devstack.PrintUsage(stderr, s.Endpoints(), s.Mode)
	code := 0
	select {
	case <-ctx.Done():
		fmt.Fprintln(stderr, "devstack: stopping")
	case <-s.Done():
		fmt.Fprintf(stderr, "devstack: %v; stopping\n", s.Err())
		code = 1
	}
	s.Stop()
	fmt.Fprintln(stderr, "devstack: stopped")
	return code
}
