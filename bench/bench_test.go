package bench

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/campuspay/contracts/internal/config"
	"github.com/campuspay/contracts/internal/contractquery"
	"github.com/campuspay/contracts/internal/contracts"
	"github.com/campuspay/contracts/internal/devkeys"
	"github.com/campuspay/contracts/internal/invocation"
	"github.com/campuspay/contracts/internal/merchant"
	"github.com/campuspay/contracts/internal/wechatpay"
	"github.com/campuspay/contracts/internal/wechatpaysim"
)

// requestTarget is the WeChat Pay request target of the fixtures' request,
// as the client signs it.
const requestTarget = "/v3/eduschoolpay/users/" + wechatpaysim.DemoOpenID +
	"/contracts?plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ADD&offset=0&limit=20"

// requestMessage is what an APIv3 request signature covers for the
// fixtures' request: method, target, timestamp, nonce and the empty body,
// each followed by a newline.
func requestMessage() []byte {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	return []byte("GET\n" + requestTarget + "\n" + ts + "\n" + "593BEC0C930BF1AFEB40B4A08C8FB242" + "\n\n")
}

// floorKit is the material of the floor: the merchant key (CRT values
// precomputed), the WeChat Pay public key, the request message signed and
// an answer message with its signature, both of their real sizes.
type floorKit struct {
	key       *rsa.PrivateKey
	pub       *rsa.PublicKey
	request   []byte
	answer    []byte
	answerSig []byte
}

func newFloorKit(tb testing.TB) *floorKit {
	tb.Helper()
	id := testIdentity(tb)
	k := &floorKit{
		key:     parsedMerchantKey(tb),
		pub:     &id.WechatpayKey.PublicKey,
		request: requestMessage(),
		answer:  answerMessage(strconv.FormatInt(time.Now().Unix(), 10), "0123456789ABCDEF0123456789ABCDEF", upstreamBody(tb)),
	}
	digest := sha256.Sum256(k.answer)
	sig, err := rsa.SignPKCS1v15(nil, id.WechatpayKey, crypto.SHA256, digest[:])
	if err != nil {
		tb.Fatal(err)
	}
	k.answerSig = sig
	return k
}

// runFloor is the protocol's unavoidable cost per invocation: one
// RSA-2048 PKCS#1 v1.5 SHA-256 signature of the request and one
// verification of the answer, with crypto/rsa alone (no base64, no
// headers), each over a message of the real size.
func runFloor(b *testing.B, k *floorKit) {
	b.ReportAllocs()
	for b.Loop() {
		k.op(b)
	}
}

// op is one operation of the floor.
func (k *floorKit) op(b *testing.B) {
	d := sha256.Sum256(k.request)
	if _, err := rsa.SignPKCS1v15(nil, k.key, crypto.SHA256, d[:]); err != nil {
		b.Fatal(err)
	}
	d = sha256.Sum256(k.answer)
	if err := rsa.VerifyPKCS1v15(k.pub, crypto.SHA256, d[:], k.answerSig); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFloor measures the protocol's unavoidable cost (see runFloor):
// what an invocation costs at the very least, and the unit of x-floor.
func BenchmarkFloor(b *testing.B) {
	runFloor(b, newFloorKit(b))
}

// floorMeter times floor operations between a benchmark's own, so that
// x-floor compares work done under the same conditions: on a shared
// machine the CPU's speed drifts, within seconds, by more than the margin
// the target leaves, and a floor timed once per process (or before and
// after a benchmark) lets that drift into the ratio.
type floorMeter struct {
	kit     *floorKit
	ops     int
	elapsed time.Duration
}

// floorEvery and floorOps are the interleaving: floorOps floor operations
// after every floorEvery operations of the benchmark.
const (
	floorEvery = 8
	floorOps   = 2
)

// interleave runs floorOps floor operations, with the benchmark's timer
// stopped, after every floorEvery-th call (i counts them from 0).
func (m *floorMeter) interleave(b *testing.B, i int) {
	if i%floorEvery != floorEvery-1 {
		return
	}
	b.StopTimer()
	start := time.Now()
	for range floorOps {
		m.kit.op(b)
	}
	m.elapsed += time.Since(start)
	m.ops += floorOps
	b.StartTimer()
}

// report reports x-floor: the benchmark's ns/op over the interleaved
// floor's.
func (m *floorMeter) report(b *testing.B) {
	if m.ops == 0 {
		b.Fatalf("the floor was not timed: the benchmark ran %d times, fewer than %d", b.N, floorEvery)
	}
	floor := float64(m.elapsed.Nanoseconds()) / float64(m.ops)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/floor, "x-floor")
}

