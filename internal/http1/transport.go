// Package http1 is a small http.RoundTripper for one kind of request: a GET
// (or HEAD) without a body, over HTTP/1.1 with keep-alive, plain or TLS,
// with no proxy. Anything else goes to a fallback RoundTripper (net/http's
// Transport).
//
// Why not net/http's Transport for these too: it hands every request to a
// writer goroutine and every answer from a reader goroutine, and keeps a
// background reader on each idle connection. On a warm Lambda invocation
// that machinery costs about as much as the whole loopback exchange of the
// benchmarks (README, Performance). Here the caller's goroutine writes the
// request and reads the answer itself. The wire format is still net/http's:
// requests are written as http.Request.Write writes them (writeHead) and answers read by
// http.ReadResponse (status line, headers, Content-Length, chunked,
// Connection: close), so this package only owns the connections.
package http1

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"
)

// Defaults of Transport's optional fields, those of net/http's
// DefaultTransport.
const (
	DefaultMaxIdleConnsPerHost = 2
	DefaultIdleConnTimeout     = 90 * time.Second
	DefaultDialTimeout         = 30 * time.Second
	DefaultTLSHandshakeTimeout = 10 * time.Second
)

// Transport is an http.RoundTripper that keeps its connections alive across
// requests. Its zero value is usable; it is safe for concurrent use, and is
// meant to live as long as the process, as its connections do.
type Transport struct {
	// Fallback takes the requests this Transport does not handle (a body,
	// a method other than GET and HEAD, a scheme other than http and https,
	// a proxy); http.DefaultTransport when nil.
	Fallback http.RoundTripper
	// Proxy says which proxy a request would go through, as
	// http.Transport.Proxy does; a request with one goes to Fallback.
	// Nil means no request is proxied.
	Proxy func(*http.Request) (*url.URL, error)
	// TLSClientConfig is cloned for every TLS connection, with ServerName
	// set from the request when empty and ALPN limited to http/1.1.
	TLSClientConfig     *tls.Config
	MaxIdleConnsPerHost int
	IdleConnTimeout     time.Duration
	DialTimeout         time.Duration
	TLSHandshakeTimeout time.Duration

	mu   sync.Mutex
	idle map[string][]*conn // by "scheme://host:port", most recently used last
}

// conn is one connection and its buffers.
type conn struct {
	key       string
	nc        net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	read      int64     // bytes read from nc in this exchange, to tell a connection closed while idle
	headLimit int64     // when not 0, the most bytes the exchange may read before its answer's head is in
	idleSince time.Time // when it went back to the idle list
}

func (c *conn) Read(p []byte) (int, error) {
	if c.headLimit > 0 && c.read >= c.headLimit {
		return 0, errHeadTooLarge
	}
	n, err := c.nc.Read(p)
	c.read += int64(n)
	return n, err
}

// Buffer sizes of a connection. A request is one small head. The read
// buffer holds a whole TLS record (16 KiB), and so a whole answer of
// WeChat Pay's usual size, head and body, in one read rather than two.
const (
	writeBufferSize = 4 << 10
	readBufferSize  = 16 << 10
)

// maxHeadBytes bounds an answer's status line and headers (net/http's
// Transport allows 10 MB; WeChat Pay's are under 1 KB).
const maxHeadBytes = 1 << 20

var errHeadTooLarge = errors.New("http1: answer head larger than 1 MiB")

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.handles(req) {
		return t.fallback().RoundTrip(req)
	}
	if t.Proxy != nil {
		if proxy, err := t.Proxy(req); err != nil || proxy != nil {
			return t.fallback().RoundTrip(req)
		}
	}
	addr := hostPort(req.URL)
	key := req.URL.Scheme + "://" + addr
	ctx := req.Context()
	for {
		c, reused := t.take(key)
		if c == nil {
			var err error
			if c, err = t.dial(ctx, req.URL, addr, key); err != nil {
				return nil, contextError(ctx, err)
			}
		}
		resp, err := t.exchange(ctx, c, req)
		if err == nil {
			return resp, nil
		}
		c.nc.Close()
		// A kept-alive connection the server closed while it sat idle
		// fails before a byte of the answer: the request never got an
		// answer, and a GET is safe to send again on a new connection
		// (as net/http's Transport does).
		if !reused || c.read > 0 || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
}

