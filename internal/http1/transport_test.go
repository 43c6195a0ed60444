package http1

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// newServer starts a net/http server (TLS when tlsOn, HTTP/2 offered too)
// running h, and returns it with its accept counter and a Transport that
// trusts it.
func newServer(t *testing.T, h http.Handler, tlsOn bool) (*httptest.Server, *countingListener, *Transport) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	ln := &countingListener{Listener: srv.Listener}
	srv.Listener = ln
	tr := &Transport{Fallback: failingTransport{t}}
	if tlsOn {
		srv.EnableHTTP2 = true
		srv.StartTLS()
		roots := x509.NewCertPool()
		roots.AddCert(srv.Certificate())
		tr.TLSClientConfig = &tls.Config{RootCAs: roots}
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	t.Cleanup(tr.CloseIdleConnections)
	return srv, ln, tr
}

// failingTransport is the Fallback of tests in which nothing should fall back.
type failingTransport struct{ t *testing.T }

func (f failingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f.t.Errorf("%s %s went to the fallback", req.Method, req.URL)
	return nil, errors.New("fallback")
}

// get sends a GET of u through tr and returns the answer's status and body.
func get(ctx context.Context, tr http.RoundTripper, u string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// answers writes "answer <n>" for the n-th request, with a Content-Length
// or, for ?chunked, in chunks; ?close adds Connection: close.
func answers() http.Handler {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.ProtoMajor != 1 || r.ProtoMinor != 1 {
			http.Error(w, "want an HTTP/1.1 GET, got "+r.Method+" "+r.Proto, http.StatusBadRequest)
			return
		}
		body := "answer " + strconv.FormatInt(n.Add(1), 10) + " " + r.URL.RequestURI()
		if r.URL.Query().Has("close") {
			w.Header().Set("Connection", "close")
		}
		if r.URL.Query().Has("chunked") {
			w.(http.Flusher).Flush() // headers out first: no Content-Length
			for _, part := range strings.SplitAfter(body, " ") {
				_, _ = io.WriteString(w, part)
				w.(http.Flusher).Flush()
			}
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = io.WriteString(w, body)
	})
}

func TestSequentialRequestsShareOneConnection(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tls   bool
		query string
	}{
		{"http", false, ""},
		{"http-chunked", false, "?chunked"},
		{"https", true, ""},
		{"https-chunked", true, "?chunked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, ln, tr := newServer(t, answers(), tc.tls)
			for i := 1; i <= 5; i++ {
				status, body, err := get(context.Background(), tr, srv.URL+"/v3/x"+tc.query)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if want := "answer " + strconv.Itoa(i) + " /v3/x" + tc.query; status != http.StatusOK || body != want {
					t.Fatalf("request %d: %d %q, want 200 %q", i, status, body, want)
				}
			}
			if got := ln.accepted.Load(); got != 1 {
				t.Errorf("%d connections for 5 sequential requests, want 1", got)
			}
		})
	}
}

func TestConnectionCloseIsHonoured(t *testing.T) {
	srv, ln, tr := newServer(t, answers(), false)
	for i := 1; i <= 3; i++ {
		if _, _, err := get(context.Background(), tr, srv.URL+"/?close"); err != nil {
			t.Fatal(err)
		}
	}
	if got := ln.accepted.Load(); got != 3 {
		t.Errorf("%d connections for 3 answers with Connection: close, want 3", got)
	}
}

// rawServer accepts connections on loopback and hands each to serve.
func rawServer(t *testing.T, serve func(n int64, c net.Conn)) (string, *countingListener) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &countingListener{Listener: l}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(ln.accepted.Load(), c)
			}()
		}
	}()
	return "http://" + l.Addr().String(), ln
}

// readHead reads one request head from br.
func readHead(br *bufio.Reader) error {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if line == "\r\n" {
			return nil
		}
	}
}

const okAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

func TestResendsOnceWhenAnIdleConnectionWasClosed(t *testing.T) {
	// Each connection answers one request and closes, without saying so:
	// the second request finds its kept-alive connection dead.
	u, ln := rawServer(t, func(_ int64, c net.Conn) {
		br := bufio.NewReader(c)
		if readHead(br) == nil {
			_, _ = io.WriteString(c, okAnswer)
		}
	})
	tr := &Transport{Fallback: failingTransport{t}}
	for i := 1; i <= 3; i++ {
		if status, body, err := get(context.Background(), tr, u+"/"); err != nil || status != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q %v", i, status, body, err)
		}
	}
	if got := ln.accepted.Load(); got != 3 {
		t.Errorf("%d connections, want 3 (one per request)", got)
	}
}

