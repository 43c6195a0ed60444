package bench

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// countingListener counts the connections its listener accepts.
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

// warmInvocations is how many sequential warm invocations share one
// connection in TestWarmInvocationsReuseOneConnection.
const warmInvocations = 20

// TestWarmInvocationsReuseOneConnection holds the wiring of
// functions/contracts/main.go (its http.Client, replicated by newHTTPClient
// since main builds it inline) to its promise: warm invocations of one
// sandbox reuse one connection to WeChat Pay, and over TLS one handshake.
// It runs warmInvocations invocations of the HTTP API fixture through
// contracts.Service with the real client, against plain HTTP, TLS with
// HTTP/1.1, and TLS with HTTP/2 offered (as a real upstream may), and
// counts TCP accepts (listener and ConnState) and TLS handshakes (one
// GetConfigForClient call per ClientHello, resumed or not). The client asks
// for HTTP/1.1 only (http1.Transport), so an upstream offering HTTP/2 gets
// HTTP/1.1 too.
func TestWarmInvocationsReuseOneConnection(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tls, http2 bool
		wantProto  int64
	}{
		{name: "http", wantProto: 1},
		{name: "https", tls: true, wantProto: 1},
		{name: "h2-offered", tls: true, http2: true, wantProto: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newPresignedUpstream(t)
			srv := httptest.NewUnstartedServer(up)
			ln := &countingListener{Listener: srv.Listener}
			srv.Listener = ln
			var newConns, handshakes atomic.Int64
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					newConns.Add(1)
				}
			}
			var roots *x509.CertPool
			if tc.tls {
				srv.EnableHTTP2 = tc.http2
				srv.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
					handshakes.Add(1)
					return nil, nil // the server's own config
				}}
				srv.StartTLS()
				roots = x509.NewCertPool()
				roots.AddCert(srv.Certificate())
			} else {
				srv.Start()
			}
			t.Cleanup(srv.Close)

			svc, sm := newService(t, srv.URL, newHTTPClient(roots))
			ctx := invocationContext(t)
			payload := fixture(t, "http-v2.json")
			for range warmInvocations {
				out, err := svc.Invoke(ctx, payload)
				checkAnswer(t, "http", out, err)
			}

			if got := up.requests.Load(); got != warmInvocations {
				t.Errorf("upstream got %d requests for %d invocations", got, warmInvocations)
			}
			if got := ln.accepted.Load(); got != 1 {
				t.Errorf("the listener accepted %d connections for %d warm invocations, want 1", got, warmInvocations)
			}
			if got := newConns.Load(); got != 1 {
				t.Errorf("the server saw %d new connections, want 1", got)
			}
			if tc.tls {
				if got := handshakes.Load(); got != 1 {
					t.Errorf("%d TLS handshakes for %d warm invocations, want 1", got, warmInvocations)
				}
			}
			if got := up.protoMajor.Load(); got != tc.wantProto {
				t.Errorf("requests arrived over HTTP/%d, want HTTP/%d", got, tc.wantProto)
			}
			// The cache was warmed once before the invocations and never
			// fetched again.
			if got := sm.calls.Load(); got != 1 {
				t.Errorf("Secrets Manager was called %d times, want 1 (the warm-up)", got)
			}
		})
	}
}
