package wechatpay

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/campuspay/contracts/internal/http1"
)

// TestNewHTTPClient holds the client main builds to what its doc promises:
// HTTP/1.1 over TLS 1.2 or later even where the server offers HTTP/2,
// redirects handed back rather than followed, and proxies of the
// environment left to net/http's Transport.
func TestNewHTTPClient(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		if r.TLS == nil || r.TLS.Version < tls.VersionTLS12 {
			http.Error(w, "want TLS 1.2 or later", http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Proto", r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c := NewHTTPClient(roots)
	defer c.CloseIdleConnections()

	resp, err := c.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Proto") != "HTTP/1.1" {
		t.Errorf("got %d over %q, want 200 over HTTP/1.1", resp.StatusCode, resp.Header.Get("X-Proto"))
	}

	resp, err = c.Get(srv.URL + "/moved")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("a redirect gave %d, want the 302 itself", resp.StatusCode)
	}

	tr, ok := c.Transport.(*http1.Transport)
	if !ok || tr.Proxy == nil {
		t.Fatalf("transport %T: want an *http1.Transport that asks the environment for a proxy", c.Transport)
	}
	if fb, ok := tr.Fallback.(*http.Transport); !ok || fb.TLSClientConfig.MinVersion != tls.VersionTLS12 || fb.Proxy == nil {
		t.Errorf("fallback %T: want net/http's Transport with TLS 1.2 or later and the environment's proxy", tr.Fallback)
	}
}