func TestDoesNotResendOnAFreshConnection(t *testing.T) {
	var requests atomic.Int64
	u, ln := rawServer(t, func(_ int64, c net.Conn) {
		if readHead(bufio.NewReader(c)) == nil {
			requests.Add(1) // and close without an answer
		}
	})
	tr := &Transport{Fallback: failingTransport{t}}
	if _, _, err := get(context.Background(), tr, u+"/"); err == nil {
		t.Fatal("no error for a connection closed without an answer")
	}
	if got, n := ln.accepted.Load(), requests.Load(); got != 1 || n != 1 {
		t.Errorf("%d connections and %d requests, want 1 and 1", got, n)
	}
}

func TestDoesNotResendAfterPartOfTheAnswer(t *testing.T) {
	u, ln := rawServer(t, func(n int64, c net.Conn) {
		br := bufio.NewReader(c)
		if readHead(br) != nil {
			return
		}
		_, _ = io.WriteString(c, okAnswer)
		if readHead(br) == nil {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Le") // and close
		}
	})
	tr := &Transport{Fallback: failingTransport{t}}
	if _, _, err := get(context.Background(), tr, u+"/"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := get(context.Background(), tr, u+"/"); err == nil {
		t.Fatal("no error for an answer cut short")
	}
	if got := ln.accepted.Load(); got != 1 {
		t.Errorf("%d connections, want 1: an answer begun must not be asked again", got)
	}
}

func TestDeadlineEndsTheExchange(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	u, _ := rawServer(t, func(_ int64, c net.Conn) {
		if readHead(bufio.NewReader(c)) == nil {
			<-release // never answers
		}
	})
	tr := &Transport{Fallback: failingTransport{t}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err := get(ctx, tr, u+"/")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want context.DeadlineExceeded", err)
	}
}

func TestDeadlineDuringTheBody(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	u, ln := rawServer(t, func(n int64, c net.Conn) {
		br := bufio.NewReader(c)
		if readHead(br) != nil {
			return
		}
		if n == 1 {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
			<-release
			return
		}
		_, _ = io.WriteString(c, okAnswer)
	})
	tr := &Transport{Fallback: failingTransport{t}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := get(ctx, tr, u+"/"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want context.DeadlineExceeded", err)
	}
	if _, body, err := get(context.Background(), tr, u+"/"); err != nil || body != "ok" {
		t.Fatalf("the next request: %q %v", body, err)
	}
	if got := ln.accepted.Load(); got != 2 {
		t.Errorf("%d connections, want 2: a timed-out connection is not reused", got)
	}
}

func TestCancellationEndsTheExchange(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	asked := make(chan struct{})
	u, _ := rawServer(t, func(_ int64, c net.Conn) {
		if readHead(bufio.NewReader(c)) == nil {
			close(asked)
			<-release
		}
	})
	tr := &Transport{Fallback: failingTransport{t}}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-asked
		cancel()
	}()
	if _, _, err := get(ctx, tr, u+"/"); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestBodyClosedBeforeItsEndClosesTheConnection(t *testing.T) {
	srv, ln, tr := newServer(t, answers(), false)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, _, err := get(context.Background(), tr, srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	if got := ln.accepted.Load(); got != 2 {
		t.Errorf("%d connections, want 2: a body left unread leaves its connection unusable", got)
	}
}

func TestBytesPastTheAnswerRetireTheConnection(t *testing.T) {
	u, ln := rawServer(t, func(_ int64, c net.Conn) {
		br := bufio.NewReader(c)
		for readHead(br) == nil {
			_, _ = io.WriteString(c, okAnswer+"HTTP/1.1 200 OK\r\n")
		}
	})
	tr := &Transport{Fallback: failingTransport{t}}
	for range 2 {
		if _, body, err := get(context.Background(), tr, u+"/"); err != nil || body != "ok" {
			t.Fatalf("%q %v", body, err)
		}
	}
	if got := ln.accepted.Load(); got != 2 {
		t.Errorf("%d connections, want 2", got)
	}
}

func TestInformationalAnswersAreSkipped(t *testing.T) {
	u, _ := rawServer(t, func(_ int64, c net.Conn) {
		if readHead(bufio.NewReader(c)) == nil {
			_, _ = io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"+okAnswer)
		}
	})
	tr := &Transport{Fallback: failingTransport{t}}
	if status, body, err := get(context.Background(), tr, u+"/"); err != nil || status != 200 || body != "ok" {
		t.Fatalf("%d %q %v, want 200 ok", status, body, err)
	}
}

func TestOversizedHeadIsRefused(t *testing.T) {
	u, _ := rawServer(t, func(_ int64, c net.Conn) {
		if readHead(bufio.NewReader(c)) != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := "X-Filler: " + strings.Repeat("a", 1000) + "\r\n"
		for range 2 * maxHeadBytes / len(line) {
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
	})
	tr := &Transport{Fallback: failingTransport{t}}
	if _, _, err := get(context.Background(), tr, u+"/"); !errors.Is(err, errHeadTooLarge) {
		t.Fatalf("error %v, want errHeadTooLarge", err)
	}
}

func TestIdleConnectionsExpire(t *testing.T) {
	srv, ln, tr := newServer(t, answers(), false)
	tr.IdleConnTimeout = time.Nanosecond
	for range 2 {
		if _, _, err := get(context.Background(), tr, srv.URL+"/"); err != nil {
			t.Fatal(err)
		}
	}
	if got := ln.accepted.Load(); got != 2 {
		t.Errorf("%d connections, want 2: the first had been idle too long", got)
	}
}

func TestIdleConnectionsAreBounded(t *testing.T) {
	srv, _, tr := newServer(t, answers(), false)
	tr.MaxIdleConnsPerHost = 1
	// Two answers read to their ends at once: one connection is kept.
	var bodies []io.ReadCloser
	for range 2 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, resp.Body)
	}
	for _, b := range bodies {
		if _, err := io.ReadAll(b); err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for key, list := range tr.idle {
		if len(list) != 1 {
			t.Errorf("%d idle connections to %s, want 1", len(list), key)
		}
	}
}

// recordingTransport answers 204 and counts the requests it was given.
type recordingTransport struct{ got atomic.Int64 }

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.got.Add(1)
	return &http.Response{StatusCode: http.StatusNoContent, Body: http.NoBody, Request: req}, nil
}

func TestOtherRequestsGoToTheFallback(t *testing.T) {
	post := func() *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", strings.NewReader("x"))
		return r
	}
	getReq := func(u string) func() *http.Request {
		return func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, u, nil)
			return r
		}
	}
	proxy := func(*http.Request) (*url.URL, error) { return url.Parse("http://proxy.invalid:3128") }
	for _, tc := range []struct {
		name  string
		req   func() *http.Request
		proxy func(*http.Request) (*url.URL, error)
	}{
		{"a body", post, nil},
		{"another scheme", getReq("ftp://127.0.0.1:1/"), nil},
		{"a proxy", getReq("https://api.mch.weixin.qq.com/v3/x"), proxy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fb := &recordingTransport{}
			tr := &Transport{Fallback: fb, Proxy: tc.proxy}
			resp, err := tr.RoundTrip(tc.req())
			if err != nil || resp.StatusCode != http.StatusNoContent || fb.got.Load() != 1 {
				t.Fatalf("%v %v: the fallback got %d requests, want 1", resp, err, fb.got.Load())
			}
		})
	}
}

