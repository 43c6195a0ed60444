package bench

import (
	"bytes"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// rawServer serves a presignedUpstream's answer over HTTP/1.1 keep-alive
// with nothing but a socket: it reads each request's head, checks that it
// is a GET, and writes the pre-rendered answer in one write. It stands in
// for net/http's server in the benchmarks of a warm invocation, whose
// in-process upstream would otherwise add its own request parsing,
// header map and response writer (about a third of the loopback
// exchange) to what is meant to be the function's own work. The client
// side, main's http.Client and net/http's transport, is untouched.
//
// The conn test keeps net/http's server: it needs TLS and HTTP/2.
type rawServer struct {
	URL string

	up *presignedUpstream
	ln net.Listener
	wg sync.WaitGroup

	mu       sync.Mutex
	rendered *signedAnswer // the answer the bytes below were rendered from
	answer   []byte
}

// newRawServer starts a rawServer for up on a loopback port; it stops at
// the end of the test or benchmark.
func newRawServer(tb testing.TB, up *presignedUpstream) *rawServer {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &rawServer{URL: "http://" + ln.Addr().String(), up: up, ln: ln}
	s.wg.Add(1)
	go s.accept(tb)
	tb.Cleanup(func() {
		_ = ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) accept(tb testing.TB) {
	defer s.wg.Done()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		conns = append(conns, c)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.serve(c); err != nil {
				tb.Errorf("raw upstream: %v", err)
			}
		}()
	}
}

// serve answers the requests of one connection until the client closes it.
// A request's head comes in one read or a few; it is complete at its
// empty line (a GET has no body).
func (s *rawServer) serve(c net.Conn) error {
	defer c.Close()
	buf := make([]byte, 0, 4096)
	for {
		buf = buf[:0]
		for !bytes.HasSuffix(buf, []byte("\r\n\r\n")) {
			if len(buf) == cap(buf) {
				return errors.New("request head over 4 KiB")
			}
			n, err := c.Read(buf[len(buf):cap(buf)])
			if err != nil {
				if len(buf) > 0 {
					return errors.New("request head cut short")
				}
				return nil // the client (or the cleanup) closed the connection
			}
			buf = buf[:len(buf)+n]
		}
		line, _, _ := bytes.Cut(buf, []byte("\r\n"))
		if !bytes.HasPrefix(line, []byte("GET ")) || !bytes.HasSuffix(line, []byte(" HTTP/1.1")) {
			return errors.New("not an HTTP/1.1 GET: " + strconv.Quote(string(line)))
		}
		s.up.requests.Add(1)
		s.up.protoMajor.Store(1)
		answer, err := s.currentAnswer()
		if err != nil {
			return err
		}
		if _, err := c.Write(answer); err != nil {
			return nil
		}
	}
}

// currentAnswer returns the rendered answer, signing the body again when
// its signature gets old, as presignedUpstream.ServeHTTP does.
func (s *rawServer) currentAnswer() ([]byte, error) {
	a := s.up.answer.Load()
	if now := time.Now(); now.Sub(a.at) > resignAfter {
		if err := s.up.sign(now); err != nil {
			return nil, err
		}
		a = s.up.answer.Load()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rendered != a {
		s.rendered, s.answer = a, s.up.render(a)
	}
	return s.answer, nil
}
