package wechatpay

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Keys are generated once per test binary: RSA-2048 generation is slow.
var (
	keysOnce                 sync.Once
	merchantKey, platformKey *rsa.PrivateKey
	otherKey                 *rsa.PrivateKey
)

func keys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		for _, k := range []**rsa.PrivateKey{&merchantKey, &platformKey, &otherKey} {
			if *k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				panic(err)
			}
		}
	})
}

const (
	testMchID    = "1900000001"
	testSerialNo = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
	testPubKeyID = "PUB_KEY_ID_0114232134912410000000000000000"
)

// authRE parses the Authorization header independently of the client's code.
var authRE = regexp.MustCompile(`^WECHATPAY2-SHA256-RSA2048 mchid="([^"]+)",nonce_str="([^"]+)",signature="([^"]+)",timestamp="(\d+)",serial_no="([^"]+)"$`)

// checkRequest is the fake upstream's own check of a request: the header's
// form, its fields, and the RSA signature over the request target exactly
// as received, verified with crypto/rsa rather than the client's code.
func checkRequest(r *http.Request, merchantPub *rsa.PublicKey) error {
	m := authRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return fmt.Errorf("authorization header malformed: %q", r.Header.Get("Authorization"))
	}
	mchid, nonce, sig, ts, serial := m[1], m[2], m[3], m[4], m[5]
	if mchid != testMchID || serial != testSerialNo {
		return fmt.Errorf("mchid %q serial %q", mchid, serial)
	}
	sec, _ := strconv.ParseInt(ts, 10, 64)
	if d := time.Since(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %s off", d)
	}
	if len(nonce) < 16 {
		return fmt.Errorf("nonce %q too short", nonce)
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return err
	}
	digest := sha256.Sum256([]byte("GET\n" + r.RequestURI + "\n" + ts + "\n" + nonce + "\n\n"))
	if err := rsa.VerifyPKCS1v15(merchantPub, crypto.SHA256, digest[:], raw); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	if r.Header.Get("Accept") != "application/json" || r.Header.Get("User-Agent") == "" {
		return errors.New("Accept or User-Agent missing")
	}
	return nil
}

