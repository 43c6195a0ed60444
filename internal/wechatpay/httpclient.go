package wechatpay

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"runtime"
	"time"
)

// UserAgent is sent with every request: WeChat Pay requires one.
var UserAgent = "campuspay-contracts/1.0 (" + runtime.GOOS + "/" + runtime.GOARCH + ") Go/" + runtime.Version()

// NewHTTPClient returns the *http.Client to build once per process and hand
// to Client: keep-alive connections (so warm calls reuse one TCP and TLS
// session), TLS 1.2 or later, and redirects never followed (WeChat Pay does
// not redirect, and a redirected request would go out unsigned). roots, when
// not nil, replaces the system's trusted CAs (for tests).
func NewHTTPClient(roots *x509.CertPool) *http.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 4
	transport.IdleConnTimeout = 90 * time.Second
	transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	return &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}
