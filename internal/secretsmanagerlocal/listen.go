package secretsmanagerlocal

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// Listen opens a TCP listener on addr (host:port, port 0 for any free one),
// refusing any host that is not a loopback address: this endpoint holds
// merchant credentials and checks no signatures, so it must never be
// reachable from another machine.
func Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("listen address %q: the host must be a loopback IP such as 127.0.0.1", addr)
	}
	return net.Listen("tcp", addr)
}

// PutFromFlag stores a secret described as NAME=@FILE (the form of the
// secretsmanager-local -secret flag): the secret NAME gets the contents of
// FILE as its SecretString. Values are taken from files only, never from
// the command line, where other users of the machine could read them.
func (s *Server) PutFromFlag(flag string) (name, arn string, err error) {
	name, file, ok := strings.Cut(flag, "=@")
	if !ok || name == "" || file == "" {
		// Not the flag itself: a mistyped NAME=VALUE would print the value.
		name, _, _ = strings.Cut(flag, "=")
		return "", "", fmt.Errorf("secret %q: want NAME=@FILE (values are read from files only)", name)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", "", fmt.Errorf("secret %s: %w", name, err)
	}
	if len(b) == 0 {
		return "", "", errors.New("secret " + name + ": " + file + " is empty")
	}
	return name, s.Put(name, string(b)), nil
}