// signAnswer signs an answer as WeChat Pay does.
func signAnswer(w http.ResponseWriter, key *rsa.PrivateKey, serial string, ts time.Time, body []byte) {
	nonce := "n0nce" + strconv.FormatInt(ts.UnixNano(), 36)
	tsText := strconv.FormatInt(ts.Unix(), 10)
	digest := sha256.Sum256([]byte(tsText + "\n" + nonce + "\n" + string(body) + "\n"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		panic(err)
	}
	h := w.Header()
	h.Set("Wechatpay-Timestamp", tsText)
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Signature", base64.StdEncoding.EncodeToString(sig))
	h.Set("Wechatpay-Serial", serial)
}

type answer struct {
	status   int
	body     string
	unsigned bool
	key      *rsa.PrivateKey // signing key; platformKey when nil
	serial   string          // testPubKeyID when empty
	at       time.Time       // signing time; now when zero
	mangle   func(h http.Header)
	drop     bool // close the connection without answering
	delay    time.Duration
}

// fakeUpstream answers each request with the next scripted answer (the last
// one repeats) after checking it.
type fakeUpstream struct {
	t       *testing.T
	mu      sync.Mutex
	answers []answer
	calls   atomic.Int32
	srv     *httptest.Server
}

func newFake(t *testing.T, answers ...answer) *fakeUpstream {
	keys(t)
	f := &fakeUpstream{t: t, answers: answers}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeUpstream) serve(w http.ResponseWriter, r *http.Request) {
	n := int(f.calls.Add(1))
	if err := checkRequest(r, &merchantKey.PublicKey); err != nil {
		f.t.Errorf("request %d refused: %v", n, err)
		http.Error(w, `{"code":"SIGN_ERROR","message":"bad"}`, 401)
		return
	}
	if r.Header.Get("Wechatpay-Serial") != testPubKeyID {
		f.t.Errorf("Wechatpay-Serial = %q", r.Header.Get("Wechatpay-Serial"))
	}
	f.mu.Lock()
	a := f.answers[min(n-1, len(f.answers)-1)]
	f.mu.Unlock()
	if a.delay > 0 {
		select {
		case <-time.After(a.delay):
		case <-r.Context().Done():
			return
		}
	}
	if a.drop {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	body := []byte(a.body)
	if !a.unsigned {
		key, serial, at := a.key, a.serial, a.at
		if key == nil {
			key = platformKey
		}
		if serial == "" {
			serial = testPubKeyID
		}
		if at.IsZero() {
			at = time.Now()
		}
		signAnswer(w, key, serial, at, body)
	}
	if a.mangle != nil {
		a.mangle(w.Header())
	}
	w.Header().Set("Request-ID", "req-"+strconv.Itoa(n))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	w.Write(body)
}

func testCredentials(t testing.TB) *Credentials {
	keys(t)
	return &Credentials{
		MchID: testMchID, SerialNo: testSerialNo,
		Signer:      NewRSASigner(merchantKey),
		Verifier:    &PublicKeyVerifier{ID: testPubKeyID, Key: &platformKey.PublicKey},
		PublicKeyID: testPubKeyID,
	}
}

func newClient(base, backup string) *Client {
	return &Client{HTTP: &http.Client{}, BaseURL: base, BackupBaseURL: backup, UserAgent: "test/1.0",
		AttemptTimeout: 2 * time.Second, BaseBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
}

const pathAndQuery = "/v3/eduschoolpay/users/oUpF8uMuAJOM2pxb1Q/contracts?plan_id=101164396123311331&contract_status=ADD&offset=0&limit=20"

func TestGetSignsAndVerifies(t *testing.T) {
	body := `{"data":[],"offset":0,"limit":20,"total_count":0}`
	f := newFake(t, answer{status: 200, body: body})
	resp, tr, err := newClient(f.srv.URL, "").Get(context.Background(), testCredentials(t), pathAndQuery)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if string(resp.Body) != body || resp.RequestID != "req-1" || tr.Attempts != 1 || tr.Status != 200 {
		t.Errorf("resp %q %q, trace %+v", resp.Body, resp.RequestID, tr)
	}
}

func TestGetRefusesUnverifiedAnswers(t *testing.T) {
	keys(t)
	body := `{"data":[]}`
	tests := []struct {
		name string
		a    answer
	}{
		{"unsigned 2xx", answer{status: 200, body: body, unsigned: true}},
		{"wrong key", answer{status: 200, body: body, key: otherKey}},
		{"unknown serial", answer{status: 200, body: body, serial: "PUB_KEY_ID_UNKNOWN"}},
		{"stale timestamp", answer{status: 200, body: body, at: time.Now().Add(-6 * time.Minute)}},
		{"future timestamp", answer{status: 200, body: body, at: time.Now().Add(6 * time.Minute)}},
		{"signature-test probe", answer{status: 200, body: body, mangle: func(h http.Header) {
			h.Set("Wechatpay-Signature", "WECHATPAY/SIGNTEST/"+h.Get("Wechatpay-Signature"))
		}}},
		{"tampered body", answer{status: 200, body: body, mangle: func(h http.Header) {
			h.Set("Wechatpay-Nonce", h.Get("Wechatpay-Nonce")+"x")
		}}},
		{"missing nonce", answer{status: 200, body: body, mangle: func(h http.Header) { h.Del("Wechatpay-Nonce") }}},
		{"missing serial", answer{status: 200, body: body, mangle: func(h http.Header) { h.Del("Wechatpay-Serial") }}},
		{"signature not base64", answer{status: 200, body: body, mangle: func(h http.Header) { h.Set("Wechatpay-Signature", "%%%") }}},
		{"signed error answer with a wrong signature", answer{status: 400, body: `{"code":"PARAM_ERROR","message":"x"}`, key: otherKey}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.a)
			resp, _, err := newClient(f.srv.URL, "").Get(context.Background(), testCredentials(t), pathAndQuery)
			var se *SignatureError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v; want *SignatureError", err)
			}
			if resp != nil {
				t.Error("an unverified answer's body was handed back")
			}
			if strings.Contains(err.Error(), body) {
				t.Error("the error carries the unverified body")
			}
		})
	}
}