// handles says whether req is one this Transport sends itself.
func (t *Transport) handles(req *http.Request) bool {
	if req.URL == nil || (req.URL.Scheme != "http" && req.URL.Scheme != "https") || req.URL.Host == "" {
		return false
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead && req.Method != "" {
		return false
	}
	return (req.Body == nil || req.Body == http.NoBody) && req.ContentLength == 0 && !req.Close &&
		len(req.TransferEncoding) == 0 && len(req.Trailer) == 0
}

func (t *Transport) fallback() http.RoundTripper {
	return cmp.Or[http.RoundTripper](t.Fallback, http.DefaultTransport)
}

// exchange writes req on c and reads the answer's head. The answer's body
// reads from c, and gives c back to the idle list once read to its end.
func (t *Transport) exchange(ctx context.Context, c *conn, req *http.Request) (*http.Response, error) {
	deadline, _ := ctx.Deadline() // zero: none
	if err := c.nc.SetDeadline(deadline); err != nil {
		return nil, err
	}
	// A cancellation without a deadline ends the exchange by moving the
	// deadline to the past, which fails the pending read or write.
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	c.read, c.headLimit = 0, maxHeadBytes
	fail := func(err error) (*http.Response, error) {
		stop()
		return nil, contextError(ctx, err)
	}
	if err := writeHead(c.bw, req); err != nil {
		return fail(err)
	}
	if err := c.bw.Flush(); err != nil {
		return fail(err)
	}
	for {
		resp, err := http.ReadResponse(c.br, req)
		if err != nil {
			return fail(err)
		}
		// Informational answers (103 Early Hints) come before the real one.
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		c.headLimit = 0
		// A switched connection (101, which no request of ours asks for)
		// speaks something else from now on.
		reuse := !resp.Close && resp.StatusCode != http.StatusSwitchingProtocols
		b := &body{rc: resp.Body, t: t, c: c, ctx: ctx, stop: stop, reuse: reuse}
		if resp.Body == http.NoBody { // nothing to read: the exchange is over
			b.finish(b.reuse)
			return resp, nil
		}
		resp.Body = b
		return resp, nil
	}
}

// contextError reports a failure that the request's context caused as the
// context's error, as net/http's Transport does: callers tell a timeout by
// errors.Is(err, context.DeadlineExceeded).
func contextError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The connection's deadline is the context's: it may fire a
		// moment before the context's own timer does.
		return context.DeadlineExceeded
	}
	return err
}

// body is an answer's body. Read to its end, it returns its connection to
// the idle list; closed before that, or failed, it closes the connection.
// Like the rest of an exchange it belongs to one goroutine: a Read is
// ended early by the request's context, not by a Close from elsewhere.
type body struct {
	rc    io.ReadCloser
	t     *Transport
	c     *conn
	ctx   context.Context
	stop  func() bool
	reuse bool // the answer allows the connection to be kept
	done  bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.finish(b.reuse)
	case err != nil:
		b.finish(false)
		err = contextError(b.ctx, err)
	}
	return n, err
}

func (b *body) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

// finish ends the exchange: the connection goes back to the idle list when
// keep is set and the context did not end it, and is closed otherwise.
func (b *body) finish(keep bool) {
	b.done = true
	if !b.stop() || !keep { // the cancellation fired: the deadline is in the past
		b.c.nc.Close()
		return
	}
	b.t.put(b.c)
}

// take returns an idle connection to key, the most recently used one, or
// nil. Connections idle for longer than IdleConnTimeout are closed.
func (t *Transport) take(key string) (c *conn, reused bool) {
	timeout := cmp.Or(t.IdleConnTimeout, DefaultIdleConnTimeout)
	t.mu.Lock()
	defer t.mu.Unlock()
	for list := t.idle[key]; len(list) > 0; {
		c, list = list[len(list)-1], list[:len(list)-1]
		t.idle[key] = list
		if time.Since(c.idleSince) <= timeout {
			return c, true
		}
		c.nc.Close()
	}
	return nil, false
}

// put adds c to the idle list of its key, or closes it when the list is
// full.
func (t *Transport) put(c *conn) {
	c.idleSince = time.Now()
	_ = c.nc.SetDeadline(time.Time{})
	max := cmp.Or(t.MaxIdleConnsPerHost, DefaultMaxIdleConnsPerHost)
	t.mu.Lock()
	defer t.mu.Unlock()
	// Bytes past the answer are no answer to anything: a server that sends
	// them cannot be trusted with the next request.
	if len(t.idle[c.key]) >= max || c.br.Buffered() > 0 {
		c.nc.Close()
		return
	}
	if t.idle == nil {
		t.idle = make(map[string][]*conn)
	}
	t.idle[c.key] = append(t.idle[c.key], c)
}

// CloseIdleConnections closes the connections not in use, as
// http.Transport's method of that name does (http.Client calls it).
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.nc.Close()
		}
	}
	if f, ok := t.fallback().(interface{ CloseIdleConnections() }); ok {
		f.CloseIdleConnections()
	}
}

// dial opens a connection to addr (u's host and port), with TLS for https.
func (t *Transport) dial(ctx context.Context, u *url.URL, addr, key string) (*conn, error) {
	d := net.Dialer{Timeout: cmp.Or(t.DialTimeout, DefaultDialTimeout), KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "https" {
		cfg := &tls.Config{}
		if t.TLSClientConfig != nil {
			cfg = t.TLSClientConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(nc, cfg)
		hctx, cancel := context.WithTimeout(ctx, cmp.Or(t.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout))
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	c := &conn{key: key, nc: nc, bw: bufio.NewWriterSize(nc, writeBufferSize)}
	c.br = bufio.NewReaderSize(c, readBufferSize)
	return c, nil
}

// hostPort is u's host with its port, the scheme's default when absent.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}
