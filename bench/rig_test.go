package bench

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/campuspay/contracts/internal/config"
	"github.com/campuspay/contracts/internal/contracts"
	"github.com/campuspay/contracts/internal/devkeys"
	"github.com/campuspay/contracts/internal/logging"
	"github.com/campuspay/contracts/internal/merchant"
	"github.com/campuspay/contracts/internal/metrics"
	"github.com/campuspay/contracts/internal/secrets"
	"github.com/campuspay/contracts/internal/wechatpay"
	"github.com/campuspay/contracts/internal/wechatpaysim"
)

// shapes are the four ways in, each with the events/ fixture that carries
// the same request (DemoOpenID, DemoPlanID, ADD, offset 0, limit 20), so
// that every shape gets the same upstream answer and differs only in its
// own parsing and encoding.
var shapes = []struct{ name, fixture string }{
	{"rest", "rest-v1.json"},
	{"http", "http-v2.json"},
	{"url", "function-url.json"},
	{"direct", "direct-flat.json"},
}

// pageItems is how many contracts the fixtures' request gets back: the
// first default page of the 27 signed contracts of DemoOpenID.
const pageItems = 20

// Generating the four RSA keys of an Identity takes about a second, so one
// Identity serves every test and benchmark of the binary.
var (
	identityOnce sync.Once
	identityVal  *devkeys.Identity
	identityErr  error
)

// testIdentity returns the binary's shared key material.
func testIdentity(tb testing.TB) *devkeys.Identity {
	tb.Helper()
	identityOnce.Do(func() { identityVal, identityErr = devkeys.Generate() })
	if identityErr != nil {
		tb.Fatal(identityErr)
	}
	return identityVal
}

// fixture reads one of the events/ fixtures.
func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "events", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// parsedMerchantKey parses the merchant key from its PEM, as merchant.Parse
// does, so that benchmarks never mutate the shared Identity's key.
func parsedMerchantKey(tb testing.TB) *rsa.PrivateKey {
	tb.Helper()
	k, err := wechatpay.ParsePrivateKey(testIdentity(tb).MerchantKeyPEM)
	if err != nil {
		tb.Fatal(err)
	}
	k.Precompute()
	return k
}

// fakeSecretsManager answers every GetSecretValue with one version of one
// SecretString, in place of Secrets Manager.
type fakeSecretsManager struct {
	secret string
	calls  atomic.Int64
}

func (f *fakeSecretsManager) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.calls.Add(1)
	return &secretsmanager.GetSecretValueOutput{
		Name:         in.SecretId,
		SecretString: aws.String(f.secret),
		VersionId:    aws.String("00000000-0000-4000-8000-000000000001"),
	}, nil
}