func TestGetErrorAnswers(t *testing.T) {
	keys(t)
	tests := []struct {
		name     string
		a        answer
		status   int
		code     string
		signed   bool
		attempts int
	}{
		{"signed 400 is final", answer{status: 400, body: `{"code":"PARAM_ERROR","message":"limit is bad"}`}, 400, "PARAM_ERROR", true, 1},
		{"unsigned 404 from a gateway", answer{status: 404, body: `{"code":"NOT_FOUND","message":"gone"}`, unsigned: true}, 404, "NOT_FOUND", false, 1},
		{"401 is final here", answer{status: 401, body: `{"code":"SIGN_ERROR","message":"bad sig"}`}, 401, "SIGN_ERROR", true, 1},
		{"429 retried then given up", answer{status: 429, body: `{"code":"FREQUENCY_LIMITED","message":"slow down"}`}, 429, "FREQUENCY_LIMITED", true, 3},
		{"500 retried then given up", answer{status: 500, body: `{"code":"SYSTEM_ERROR","message":"oops"}`}, 500, "SYSTEM_ERROR", true, 3},
		{"HTML 502 from a gateway", answer{status: 502, body: `<html>bad gateway</html>`, unsigned: true}, 502, "", false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.a)
			_, tr, err := newClient(f.srv.URL, "").Get(context.Background(), testCredentials(t), pathAndQuery)
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v; want *APIError", err)
			}
			if ae.Status != tt.status || ae.Code != tt.code || ae.Signed != tt.signed || ae.RequestID == "" {
				t.Errorf("got %+v", ae)
			}
			if tr.Attempts != tt.attempts || int(f.calls.Load()) != tt.attempts {
				t.Errorf("attempts %d (server saw %d), want %d", tr.Attempts, f.calls.Load(), tt.attempts)
			}
		})
	}
}

func TestGetRetriesAndFailsOver(t *testing.T) {
	ok := answer{status: 200, body: `{"data":[]}`}
	t.Run("5xx fails over to the backup", func(t *testing.T) {
		primary := newFake(t, answer{status: 503, body: `{"code":"SYSTEM_ERROR","message":"busy"}`})
		backup := newFake(t, ok)
		_, tr, err := newClient(primary.srv.URL, backup.srv.URL).Get(context.Background(), testCredentials(t), pathAndQuery)
		if err != nil {
			t.Fatal(err)
		}
		if primary.calls.Load() != 1 || backup.calls.Load() != 1 || tr.BaseURL != backup.srv.URL || tr.Attempts != 2 || !tr.FailedOver {
			t.Errorf("primary %d backup %d trace %+v", primary.calls.Load(), backup.calls.Load(), tr)
		}
	})
	t.Run("dropped connection fails over", func(t *testing.T) {
		primary := newFake(t, answer{drop: true})
		backup := newFake(t, ok)
		_, _, err := newClient(primary.srv.URL, backup.srv.URL).Get(context.Background(), testCredentials(t), pathAndQuery)
		if err != nil || backup.calls.Load() != 1 {
			t.Fatalf("err %v, backup calls %d", err, backup.calls.Load())
		}
	})
	t.Run("refused connection fails over", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + l.Addr().String()
		l.Close()
		backup := newFake(t, ok)
		_, _, err = newClient(dead, backup.srv.URL).Get(context.Background(), testCredentials(t), pathAndQuery)
		if err != nil || backup.calls.Load() != 1 {
			t.Fatalf("err %v, backup calls %d", err, backup.calls.Load())
		}
	})
	t.Run("429 retries the same origin", func(t *testing.T) {
		primary := newFake(t, answer{status: 429, body: `{"code":"FREQUENCY_LIMITED","message":"x"}`}, ok)
		backup := newFake(t, ok)
		_, tr, err := newClient(primary.srv.URL, backup.srv.URL).Get(context.Background(), testCredentials(t), pathAndQuery)
		if err != nil || primary.calls.Load() != 2 || backup.calls.Load() != 0 || tr.Attempts != 2 || tr.FailedOver {
			t.Fatalf("err %v primary %d backup %d", err, primary.calls.Load(), backup.calls.Load())
		}
	})
	t.Run("4xx is not retried", func(t *testing.T) {
		primary := newFake(t, answer{status: 400, body: `{"code":"PARAM_ERROR","message":"x"}`})
		backup := newFake(t, ok)
		_, _, err := newClient(primary.srv.URL, backup.srv.URL).Get(context.Background(), testCredentials(t), pathAndQuery)
		if err == nil || primary.calls.Load() != 1 || backup.calls.Load() != 0 {
			t.Fatalf("err %v primary %d backup %d", err, primary.calls.Load(), backup.calls.Load())
		}
	})
	t.Run("signature failure is not retried", func(t *testing.T) {
		keys(t)
		primary := newFake(t, answer{status: 200, body: "{}", key: otherKey})
		_, _, err := newClient(primary.srv.URL, "").Get(context.Background(), testCredentials(t), pathAndQuery)
		if err == nil || primary.calls.Load() != 1 {
			t.Fatalf("err %v calls %d", err, primary.calls.Load())
		}
	})
}

