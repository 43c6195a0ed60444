package wechatpay

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"runtime"
	"time"

	"github.com/campuspay/contracts/internal/http1"
)

// UserAgent is sent with every request: WeChat Pay requires one.
var UserAgent = "campuspay-contracts/1.0 (" + runtime.GOOS + "/" + runtime.GOARCH + ") Go/" + runtime.Version()

// NewHTTPClient returns the *http.Client to build once per process and hand
// to Client: keep-alive connections (so warm calls reuse one TCP and TLS
// session), TLS 1.2 or later, and redirects never followed (WeChat Pay does
// not redirect, and a redirected request would go out unsigned). roots, when
// not nil, replaces the system's trusted CAs (for tests).
//
// Its GETs go over HTTP/1.1 on http1.Transport, which sends them from the
// caller's goroutine; requests through a proxy of the environment
// (HTTPS_PROXY and the like) go through net/http's Transport.
func NewHTTPClient(roots *x509.CertPool) *http.Client {
	const maxIdle, idleTimeout = 4, 90 * time.Second
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	fallback := http.DefaultTransport.(*http.Transport).Clone()
	fallback.MaxIdleConnsPerHost = maxIdle
	fallback.IdleConnTimeout = idleTimeout
	fallback.TLSClientConfig = tlsConfig
	transport := &http1.Transport{
		Fallback:            fallback,
		Proxy:               fallback.Proxy,
		TLSClientConfig:     tlsConfig,
		MaxIdleConnsPerHost: maxIdle,
		IdleConnTimeout:     idleTimeout,
	}
	return &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}