// BenchmarkInvocation measures one warm invocation end to end, in process:
// a fixture's raw bytes into (*contracts.Service).Invoke and the answer
// bytes out, with the real WeChat Pay client (real signer and verifier)
// over main's http.Client, kept alive to a loopback upstream (rawServer)
// that answers a pre-signed body, and a warm secret cache. x-floor is its
// ns/op over the floor's (BenchmarkFloor's operation, timed between the
// invocations by a floorMeter): the target is 1.08 or less.
//
// ns/op and allocs/op include the upstream's side of the loopback HTTP
// exchange (a socket read and write, in the same process); BenchmarkLoopback
// measures that exchange alone.
func BenchmarkInvocation(b *testing.B) {
	k := newFloorKit(b)
	for _, s := range shapes {
		b.Run(s.name, func(b *testing.B) {
			up := newPresignedUpstream(b)
			srv := newRawServer(b, up)
			svc, _ := newService(b, srv.URL, newHTTPClient(nil))
			ctx := invocationContext(b)
			payload := fixture(b, s.fixture)
			out, err := svc.Invoke(ctx, payload) // also opens the kept-alive connection
			checkAnswer(b, s.name, out, err)
			want := len(out)
			before := up.requests.Load()
			floor := &floorMeter{kit: k}

			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				out, err := svc.Invoke(ctx, payload)
				if err != nil || len(out) != want {
					b.Fatalf("invocation failed: %v: %s", err, out)
				}
				floor.interleave(b, i)
			}
			if n := up.requests.Load() - before; n != int64(b.N) {
				b.Fatalf("%d upstream requests for %d invocations: retries happened", n, b.N)
			}
			floor.report(b)
		})
	}
}

