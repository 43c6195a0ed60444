package wechatpaysim_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/campuspay/contracts/internal/devkeys"
	"github.com/campuspay/contracts/internal/wechatpaysim"
)

// These tests sign requests and verify answers with crypto/rsa directly,
// as a client of WeChat Pay would, and never print keys or signatures:
// failures say what is wrong, not what the secret values are.

// fixture is a simulator behind a real HTTP server on 127.0.0.1.
type fixture struct {
	t      *testing.T
	id     *devkeys.Identity
	sim    *wechatpaysim.Server
	srv    *httptest.Server
	client *http.Client
}

func newIdentity(t *testing.T) *devkeys.Identity {
	t.Helper()
	id, err := devkeys.Generate()
	if err != nil {
		t.Fatalf("devkeys.Generate: %v", err)
	}
	return id
}

// newFixture starts a simulator for id; cfg.Identity is filled in.
func newFixture(t *testing.T, id *devkeys.Identity, cfg wechatpaysim.Config) *fixture {
	t.Helper()
	cfg.Identity = id
	sim := wechatpaysim.New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server listens on %s, want 127.0.0.1", srv.URL)
	}
	return &fixture{t: t, id: id, sim: sim, srv: srv, client: srv.Client()}
}

// call describes one request; its zero value (but for target) is a correct
// request signed by the merchant.
type call struct {
	method string // default GET
	target string // path?query as sent
	// signTarget, when set, is signed instead of target (a tampered request).
	signTarget string
	timestamp  string // default now
	nonce      string // default random
	mchid      string // default the identity's
	serial     string // default the identity's merchant serial
	key        *rsa.PrivateKey
	// authorization, when set, is sent as it is instead of a computed one.
	authorization string
	noAuth        bool
	// header sets headers; an empty value removes the header.
	header map[string]string
}

const demoTarget = "/v3/eduschoolpay/users/" + wechatpaysim.DemoOpenID +
	"/contracts?plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ALL&offset=0&limit=20"

func randomNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return strings.ToUpper(fmt.Sprintf("%x", b))
}