func TestGetDeadline(t *testing.T) {
	slow := newFake(t, answer{status: 200, body: "{}", delay: 2 * time.Second})
	c := newClient(slow.srv.URL, "")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, _, err := c.Get(ctx, testCredentials(t), pathAndQuery)
	var te *TransportError
	if !errors.As(err, &te) || !te.DeadlineExceeded {
		t.Fatalf("err = %#v; want a TransportError past the deadline", err)
	}
	if strings.Contains(err.Error(), "oUpF8uMuAJOM2pxb1Q") {
		t.Errorf("the error carries the openid: %v", err)
	}

	t.Run("attempt timeout is retried", func(t *testing.T) {
		f := newFake(t, answer{status: 200, body: "{}", delay: time.Second}, answer{status: 200, body: "{}"})
		c := newClient(f.srv.URL, "")
		c.AttemptTimeout = 100 * time.Millisecond
		_, tr, err := c.Get(context.Background(), testCredentials(t), pathAndQuery)
		if err != nil || tr.Attempts != 2 {
			t.Fatalf("err %v attempts %d", err, tr.Attempts)
		}
	})
}

func TestGetBodyLimit(t *testing.T) {
	f := newFake(t, answer{status: 200, body: `{"data":"` + strings.Repeat("x", 2048) + `"}`})
	c := newClient(f.srv.URL, "")
	c.MaxBodyBytes = 1024
	_, _, err := c.Get(context.Background(), testCredentials(t), pathAndQuery)
	var ae *AnswerError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v; want *AnswerError", err)
	}
}

// TestReadBodyLaysOutTheSignedMessage: with a Content-Length the body is
// read into the middle of the message WeChat Pay signs; without one the
// message is built from it. Either way message is answerMessage's, body is
// the answer, and an answer longer or shorter than it said is an error.
func TestReadBodyLaysOutTheSignedMessage(t *testing.T) {
	const ts, nonce, answerBody = "1700000000", "0123456789ABCDEF", `{"data":[]}`
	for _, tc := range []struct {
		name    string
		length  int64
		body    string
		wantErr bool
	}{
		{name: "declared", length: int64(len(answerBody)), body: answerBody},
		{name: "chunked", length: -1, body: answerBody},
		{name: "empty", length: 0, body: ""},
		{name: "shorter than declared", length: int64(len(answerBody)) + 5, body: answerBody, wantErr: true},
		{name: "longer than declared", length: int64(len(answerBody)) - 1, body: answerBody, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{ContentLength: tc.length, Body: io.NopCloser(strings.NewReader(tc.body))}
			body, message, err := readBody(resp, DefaultMaxBodyBytes, ts, nonce)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("read %q with Content-Length %d: no error", tc.body, tc.length)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != tc.body {
				t.Errorf("body %q, want %q", body, tc.body)
			}
			if want := answerMessage(ts, nonce, []byte(tc.body)); string(message) != string(want) {
				t.Errorf("message %q, want %q", message, want)
			}
		})
	}
}

