// Command secretsmanager-local serves a local, in-memory Secrets Manager
// endpoint (package secretsmanagerlocal) for `make run` and manual tests.
//
//	secretsmanager-local -addr 127.0.0.1:0 -secret campuspay/merchant=@merchant.json
//
// It prints its URL as the first line of standard output, for a script to
// put in AWS_ENDPOINT_URL_SECRETS_MANAGER, then the name and ARN of each
// secret on standard error (never a value), and serves until interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/campuspay/contracts/internal/secretsmanagerlocal"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("secretsmanager-local: ")
	addr := flag.String("addr", "127.0.0.1:0", "loopback `host:port` to listen on (port 0: any free port)")
	var secrets []string
	flag.Func("secret", "a secret as `NAME=@FILE` (the file's contents are its SecretString); repeatable", func(v string) error {
		secrets = append(secrets, v)
		return nil
	})
	flag.Parse()
	if flag.NArg() > 0 {
		log.Fatalf("unexpected arguments %q", flag.Args())
	}

	srv := secretsmanagerlocal.New()
	for _, s := range secrets {
		name, arn, err := srv.PutFromFlag(s)
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("secret %s: %s", name, arn)
	}
	ln, err := secretsmanagerlocal.Listen(*addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("http://%s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(shutdown)
	}()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-drained
}