// sign returns the base64 RSA-SHA256 signature of WeChat Pay's request message.
func sign(t *testing.T, key *rsa.PrivateKey, method, target, timestamp, nonce, body string) string {
	t.Helper()
	msg := method + "\n" + target + "\n" + timestamp + "\n" + nonce + "\n" + body + "\n"
	digest := sha256.Sum256([]byte(msg))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatalf("signing the request: %v", err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func (c call) build(t *testing.T, f *fixture) *http.Request {
	t.Helper()
	if c.method == "" {
		c.method = http.MethodGet
	}
	if c.timestamp == "" {
		c.timestamp = strconv.FormatInt(time.Now().Unix(), 10)
	}
	if c.nonce == "" {
		c.nonce = randomNonce()
	}
	if c.mchid == "" {
		c.mchid = f.id.MchID
	}
	if c.serial == "" {
		c.serial = f.id.MerchantSerialNo
	}
	if c.key == nil {
		c.key = f.id.MerchantKey
	}
	signed := c.target
	if c.signTarget != "" {
		signed = c.signTarget
	}
	req, err := http.NewRequest(c.method, f.srv.URL+c.target, nil)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	if got := req.URL.RequestURI(); got != c.target {
		t.Fatalf("the request would go out as %q, not %q", got, c.target)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "wechatpaysim-test/1.0")
	switch {
	case c.noAuth:
	case c.authorization != "":
		req.Header.Set("Authorization", c.authorization)
	default:
		sig := sign(t, c.key, c.method, signed, c.timestamp, c.nonce, "")
		req.Header.Set("Authorization", fmt.Sprintf(
			`WECHATPAY2-SHA256-RSA2048 mchid="%s",nonce_str="%s",signature="%s",timestamp="%s",serial_no="%s"`,
			c.mchid, c.nonce, sig, c.timestamp, c.serial))
	}
	for k, v := range c.header {
		switch {
		case v != "":
			req.Header.Set(k, v)
		case http.CanonicalHeaderKey(k) == "User-Agent":
			// net/http sends its own User-Agent unless the value is empty.
			req.Header["User-Agent"] = []string{""}
		default:
			req.Header.Del(k)
		}
	}
	return req
}

// do sends c and returns the answer with its body read.
func (f *fixture) do(c call) (*http.Response, []byte) {
	f.t.Helper()
	resp, err := f.client.Do(c.build(f.t, f))
	if err != nil {
		f.t.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("reading the answer: %v", err)
	}
	return resp, body
}

// verifyAnswer checks WeChat Pay's answer signature the way a client must:
// the key Wechatpay-Serial names, a timestamp within 5 minutes, the
// signature over timestamp, nonce and raw body. It returns the serial.
func verifyAnswer(id *devkeys.Identity, h http.Header, body []byte) (string, error) {
	serial := h.Get("Wechatpay-Serial")
	ts, nonce, sig := h.Get("Wechatpay-Timestamp"), h.Get("Wechatpay-Nonce"), h.Get("Wechatpay-Signature")
	if serial == "" || ts == "" || nonce == "" || sig == "" {
		return serial, errors.New("answer is not signed")
	}
	var pub *rsa.PublicKey
	if serial == id.PublicKeyID {
		pub = &id.WechatpayKey.PublicKey
	}
	for _, c := range id.Certificates {
		if serial == c.SerialNo {
			pub = &c.Key.PublicKey
		}
	}
	if pub == nil {
		return serial, errors.New("answer signed by an unknown key")
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return serial, errors.New("Wechatpay-Timestamp is not a number")
	}
	if d := time.Since(time.Unix(n, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return serial, errors.New("Wechatpay-Timestamp is stale")
	}
	if strings.HasPrefix(sig, "WECHATPAY/SIGNTEST/") {
		return serial, errors.New("signature is a WECHATPAY/SIGNTEST/ probe")
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return serial, errors.New("signature is not base64")
	}
	digest := sha256.Sum256([]byte(ts + "\n" + nonce + "\n" + string(body) + "\n"))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], raw); err != nil {
		return serial, errors.New("signature does not verify")
	}
	return serial, nil
}

// mustVerify fails the test unless the answer is validly signed.
func mustVerify(t *testing.T, id *devkeys.Identity, resp *http.Response, body []byte) string {
	t.Helper()
	serial, err := verifyAnswer(id, resp.Header, body)
	if err != nil {
		t.Fatalf("answer signature: %v", err)
	}
	if len(resp.Header.Get("Wechatpay-Nonce")) != 32 {
		t.Errorf("Wechatpay-Nonce has %d characters, want 32", len(resp.Header.Get("Wechatpay-Nonce")))
	}
	return serial
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// expectError checks an error answer: status, code, a Request-ID, and a
// valid signature (error answers are signed too).
func expectError(t *testing.T, id *devkeys.Identity, resp *http.Response, body []byte, status int, code string) apiError {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not JSON: %v", err)
	}
	if e.Code != code {
		t.Errorf("code %q, want %q (message %q)", e.Code, code, e.Message)
	}
	if e.Message == "" {
		t.Error("error has no message")
	}
	if resp.Header.Get("Request-ID") == "" {
		t.Error("no Request-ID")
	}
	mustVerify(t, id, resp, body)
	return e
}

// contractPage is the answer of the contract list.
type contractPage struct {
	Data       []wechatpaysim.Contract `json:"data"`
	Offset     int                     `json:"offset"`
	Limit      int                     `json:"limit"`
	TotalCount int                     `json:"total_count"`
	Links      struct {
		Self string `json:"self"`
		Next string `json:"next"`
		Prev string `json:"prev"`
	} `json:"links"`
}

func decodePage(t *testing.T, body []byte) contractPage {
	t.Helper()
	var p contractPage
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("page is not JSON: %v", err)
	}
	return p
}
