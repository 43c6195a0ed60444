// Command wechatpay-sim serves the WeChat Pay APIv3 simulator
// (internal/wechatpaysim) on a loopback address, for `make run` and manual
// tries with curl. It keeps its keys in -keys, so that the merchant secret
// made from them (devkeys.Identity.SecretJSON) stays valid between runs.
//
//	wechatpay-sim -addr 127.0.0.1:8090 -keys .local/devkeys -sign publickey
//
// It prints "listening on http://ADDR" once it accepts connections, and
// stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/campuspay/contracts/internal/devkeys"
	"github.com/campuspay/contracts/internal/wechatpaysim"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("wechatpay-sim: ")
	addr := flag.String("addr", "127.0.0.1:0", "loopback `host:port` to listen on (port 0 picks a free one)")
	keys := flag.String("keys", "", "`directory` to load the dev keys from, or to generate and save them in; empty: fresh keys, not saved")
	sign := flag.String("sign", "publickey", "key that signs answers: publickey, certificate or alternate")
	requireSerial := flag.Bool("require-serial", false, "refuse requests whose Wechatpay-Serial is not the public key ID")
	flag.Parse()
	if err := run(*addr, *keys, *sign, *requireSerial); err != nil {
		log.Fatal(err)
	}
}

func run(addr, keys, sign string, requireSerial bool) error {
	mode, err := wechatpaysim.ParseSignMode(sign)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr %s: the simulator listens only on a loopback address", addr)
	}

	var id *devkeys.Identity
	if keys == "" {
		id, err = devkeys.Generate()
	} else {
		var generated bool
		if id, generated, err = devkeys.LoadOrGenerate(keys); err == nil && generated {
			log.Printf("generated new dev keys in %s", keys)
		}
	}
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           wechatpaysim.New(wechatpaysim.Config{Identity: id, SignMode: mode, RequireSerialHeader: requireSerial}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	fmt.Printf("listening on http://%s\n", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
