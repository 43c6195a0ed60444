// Package wechatpaysim is a strict local stand-in for WeChat Pay APIv3, as
// stripe-mock is for Stripe: an http.Handler that answers
// GET /v3/eduschoolpay/users/{openid}/contracts and GET /v3/certificates from
// seeded data, refuses what WeChat Pay refuses, and signs its answers the way
// WeChat Pay does, with the keys of a devkeys.Identity.
//
// It is deliberately stricter than it needs to be to be useful: a request is
// answered only if its Accept and User-Agent headers, its Authorization
// header, its signature, timestamp and nonce, and its query parameters all
// follow WeChat Pay's rules. A client that passes here has a good chance of
// passing at WeChat Pay.
//
// It verifies requests on its own (its own header parsing, crypto/rsa) and
// imports nothing of this repository but devkeys, so that a bug in the
// function's signer cannot hide behind the same bug here.
//
// Tests make it misbehave with Push (error answers, delays, dropped
// connections, bad or missing signatures) and see what it received with
// Requests. All methods are safe for concurrent use.
package wechatpaysim

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/campuspay/contracts/internal/devkeys"
)

// SignMode chooses the key that signs the simulator's answers.
type SignMode int

const (
	// SignPublicKey signs with Identity.WechatpayKey; Wechatpay-Serial is
	// Identity.PublicKeyID. This is WeChat Pay's public-key mode.
	SignPublicKey SignMode = iota
	// SignCertificate signs with Identity.Certificates[0]; Wechatpay-Serial is
	// its serial number. This is WeChat Pay's platform-certificate mode.
	SignCertificate
	// SignAlternate switches between the two for every signed answer, public
	// key first, as WeChat Pay does for a merchant migrating between them.
	SignAlternate
)

// String returns the mode's name as ParseSignMode reads it.
func (m SignMode) String() string {
	switch m {
	case SignPublicKey:
		return "publickey"
	case SignCertificate:
		return "certificate"
	case SignAlternate:
		return "alternate"
	default:
		return fmt.Sprintf("SignMode(%d)", int(m))
	}
}

// ParseSignMode reads "publickey", "certificate" or "alternate".
func ParseSignMode(s string) (SignMode, error) {
	for _, m := range []SignMode{SignPublicKey, SignCertificate, SignAlternate} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("wechatpaysim: unknown sign mode %q (want publickey, certificate or alternate)", s)
}

// Config configures a Server.
type Config struct {
	// Identity holds the merchant's keys (to verify requests) and WeChat
	// Pay's (to sign answers). Required.
	Identity *devkeys.Identity
	// SignMode is the initial sign mode; SetSignMode changes it.
	SignMode SignMode
	// RequireSerialHeader makes every request carry Wechatpay-Serial equal to
	// Identity.PublicKeyID, as a merchant in public-key mode must send it.
	// A request without it is answered 400 PARAM_ERROR.
	RequireSerialHeader bool
	// Now is the server's clock, for request timestamps, nonce memory and
	// answer timestamps. Default time.Now.
	Now func() time.Time
	// ReuseSignatures signs each distinct answer once a minute and resends
	// that signature, timestamp and nonce meanwhile, so that a measurement
	// of the client (cmd/coldstart) does not count the simulator's own RSA
	// signature. Requests are still verified in full.
	ReuseSignatures bool
}

// Request is what the simulator received, as Requests reports it.
type Request struct {
	Method string
	// RequestURI is the raw request target, as the signature covers it.
	RequestURI string
	// Header is a copy of the request's headers. It holds the Authorization
	// header as sent: do not log it.
	Header http.Header
	// Verified reports whether the Authorization header passed every check:
	// format, mchid, serial_no, timestamp, nonce and signature.
	Verified bool
	// Status is the HTTP status answered, 0 when the connection was dropped.
	Status int
	// Code is the error code answered, "" for a 2xx answer.
	Code string
	// Time is when the request arrived, by the server's clock.
	Time time.Time
}