func TestDialFailureIsAnError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String() + "/"
	l.Close() // nothing listens there now
	tr := &Transport{Fallback: failingTransport{t}}
	if _, _, err := get(context.Background(), tr, u); err == nil {
		t.Fatal("no error from a closed port")
	}
}

func TestTLSNeedsATrustedCertificate(t *testing.T) {
	srv, _, _ := newServer(t, answers(), true)
	tr := &Transport{Fallback: failingTransport{t}} // the system roots: the test CA is not among them
	var certErr *tls.CertificateVerificationError
	if _, _, err := get(context.Background(), tr, srv.URL+"/"); !errors.As(err, &certErr) {
		t.Fatalf("error %v, want a certificate verification error", err)
	}
}

func TestSwitchedConnectionIsNotReused(t *testing.T) {
	u, ln := rawServer(t, func(_ int64, c net.Conn) {
		br := bufio.NewReader(c)
		if readHead(br) != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
		if readHead(br) == nil {
			_, _ = io.WriteString(c, okAnswer) // would be read if the connection were reused
		}
	})
	tr := &Transport{Fallback: failingTransport{t}}
	if status, _, err := get(context.Background(), tr, u+"/"); err != nil || status != http.StatusSwitchingProtocols {
		t.Fatalf("%d %v, want 101", status, err)
	}
	if _, _, err := get(context.Background(), tr, u+"/"); err != nil {
		t.Fatal(err)
	}
	if got := ln.accepted.Load(); got != 2 {
		t.Errorf("%d connections, want 2: a switched connection is not HTTP any more", got)
	}
}

func TestContextError(t *testing.T) {
	boom := errors.New("boom")
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want error
	}{
		{"the context ended it", ended, boom, context.Canceled},
		{"the connection's deadline, the context's own, came first", context.Background(), timeout, context.DeadlineExceeded},
		{"anything else", context.Background(), boom, boom},
	} {
		if got := contextError(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
