// Command localapi is the local HTTP API of `make run`: it serves
// internal/localapi's Gateway, which plays API Gateway's HTTP API (payload
// 2.0) in front of a Lambda invoke endpoint such as the runtime interface
// emulator's.
//
//	localapi -addr 127.0.0.1:3000 -invoke http://127.0.0.1:8080/2015-03-31/functions/function/invocations
//
// It listens on loopback only: it has no authorizer, so it must not be
// reachable from other machines.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/campuspay/contracts/internal/config"
	"github.com/campuspay/contracts/internal/localapi"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "loopback `host:port` to listen on")
	invoke := flag.String("invoke", "http://127.0.0.1:8080/2015-03-31/functions/function/invocations", "Lambda invoke `URL` the events are POSTed to")
	route := flag.String("route", "GET /users/{openid}/contracts", "the API's route; other requests go to the function as $default")
	timeout := flag.Duration("timeout", 30*time.Second, "integration timeout (API Gateway's is at most 30s)")
	flag.Parse()

	logger := log.New(os.Stderr, "localapi: ", log.LstdFlags)
	if err := run(*addr, *invoke, *route, *timeout, logger); err != nil {
		logger.Fatal(err)
	}
}

// run serves the Gateway on addr until SIGINT or SIGTERM.
func run(addr, invoke, route string, timeout time.Duration, logger *log.Logger) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", addr, err)
	}
	if !config.IsLoopback(host) {
		return fmt.Errorf("-addr %q: listen on a loopback address (127.0.0.1, ::1, localhost) only", addr)
	}
	if u, err := url.Parse(invoke); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-invoke %q: not an http URL", invoke)
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: &localapi.Gateway{
			InvokeURL: invoke,
			Client:    &http.Client{Timeout: timeout},
			Route:     route,
			ErrorLog:  logger,
		},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          logger,
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	logger.Printf("listening on http://%s (route %q), invoking %s", ln.Addr(), route, invoke)

	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