// Server is the simulator, an http.Handler. Make one with New.
type Server struct {
	id            *devkeys.Identity
	requireSerial bool
	now           func() time.Time
	contracts     map[seedKey][]Contract // read-only after New

	reuseSignatures bool

	mu       sync.Mutex
	kept     map[[32]byte]keptSignature // ReuseSignatures: by serial and body
	signMode SignMode
	faults   []Fault
	requests []Request
	nonces   map[string]time.Time // nonce_str → until when it counts as used
	signed   int                  // answers signed so far, for SignAlternate
}

// New returns a simulator for cfg. It panics if cfg.Identity lacks a key it
// needs, which is a mistake in the calling test, not a run-time condition.
func New(cfg Config) *Server {
	id := cfg.Identity
	if id == nil || id.MerchantKey == nil || id.WechatpayKey == nil || len(id.Certificates) == 0 {
		panic("wechatpaysim: Config.Identity must have the merchant key, the WeChat Pay key and a platform certificate")
	}
	for _, c := range id.Certificates {
		if c.Key == nil || c.Cert == nil {
			panic("wechatpaysim: every platform certificate of Config.Identity needs its certificate and key")
		}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Server{
		id:              id,
		requireSerial:   cfg.RequireSerialHeader,
		reuseSignatures: cfg.ReuseSignatures,
		now:             now,
		contracts:       seed(id.MchID),
		signMode:        cfg.SignMode,
		nonces:          map[string]time.Time{},
	}
}

// SetSignMode changes which key signs the answers from now on.
func (s *Server) SetSignMode(m SignMode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signMode = m
}

// Push queues faults. Each request takes the first queued fault and is
// answered with it; once the queue is empty, requests are answered normally.
func (s *Server) Push(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// Pending returns how many pushed faults no request has taken yet.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.faults)
}

// Requests returns what the simulator has received since New or Reset, in
// order of arrival. A request is recorded before any Delay of its fault, so
// one still being delayed counts.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.requests)
	for i := range out {
		out[i].Header = out[i].Header.Clone()
	}
	return out
}

// Reset drops the queued faults and the record of requests. The sign mode,
// and the nonces remembered against replay, stay as they are.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
	s.requests = nil
}

// maxBody bounds what the simulator reads of a request body.
const maxBody = 1 << 20

// answer is a reply before it is signed and written.
type answer struct {
	status int
	code   string // error code, "" for a 2xx answer
	body   []byte
	// header holds extra headers of the answer, such as Allow.
	header http.Header
	// platformCert makes a platform certificate sign the answer whatever
	// the sign mode, as WeChat Pay signs its certificate download.
	platformCert bool
}

// ServeHTTP checks and answers one request, applying the next queued fault.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	fault := s.takeFault()
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var (
		ans      answer
		verified bool
	)
	if readErr != nil {
		ans = errorAnswer(http.StatusBadRequest, "INVALID_REQUEST", "request body could not be read or is larger than 1 MiB")
	} else {
		ans, verified = s.check(r, body, now)
	}
	ans = fault.apply(ans)

	rec := Request{
		Method:     r.Method,
		RequestURI: r.RequestURI,
		Header:     r.Header.Clone(),
		Verified:   verified,
		Status:     ans.status,
		Code:       ans.code,
		Time:       now,
	}
	if fault.DropConnection {
		rec.Status, rec.Code = 0, ""
	}
	s.record(rec)

	if fault.DropConnection {
		dropConnection(w)
		return
	}
	if fault.Delay > 0 {
		t := time.NewTimer(fault.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return // the client gave up; nobody is left to answer
		}
	}
	s.write(w, ans, fault)
}

// check runs WeChat Pay's checks in WeChat Pay's order and, if the request
// passes them, answers it. verified reports whether the Authorization header
// passed.
func (s *Server) check(r *http.Request, body []byte, now time.Time) (ans answer, verified bool) {
	if msg := checkAcceptAndUserAgent(r.Header); msg != "" {
		return errorAnswer(http.StatusBadRequest, "INVALID_REQUEST", msg), false
	}
	if msg := s.verifyAuthorization(r, body, now); msg != "" {
		return errorAnswer(http.StatusUnauthorized, "SIGN_ERROR", msg), false
	}
	if s.requireSerial {
		if msg := s.checkSerialHeader(r.Header); msg != "" {
			return errorAnswer(http.StatusBadRequest, "PARAM_ERROR", msg), true
		}
	}
	return s.route(r), true
}