// BenchmarkLoopback measures the loopback HTTP exchange of an invocation
// alone: a GET of the same target through main's http.Client to the same
// pre-signed upstream, its body read and closed, with no signing or
// verification. It is the part of BenchmarkInvocation that production
// spends on the network instead.
func BenchmarkLoopback(b *testing.B) {
	up := newPresignedUpstream(b)
	srv := newRawServer(b, up)
	hc := newHTTPClient(nil)
	get := func() error {
		resp, err := hc.Get(srv.URL + requestTarget)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		return err
	}
	if err := get(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := get(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClientGet measures one wechatpay.Client.Get of the fixtures'
// request as main wires the client, over the same loopback exchange as
// BenchmarkInvocation: signing, the HTTP exchange, reading and verifying
// the answer. BenchmarkInvocation minus this is the service's own work;
// this minus BenchmarkFloor and BenchmarkLoopback is the client's.
func BenchmarkClientGet(b *testing.B) {
	up := newPresignedUpstream(b)
	srv := newRawServer(b, up)
	cache, _ := warmCache(b)
	m, _, err := cache.Get(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	c := &wechatpay.Client{HTTP: newHTTPClient(nil), BaseURL: srv.URL, UserAgent: userAgent,
		AttemptTimeout: config.DefaultUpstreamTimeout}
	ctx := invocationContext(b)
	if _, _, err := c.Get(ctx, &m.Credentials, requestTarget); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.Get(ctx, &m.Credentials, requestTarget); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign measures wechatpay.RSASigner.Sign over a request message:
// SHA-256, the RSA-2048 signature and base64.
func BenchmarkSign(b *testing.B) {
	s := wechatpay.NewRSASigner(parsedMerchantKey(b))
	msg := requestMessage()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify measures wechatpay.PublicKeyVerifier.Verify over an
// answer message of the real size: base64, SHA-256 and the RSA check.
func BenchmarkVerify(b *testing.B) {
	id := testIdentity(b)
	v := &wechatpay.PublicKeyVerifier{ID: id.PublicKeyID, Key: &id.WechatpayKey.PublicKey}
	msg := answerMessage(strconv.FormatInt(time.Now().Unix(), 10), "0123456789ABCDEF0123456789ABCDEF", upstreamBody(b))
	sig, err := signAnswer(id.WechatpayKey, msg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(ctx, id.PublicKeyID, msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse measures invocation.Parse on each shape's fixture.
func BenchmarkParse(b *testing.B) {
	for _, s := range shapes {
		b.Run(s.name, func(b *testing.B) {
			payload := fixture(b, s.fixture)
			if _, err := invocation.Parse(payload); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := invocation.Parse(payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkValidate measures contractquery.Validate on the parameters of
// the HTTP API fixture, the deployed shape.
func BenchmarkValidate(b *testing.B) {
	req, err := invocation.Parse(fixture(b, "http-v2.json"))
	if err != nil {
		b.Fatal(err)
	}
	if _, ferr := contractquery.Validate(req.Params); ferr != nil {
		b.Fatal(ferr)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ferr := contractquery.Validate(req.Params); ferr != nil {
			b.Fatal(ferr)
		}
	}
}

// bodyUpstream is a contracts.Upstream that hands back an already verified
// answer without any network or crypto.
type bodyUpstream struct{ resp *wechatpay.Response }

func (u bodyUpstream) Get(context.Context, *wechatpay.Credentials, string) (*wechatpay.Response, wechatpay.Trace, error) {
	return u.resp, wechatpay.Trace{Attempts: 1, BaseURL: "https://api.mch.weixin.qq.com",
		Status: u.resp.Status, RequestID: u.resp.RequestID}, nil
}

// noUpstreamService is a Service whose upstream is bodyUpstream: the real
// warm secret cache and logger, and everything of an invocation except
// the WeChat Pay call.
func noUpstreamService(b *testing.B) *contracts.Service {
	cache, _ := warmCache(b)
	resp := &wechatpay.Response{Status: http.StatusOK, Body: upstreamBody(b), RequestID: upstreamRequestID[0],
		Header: http.Header{"Content-Type": contentTypeJSON, "Request-Id": upstreamRequestID}}
	return &contracts.Service{Merchants: cache, WeChatPay: bodyUpstream{resp}, Log: newLogger(b), Metrics: newMetrics(b)}
}

// BenchmarkNormalize measures the normalization of WeChat Pay's answer.
// normalize is unexported in package contracts, so this goes through the
// narrowest exported path: (*contracts.Service).Invoke on the direct-flat
// fixture (the cheapest parse) with an upstream that hands back the
// verified body. It so includes Parse/direct, Validate, the cache hit, the
// summary log line and the answer's encoding; subtract BenchmarkParse/direct
// and BenchmarkValidate for normalize, its JSON decode and encode, and the log.
func BenchmarkNormalize(b *testing.B) {
	svc := noUpstreamService(b)
	ctx := invocationContext(b)
	payload := fixture(b, "direct-flat.json")
	out, err := svc.Invoke(ctx, payload)
	checkAnswer(b, "direct", out, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Invoke(ctx, payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNoUpstream measures, for each shape, an invocation whose
// upstream hands back the verified body (as in BenchmarkNormalize): the
// function's own work without crypto and network, which is what
// BenchmarkInvocation adds to the floor and the loopback exchange.
func BenchmarkNoUpstream(b *testing.B) {
	for _, s := range shapes {
		b.Run(s.name, func(b *testing.B) {
			svc := noUpstreamService(b)
			ctx := invocationContext(b)
			payload := fixture(b, s.fixture)
			out, err := svc.Invoke(ctx, payload)
			checkAnswer(b, s.name, out, err)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := svc.Invoke(ctx, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMerchantParse measures merchant.Parse of the public-key-mode
// secret: the once-per-sandbox cost of reading the keys, part of a cold
// start (and of every secret refresh), not of a warm invocation.
func BenchmarkMerchantParse(b *testing.B) {
	raw, err := testIdentity(b).SecretJSON(devkeys.ModePublicKey)
	if err != nil {
		b.Fatal(err)
	}
	secret := string(raw)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := merchant.Parse(secret); err != nil {
			b.Fatal(err)
		}
	}
}