// upstreamBody is WeChat Pay's answer to the fixtures' request, built from
// the simulator's seeded data in WeChat Pay's own shape (links included),
// so that the function decodes what it would decode in production.
func upstreamBody(tb testing.TB) []byte {
	tb.Helper()
	id := testIdentity(tb)
	var signed []wechatpaysim.Contract
	for _, c := range wechatpaysim.New(wechatpaysim.Config{Identity: id}).Contracts(wechatpaysim.DemoOpenID, wechatpaysim.DemoPlanID) {
		if c.ContractStatus == wechatpaysim.StatusSigned {
			signed = append(signed, c)
		}
	}
	if len(signed) <= pageItems {
		tb.Fatalf("the simulator seeds %d signed contracts, want more than one page of %d", len(signed), pageItems)
	}
	link := func(offset int) string {
		return fmt.Sprintf("/v3/eduschoolpay/users/%s/contracts?plan_id=%s&contract_status=ADD&offset=%d&limit=%d",
			wechatpaysim.DemoOpenID, wechatpaysim.DemoPlanID, offset, pageItems)
	}
	body, err := json.Marshal(map[string]any{
		"data":        signed[:pageItems],
		"offset":      0,
		"limit":       pageItems,
		"total_count": len(signed),
		"links":       map[string]string{"next": link(pageItems), "prev": "", "self": link(0)},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// answerMessage is what WeChat Pay signs in an answer:
// "<timestamp>\n<nonce>\n<body>\n".
func answerMessage(timestamp, nonce string, body []byte) []byte {
	return []byte(timestamp + "\n" + nonce + "\n" + string(body) + "\n")
}

// signAnswer signs an answer message as WeChat Pay does (RSA PKCS#1 v1.5,
// SHA-256) and returns the signature in base64.
func signAnswer(key *rsa.PrivateKey, message []byte) (string, error) {
	digest := sha256.Sum256(message)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// resignAfter is how old the pre-signed answer may get before it is signed
// again: inside WeChat Pay's 5-minute window (wechatpay.MaxClockSkew) with
// a minute to spare, so a long -benchtime never measures a stale answer.
const resignAfter = 4 * time.Minute

// signedAnswer is one signature of the upstream body, with its headers.
type signedAnswer struct {
	at                                    time.Time
	timestamp, nonce, signature, serialNo []string
}

// presignedUpstream stands in for WeChat Pay. It answers every request with
// one body signed once (and again only after resignAfter), and checks
// nothing of the request, so that a benchmark measures the function's own
// work rather than the work of WeChat Pay's side.
type presignedUpstream struct {
	key      *rsa.PrivateKey
	serialNo []string
	body     []byte
	length   []string

	answer   atomic.Pointer[signedAnswer]
	requests atomic.Int64
	resigns  atomic.Int64
	// protoMajor is the HTTP major version of the last request (2 for h2).
	protoMajor atomic.Int64
}

var (
	contentTypeJSON = []string{"application/json"}
	// upstreamRequestID is the Request-ID of every answer.
	upstreamRequestID = []string{"08F4D5C3A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2"}
)

// newPresignedUpstream signs the fixtures' answer with the WeChat Pay
// public key of the shared Identity (public-key mode).
func newPresignedUpstream(tb testing.TB) *presignedUpstream {
	tb.Helper()
	id := testIdentity(tb)
	body := upstreamBody(tb)
	u := &presignedUpstream{
		key:      id.WechatpayKey,
		serialNo: []string{id.PublicKeyID},
		body:     body,
		length:   []string{strconv.Itoa(len(body))},
	}
	if err := u.sign(time.Now()); err != nil {
		tb.Fatal(err)
	}
	return u
}

// sign signs the body with a fresh timestamp and nonce.
func (u *presignedUpstream) sign(now time.Time) error {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	nonce := hex.EncodeToString(raw[:])
	ts := strconv.FormatInt(now.Unix(), 10)
	sig, err := signAnswer(u.key, answerMessage(ts, nonce, u.body))
	if err != nil {
		return err
	}
	u.answer.Store(&signedAnswer{at: now, timestamp: []string{ts}, nonce: []string{nonce},
		signature: []string{sig}, serialNo: u.serialNo})
	u.resigns.Add(1)
	return nil
}

// ServeHTTP writes the pre-signed answer. Header values are shared,
// read-only slices, so that serving allocates as little as net/http allows.
func (u *presignedUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.requests.Add(1)
	u.protoMajor.Store(int64(r.ProtoMajor))
	a := u.answer.Load()
	if now := time.Now(); now.Sub(a.at) > resignAfter {
		if err := u.sign(now); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		a = u.answer.Load()
	}
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["Content-Length"] = u.length
	h["Request-Id"] = upstreamRequestID
	h["Wechatpay-Timestamp"] = a.timestamp
	h["Wechatpay-Nonce"] = a.nonce
	h["Wechatpay-Signature"] = a.signature
	h["Wechatpay-Serial"] = a.serialNo
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(u.body)
}

// render is the whole HTTP/1.1 answer of a, status line to body, with the
// headers ServeHTTP writes.
func (u *presignedUpstream) render(a *signedAnswer) []byte {
	var b []byte
	b = append(b, "HTTP/1.1 200 OK\r\n"...)
	for _, h := range [...]struct{ name, value string }{
		{"Content-Type", contentTypeJSON[0]},
		{"Content-Length", u.length[0]},
		{"Request-Id", upstreamRequestID[0]},
		{"Wechatpay-Timestamp", a.timestamp[0]},
		{"Wechatpay-Nonce", a.nonce[0]},
		{"Wechatpay-Signature", a.signature[0]},
		{"Wechatpay-Serial", a.serialNo[0]},
	} {
		b = append(b, h.name+": "+h.value+"\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, u.body...)
}

// newHTTPClient is the http.Client main builds; roots, when not nil,
// trusts an httptest TLS server.
func newHTTPClient(roots *x509.CertPool) *http.Client { return wechatpay.NewHTTPClient(roots) }

// userAgent is the User-Agent main sends.
var userAgent = wechatpay.UserAgent

// secretName is the secret the function is configured with.
const secretName = "campuspay/merchant"

// warmCache returns the secret cache main builds, over a fake Secrets
// Manager holding the shared Identity's public-key-mode secret, already
// filled, as it is in a warm sandbox. Its TTL is a day rather than main's
// five minutes so that no -benchtime ever measures a refetch.
func warmCache(tb testing.TB) (*secrets.Cache[*merchant.Merchant], *fakeSecretsManager) {
	tb.Helper()
	raw, err := testIdentity(tb).SecretJSON(devkeys.ModePublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	sm := &fakeSecretsManager{secret: string(raw)}
	cache := &secrets.Cache[*merchant.Merchant]{Client: sm, SecretID: secretName, Parse: merchant.Parse, TTL: 24 * time.Hour}
	if _, _, err := cache.Get(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return cache, sm
}

// newService wires a Service as main does: the real wechatpay.Client
// (real signer and verifier, from the parsed secret) over hc to baseURL,
// with failover off and main's default attempt timeout, a warm secret
// cache, and main's JSON logger at info level and EMF emitter, both
// writing to stdout (see stdoutPipe).
func newService(tb testing.TB, baseURL string, hc *http.Client) (*contracts.Service, *fakeSecretsManager) {
	tb.Helper()
	cache, sm := warmCache(tb)
	return &contracts.Service{
		Merchants: cache,
		WeChatPay: &wechatpay.Client{
			HTTP:           hc,
			BaseURL:        baseURL,
			UserAgent:      userAgent,
			AttemptTimeout: config.DefaultUpstreamTimeout,
		},
		Log:     newLogger(tb),
		Metrics: newMetrics(tb),
	}, sm
}

// stdout stands for the function's standard output: in Lambda a pipe that
// another process reads the log lines from, so the benchmarks write their
// lines to a pipe too, each line one write(2) as in production. A goroutine
// drains it in batches, every stdoutDrainEvery: parked on the pipe it would
// be woken, inside the benchmark, by every line, a cost that in Lambda is
// another process's.
var (
	stdoutOnce sync.Once
	stdout     *os.File
	stdoutErr  error
)

// stdoutDrainEvery is how often the pipe is read: the fastest benchmark
// writes about 50 KiB of lines a millisecond, so the pipe (1 MiB, growPipe)
// does not fill up meanwhile.
const stdoutDrainEvery = 10 * time.Millisecond

func stdoutPipe(tb testing.TB) *os.File {
	tb.Helper()
	stdoutOnce.Do(func() {
		var r *os.File
		r, stdout, stdoutErr = os.Pipe()
		if stdoutErr == nil {
			growPipe(stdout)
			go func() {
				buf := make([]byte, 1<<20)
				for {
					time.Sleep(stdoutDrainEvery)
					if _, err := r.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	})
	if stdoutErr != nil {
		tb.Fatal(stdoutErr)
	}
	return stdout
}

// newLogger is main's JSON logger at info level, writing to stdout.
func newLogger(tb testing.TB) *slog.Logger { return logging.New(stdoutPipe(tb), slog.LevelInfo) }

// newMetrics is the EMF emitter main builds, writing to stdout.
func newMetrics(tb testing.TB) *metrics.Emitter {
	return &metrics.Emitter{W: stdoutPipe(tb), Namespace: config.DefaultMetricsNamespace, FunctionName: "contracts"}
}

// invocationContext is the context aws-lambda-go hands a handler: the
// Lambda context and a deadline. The deadline is an hour away so that it
// outlasts any benchmark run; the service keeps its own margin from it.
func invocationContext(tb testing.TB) context.Context {
	tb.Helper()
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{
		AwsRequestID:       "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
		InvokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:contracts",
	})
	ctx, cancel := context.WithTimeout(ctx, time.Hour)
	tb.Cleanup(cancel)
	return ctx
}

// proxyAnswer is the proxy response API Gateway and Function URLs read.
type proxyAnswer struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

// checkAnswer fails unless out is a successful answer of pageItems
// contracts in the shape's format, so that a benchmark or test measures
// the success path and not a fast error.
func checkAnswer(tb testing.TB, shape string, out []byte, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("%s: Invoke: %v", shape, err)
	}
	body := out
	if shape != "direct" {
		var a proxyAnswer
		if err := json.Unmarshal(out, &a); err != nil {
			tb.Fatalf("%s: not a proxy answer: %v: %s", shape, err, out)
		}
		if a.StatusCode != http.StatusOK {
			tb.Fatalf("%s: status %d: %s", shape, a.StatusCode, a.Body)
		}
		body = []byte(a.Body)
	}
	var page struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &page); err != nil || len(page.Data) != pageItems {
		tb.Fatalf("%s: want a page of %d contracts, got %s", shape, pageItems, body)
	}
}