// route sends a checked request to its endpoint.
func (s *Server) route(r *http.Request) answer {
	path := r.URL.EscapedPath()
	var endpoint func() answer
	switch {
	case path == "/v3/certificates":
		endpoint = s.certificates
	default:
		openid, ok := contractsPath(path)
		if !ok {
			return errorAnswer(http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("no such resource: %s", path))
		}
		endpoint = func() answer { return s.listContracts(openid, r.URL.RawQuery) }
	}
	if r.Method != http.MethodGet {
		a := errorAnswer(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", fmt.Sprintf("method %s is not allowed here; use GET", r.Method))
		a.header = http.Header{"Allow": {http.MethodGet}}
		return a
	}
	return endpoint()
}

// checkAcceptAndUserAgent applies WeChat Pay's basic rules: the request
// must accept application/json and must say who it is. It returns "" when
// the headers are acceptable.
func checkAcceptAndUserAgent(h http.Header) string {
	accept := strings.Join(h.Values("Accept"), ",")
	if strings.TrimSpace(accept) == "" {
		return "Http头缺少Accept: the Accept header is required and must accept application/json"
	}
	if !acceptsJSON(accept) {
		return fmt.Sprintf("Http头Accept不正确: Accept %q does not accept application/json", accept)
	}
	if strings.TrimSpace(h.Get("User-Agent")) == "" {
		return "Http头缺少User-Agent: the User-Agent header is required"
	}
	return ""
}

// acceptsJSON reports whether an Accept header value admits application/json.
func acceptsJSON(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mediaType, params, _ := strings.Cut(part, ";")
		switch strings.ToLower(strings.TrimSpace(mediaType)) {
		case "application/json", "application/*", "*/*":
			if !zeroQuality(params) {
				return true
			}
		}
	}
	return false
}

// zeroQuality reports whether media-range parameters carry q=0 (not acceptable).
func zeroQuality(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			v = strings.TrimSpace(v)
			return strings.Trim(v, "0.") == "" && v != ""
		}
	}
	return false
}

// checkSerialHeader requires Wechatpay-Serial to name WeChat Pay's public key.
func (s *Server) checkSerialHeader(h http.Header) string {
	v := h.Values("Wechatpay-Serial")
	switch {
	case len(v) == 0 || v[0] == "":
		return "Http头缺少Wechatpay-Serial: Wechatpay-Serial must carry the WeChat Pay public key ID"
	case len(v) > 1:
		return "Wechatpay-Serial is given more than once"
	case v[0] != s.id.PublicKeyID:
		return fmt.Sprintf("Wechatpay-Serial %q is not the WeChat Pay public key ID of this merchant", v[0])
	}
	return ""
}

// errorAnswer is WeChat Pay's error body, {"code":…,"message":…}.
func errorAnswer(status int, code, message string) answer {
	return answer{status: status, code: code, body: marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code, message})}
}

// marshal encodes v as WeChat Pay does: compact, with &, < and > left as
// they are (encoding/json would escape them, which WeChat Pay's links do not).
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("wechatpaysim: encoding an answer: " + err.Error()) // only our own types get here
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func (s *Server) takeFault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) == 0 {
		return Fault{}
	}
	f := s.faults[0]
	s.faults = s.faults[1:]
	return f
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}

// signer is a key that signs answers and the serial that names it.
type signer struct {
	serial string
	key    *rsa.PrivateKey
}

// signerFor picks the key for the next signed answer.
func (s *Server) signerFor(a answer) signer {
	cert := signer{s.id.Certificates[0].SerialNo, s.id.Certificates[0].Key}
	if a.platformCert {
		return cert
	}
	pub := signer{s.id.PublicKeyID, s.id.WechatpayKey}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.signMode {
	case SignCertificate:
		return cert
	case SignAlternate:
		s.signed++
		if s.signed%2 == 0 {
			return cert
		}
	}
	return pub
}