func selfSigned(t *testing.T, key *rsa.PrivateKey, serial int64, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "Tenpay.com Root CA"},
		NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCertificateVerification(t *testing.T) {
	keys(t)
	now := time.Now()
	valid := selfSigned(t, platformKey, 0x5A11, now.Add(-time.Hour), now.Add(time.Hour))
	expired := selfSigned(t, otherKey, 0x0E1D, now.Add(-2*time.Hour), now.Add(-time.Hour))
	certs := NewCertificateVerifier([]*x509.Certificate{valid, expired}, nil)
	migration := Verifiers{&PublicKeyVerifier{ID: testPubKeyID, Key: &otherKey.PublicKey}, certs}
	body := []byte(`{"data":[]}`)
	sign := func(key *rsa.PrivateKey) string {
		d := sha256.Sum256(answerMessage("1", "n", body))
		s, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
		return base64.StdEncoding.EncodeToString(s)
	}
	ctx := context.Background()
	msg := answerMessage("1", "n", body)
	if err := certs.Verify(ctx, "5A11", msg, sign(platformKey)); err != nil {
		t.Errorf("valid certificate: %v", err)
	}
	if err := certs.Verify(ctx, "5a11", msg, sign(platformKey)); err != nil {
		t.Errorf("lower-case serial: %v", err)
	}
	if err := certs.Verify(ctx, "E1D", msg, sign(otherKey)); !errors.Is(err, ErrKeyNotValid) {
		t.Errorf("expired certificate: %v", err)
	}
	if err := certs.Verify(ctx, "5A11", msg, sign(otherKey)); !errors.Is(err, ErrBadSignature) {
		t.Errorf("wrong key: %v", err)
	}
	if err := migration.Verify(ctx, testPubKeyID, msg, sign(otherKey)); err != nil {
		t.Errorf("migration, public key: %v", err)
	}
	if err := migration.Verify(ctx, "5A11", msg, sign(platformKey)); err != nil {
		t.Errorf("migration, certificate: %v", err)
	}
	if err := migration.Verify(ctx, "FFFF", msg, sign(platformKey)); !errors.Is(err, ErrUnknownSerial) {
		t.Errorf("migration, unknown serial: %v", err)
	}
}

func TestFailoverAlternatesAndKeepsWeChatPaysAnswer(t *testing.T) {
	primary := newFake(t, answer{status: 500, body: `{"code":"SYSTEM_ERROR","message":"busy"}`})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadBackup := "http://" + l.Addr().String()
	l.Close()
	_, tr, err := newClient(primary.srv.URL, deadBackup).Get(context.Background(), testCredentials(t), pathAndQuery)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 500 || ae.Code != "SYSTEM_ERROR" {
		t.Fatalf("err = %v; want WeChat Pay's 500, not the backup's network error", err)
	}
	if primary.calls.Load() != 2 || tr.Attempts != 3 || !tr.FailedOver {
		t.Errorf("primary %d calls, trace %+v; want primary, backup, primary", primary.calls.Load(), tr)
	}
}

// WeChat Pay pads certificate serials to 40 hex digits; a serial whose first
// digit is 0 must still name its certificate.
func TestCertificateSerialWithLeadingZero(t *testing.T) {
	keys(t)
	now := time.Now()
	serial, _ := new(big.Int).SetString("0A1B2C3D4E5F60718293A4B5C6D7E8F901234567", 16)
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "Tenpay"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &platformKey.PublicKey, platformKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	v := NewCertificateVerifier([]*x509.Certificate{c}, nil)
	msg := answerMessage("1", "n", []byte("{}"))
	d := sha256.Sum256(msg)
	sig, _ := rsa.SignPKCS1v15(rand.Reader, platformKey, crypto.SHA256, d[:])
	for _, header := range []string{"0A1B2C3D4E5F60718293A4B5C6D7E8F901234567", "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", "A1B2C3D4E5F60718293A4B5C6D7E8F901234567"} {
		if err := v.Verify(context.Background(), header, msg, base64.StdEncoding.EncodeToString(sig)); err != nil {
			t.Errorf("Wechatpay-Serial %s: %v", header, err)
		}
	}
	if got := NormalizeSerial("000"); got != "0" {
		t.Errorf("NormalizeSerial(000) = %q", got)
	}
}
