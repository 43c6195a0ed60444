package wechatpay

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/campuspay/contracts/internal/devkeys"
	"github.com/campuspay/contracts/internal/wechatpaysim"
)

// The simulator's identity and the extra certificates are made once per
// test binary: RSA-2048 generation is slow.
var (
	identityOnce sync.Once
	simIdentity  *devkeys.Identity
	expiredCert  devkeys.Certificate
	identityErr  error
)

func testIdentity(t testing.TB) *devkeys.Identity {
	t.Helper()
	identityOnce.Do(func() {
		if simIdentity, identityErr = devkeys.Generate(); identityErr != nil {
			return
		}
		now := time.Now()
		expiredCert, identityErr = devkeys.NewCertificate(now.AddDate(-1, 0, 0), now.Add(-time.Hour))
	})
	if identityErr != nil {
		t.Fatal(identityErr)
	}
	return simIdentity
}

// fakeClock is a settable clock for the store's rate limit.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// simStack is the simulator behind a test server, a client of it, and the
// merchant's credentials without a verifier.
type simStack struct {
	id     *devkeys.Identity
	sim    *wechatpaysim.Server
	client *Client
	cred   Credentials
}

func newSimStack(t *testing.T, cfg wechatpaysim.Config) *simStack {
	t.Helper()
	id := testIdentity(t)
	cfg.Identity = id
	sim := wechatpaysim.New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	s := &simStack{id: id, sim: sim, client: newClient(srv.URL, ""),
		cred: Credentials{MchID: id.MchID, SerialNo: id.MerchantSerialNo, Signer: NewRSASigner(id.MerchantKey)}}
	if cfg.RequireSerialHeader {
		s.cred.PublicKeyID = id.PublicKeyID
	}
	return s
}

// get lists contracts with v as the merchant's verifier.
func (s *simStack) get(v Verifier) (*Response, error) {
	cred := s.cred
	cred.Verifier = v
	resp, _, err := s.client.Get(context.Background(), &cred, pathAndQuery)
	return resp, err
}

// downloads counts the certificate downloads the simulator answered.
func (s *simStack) downloads(t *testing.T) int {
	t.Helper()
	n := 0
	for _, r := range s.sim.Requests() {
		if r.RequestURI == certificatesPath {
			if !r.Verified {
				t.Errorf("a download was not signed right: %+v", r.Code)
			}
			n++
		}
	}
	return n
}

func TestCertificateStoreDownloadsOnce(t *testing.T) {
	s := newSimStack(t, wechatpaysim.Config{SignMode: wechatpaysim.SignCertificate})
	store := &CertificateStore{Client: s.client}
	v := store.Verifier(s.cred, []byte(s.id.APIv3Key), nil)

	resp, err := s.get(v)
	if err != nil {
		t.Fatalf("first answer: %v", err)
	}
	if !strings.Contains(string(resp.Body), `"data"`) {
		t.Errorf("body %s", resp.Body)
	}
	if n := s.downloads(t); n != 1 {
		t.Fatalf("%d downloads; want 1", n)
	}
	serials, downloads := store.Serials(s.id.MchID)
	if downloads != 1 || len(serials) != len(s.id.Certificates) {
		t.Errorf("store holds %v after %d downloads; want the identity's %d certificates", serials, downloads, len(s.id.Certificates))
	}

	if _, err := s.get(v); err != nil {
		t.Fatalf("second answer: %v", err)
	}
	// A verifier made for a refreshed secret shares what the store holds.
	refreshed := store.Verifier(s.cred, []byte(s.id.APIv3Key), nil)
	if _, err := s.get(refreshed); err != nil {
		t.Fatalf("answer after a secret refresh: %v", err)
	}
	if n := s.downloads(t); n != 1 {
		t.Errorf("%d downloads after three answers; want 1", n)
	}
}

func TestCertificateStoreConcurrentVerifiesDownloadOnce(t *testing.T) {
	s := newSimStack(t, wechatpaysim.Config{SignMode: wechatpaysim.SignCertificate})
	store := &CertificateStore{Client: s.client}
	v := store.Verifier(s.cred, []byte(s.id.APIv3Key), nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			if _, err := s.get(v); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := s.downloads(t); n != 1 {
		t.Errorf("%d downloads; want 1", n)
	}
}

func TestCertificateStoreRateLimit(t *testing.T) {
	s := newSimStack(t, wechatpaysim.Config{SignMode: wechatpaysim.SignCertificate})
	clock := newClock()
	store := &CertificateStore{Client: s.client, Now: clock.Now}
	v := store.Verifier(s.cred, []byte(s.id.APIv3Key), nil)
	if _, err := s.get(v); err != nil {
		t.Fatal(err)
	}

	unknown := func(wantDownloads int) {
		t.Helper()
		s.sim.Push(wechatpaysim.Fault{UnknownSerial: true})
		_, err := s.get(v)
		var se *SignatureError
		if !errors.As(err, &se) || !errors.Is(err, ErrUnknownSerial) {
			t.Fatalf("err = %v; want a SignatureError for an unknown serial", err)
		}
		if n := s.downloads(t); n != wantDownloads {
			t.Fatalf("%d downloads; want %d", n, wantDownloads)
		}
		if strings.Contains(err.Error(), s.id.APIv3Key) {
			t.Errorf("the error carries the APIv3 key: %v", err)
		}
	}
	unknown(1) // downloaded a moment ago: no download
	clock.Advance(30 * time.Second)
	unknown(1)
	clock.Advance(31 * time.Second)
	unknown(2) // a minute has passed: one download, which does not know it either
	unknown(2)
	if _, err := s.get(v); err != nil {
		t.Errorf("known serial after the refusals: %v", err)
	}

	t.Run("a failed first download counts", func(t *testing.T) {
		s := newSimStack(t, wechatpaysim.Config{SignMode: wechatpaysim.SignCertificate})
		clock := newClock()
		store := &CertificateStore{Client: s.client, Now: clock.Now, MinInterval: 10 * time.Second}
		v := store.Verifier(s.cred, []byte(s.id.APIv3Key), nil)
		// The contracts answer, then three attempts of one download, each
		// an unsigned 500 from a gateway, which the client retries.
		gateway500 := wechatpaysim.Fault{Status: 500, Unsigned: true}
		s.sim.Push(wechatpaysim.Fault{}, gateway500, gateway500, gateway500)
		if _, err := s.get(v); !errors.Is(err, ErrUnknownSerial) || !strings.Contains(err.Error(), "SYSTEM_ERROR") {
			t.Fatalf("err = %v; want an unknown serial after a failed download", err)
		}
		if _, err := s.get(v); !errors.Is(err, ErrUnknownSerial) || !strings.Contains(err.Error(), "at most one download per 10s") {
			t.Fatalf("err = %v; want an unknown serial while rate-limited", err)
		}
		if n := s.downloads(t); n != 3 {
			t.Fatalf("%d download attempts; want the 3 of one download", n)
		}

		// A signed 500, by a certificate not held yet, cannot be verified:
		// the download fails at once.
		clock.Advance(10 * time.Second)
		s.sim.Push(wechatpaysim.Fault{}, wechatpaysim.Fault{Status: 500})
		if _, err := s.get(v); !errors.Is(err, ErrUnknownSerial) || !strings.Contains(err.Error(), "HTTP 500: the answer is not a certificate list") {
			t.Fatalf("err = %v; want an unknown serial after a signed 500", err)
		}
		if n := s.downloads(t); n != 4 {
			t.Fatalf("%d download attempts; want 4", n)
		}

		clock.Advance(10 * time.Second)
		if _, err := s.get(v); err != nil {
			t.Fatalf("after MinInterval: %v", err)
		}
		if n := s.downloads(t); n != 5 {
			t.Fatalf("%d download attempts; want 5", n)
		}
	})
}

func TestCertificateStoreMigration(t *testing.T) {
	s := newSimStack(t, wechatpaysim.Config{SignMode: wechatpaysim.SignAlternate, RequireSerialHeader: true})
	store := &CertificateStore{Client: s.client}
	pub := &PublicKeyVerifier{ID: s.id.PublicKeyID, Key: &s.id.WechatpayKey.PublicKey}
	cred := s.cred
	cred.Verifier = pub // ignored by the store
	v := store.Verifier(cred, []byte(s.id.APIv3Key), pub)
	for i := range 4 {
		if _, err := s.get(v); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
	}
	if n := s.downloads(t); n != 1 {
		t.Errorf("%d downloads; want 1", n)
	}
	// A public key ID nobody holds is refused without a download.
	s.sim.SetSignMode(wechatpaysim.SignPublicKey)
	s.sim.Push(wechatpaysim.Fault{UnknownSerial: true})
	if _, err := s.get(v); !errors.Is(err, ErrUnknownSerial) {
		t.Errorf("err = %v; want an unknown serial", err)
	}
	if n := s.downloads(t); n != 1 {
		t.Errorf("%d downloads after an unknown public key ID; want 1", n)
	}
}

// certEntry is one item of a scripted certificate download.
type certEntry struct {
	cert      devkeys.Certificate
	serialNo  string // the cert's serial when empty
	algorithm string // AEAD_AES_256_GCM when empty
	tamper    bool   // flip a ciphertext bit after sealing
}

// certificateListBody renders GET /v3/certificates as WeChat Pay does, each
// certificate sealed under apiv3Key by sealAEAD.
func certificateListBody(t *testing.T, apiv3Key string, entries ...certEntry) []byte {
	t.Helper()
	type item struct {
		SerialNo           string            `json:"serial_no"`
		EffectiveTime      string            `json:"effective_time"`
		ExpireTime         string            `json:"expire_time"`
		EncryptCertificate map[string]string `json:"encrypt_certificate"`
	}
	items := []item{}
	for _, e := range entries {
		var nb [6]byte
		_, _ = rand.Read(nb[:])
		nonce := hex.EncodeToString(nb[:])
		sealed := sealAEAD(t, apiv3Key, nonce, "certificate", []byte(e.cert.PEM))
		if e.tamper {
			raw, _ := base64.StdEncoding.DecodeString(sealed)
			raw[10] ^= 0x01
			sealed = base64.StdEncoding.EncodeToString(raw)
		}
		it := item{SerialNo: e.serialNo, EffectiveTime: e.cert.Cert.NotBefore.Format(time.RFC3339),
			ExpireTime: e.cert.Cert.NotAfter.Format(time.RFC3339),
			EncryptCertificate: map[string]string{"algorithm": e.algorithm, "nonce": nonce,
				"associated_data": "certificate", "ciphertext": sealed}}
		if it.SerialNo == "" {
			it.SerialNo = e.cert.SerialNo
		}
		if it.EncryptCertificate["algorithm"] == "" {
			it.EncryptCertificate["algorithm"] = AEADAlgorithm
		}
		items = append(items, it)
	}
	b, err := json.Marshal(map[string]any{"data": items})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// certServer is a scripted WeChat Pay that answers only GET /v3/certificates,
// after checking the request's signature like any other.
type certServer struct {
	t     *testing.T
	mu    sync.Mutex
	body  []byte
	key   *rsa.PrivateKey
	sn    string
	calls atomic.Int32
	srv   *httptest.Server
}

func newCertServer(t *testing.T) *certServer {
	keys(t)
	c := &certServer{t: t}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.calls.Add(1)
		if err := checkRequest(r, &merchantKey.PublicKey); err != nil || r.URL.Path != certificatesPath {
			t.Errorf("request %s refused: %v", r.URL.Path, err)
			http.Error(w, `{"code":"SIGN_ERROR","message":"bad"}`, http.StatusUnauthorized)
			return
		}
		c.mu.Lock()
		body, key, sn := c.body, c.key, c.sn
		c.mu.Unlock()
		signAnswer(w, key, sn, time.Now(), body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// answer scripts the next downloads: body, signed by key under serial.
func (c *certServer) answer(body []byte, key *rsa.PrivateKey, serial string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.body, c.key, c.sn = body, key, serial
}

// signedBy makes an answer message and its signature by key, for Verify.
func signedBy(t *testing.T, key *rsa.PrivateKey) ([]byte, string) {
	t.Helper()
	msg := answerMessage("1700000000", "nonce", []byte(`{"data":[]}`))
	d := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return msg, base64.StdEncoding.EncodeToString(sig)
}

func TestCertificateStoreRefusesBadDownloads(t *testing.T) {
	id := testIdentity(t)
	certA, certB := id.Certificates[0], id.Certificates[1]
	const apiv3Key = "ApIv3KeyApIv3KeyApIv3KeyApIv3Key"
	ctx := context.Background()

	// setup holds certificate A after one good download.
	setup := func(t *testing.T) (*certServer, *fakeClock, *CertificateStore, Verifier) {
		cs := newCertServer(t)
		clock := newClock()
		store := &CertificateStore{Client: newClient(cs.srv.URL, ""), Now: clock.Now}
		v := store.Verifier(*testCredentials(t), []byte(apiv3Key), nil)
		cs.answer(certificateListBody(t, apiv3Key, certEntry{cert: certA}), certA.Key, certA.SerialNo)
		msg, sig := signedBy(t, certA.Key)
		if err := v.Verify(ctx, certA.SerialNo, msg, sig); err != nil {
			t.Fatalf("good download: %v", err)
		}
		clock.Advance(2 * time.Minute)
		return cs, clock, store, v
	}

	tests := []struct {
		name string
		body func(t *testing.T) []byte
		key  *rsa.PrivateKey
		sn   string
		want string
	}{
		{"signature by a key not in the download", func(t *testing.T) []byte {
			return certificateListBody(t, apiv3Key, certEntry{cert: certB})
		}, expiredCert.Key, certB.SerialNo, "signature does not verify"},
		{"signed by a certificate not in the download", func(t *testing.T) []byte {
			return certificateListBody(t, apiv3Key, certEntry{cert: certB})
		}, expiredCert.Key, expiredCert.SerialNo, "no key of that Wechatpay-Serial"},
		{"serial_no not the certificate's", func(t *testing.T) []byte {
			return certificateListBody(t, apiv3Key, certEntry{cert: certB, serialNo: certA.SerialNo})
		}, certB.Key, certB.SerialNo, "is not the certificate's serial"},
		{"tampered ciphertext", func(t *testing.T) []byte {
			return certificateListBody(t, apiv3Key, certEntry{cert: certB, tamper: true})
		}, certB.Key, certB.SerialNo, "authentication failed"},
		{"sealed under another APIv3 key", func(t *testing.T) []byte {
			return certificateListBody(t, strings.Repeat("x", 32), certEntry{cert: certB})
		}, certB.Key, certB.SerialNo, "authentication failed"},
		{"other algorithm", func(t *testing.T) []byte {
			return certificateListBody(t, apiv3Key, certEntry{cert: certB, algorithm: "AEAD_SM4_GCM"})
		}, certB.Key, certB.SerialNo, `algorithm "AEAD_SM4_GCM"`},
		{"one bad entry among good ones", func(t *testing.T) []byte {
			return certificateListBody(t, apiv3Key, certEntry{cert: certA}, certEntry{cert: certB, tamper: true})
		}, certA.Key, certA.SerialNo, "authentication failed"},
		{"no certificates", func(t *testing.T) []byte { return []byte(`{"data":[]}`) }, certA.Key, certA.SerialNo, "lists no certificates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, _, store, v := setup(t)
			cs.answer(tt.body(t), tt.key, tt.sn)
			msg, sig := signedBy(t, certB.Key)
			err := v.Verify(ctx, certB.SerialNo, msg, sig)
			if !errors.Is(err, ErrUnknownSerial) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want an unknown serial because %q", err, tt.want)
			}
			if strings.Contains(err.Error(), apiv3Key) {
				t.Errorf("the error carries the APIv3 key: %v", err)
			}
			if n := cs.calls.Load(); n != 2 {
				t.Errorf("%d downloads; want 2", n)
			}
			// The old set is kept.
			msg, sig = signedBy(t, certA.Key)
			if err := v.Verify(ctx, certA.SerialNo, msg, sig); err != nil {
				t.Errorf("certificate A after a refused download: %v", err)
			}
			if serials, _ := store.Serials(testMchID); len(serials) != 1 || serials[0] != certA.SerialNo {
				t.Errorf("store holds %v; want only %s", serials, certA.SerialNo)
			}
		})
	}

	t.Run("a good download replaces the set", func(t *testing.T) {
		cs, _, store, v := setup(t)
		cs.answer(certificateListBody(t, apiv3Key, certEntry{cert: certB}), certB.Key, certB.SerialNo)
		msg, sig := signedBy(t, certB.Key)
		if err := v.Verify(ctx, certB.SerialNo, msg, sig); err != nil {
			t.Fatal(err)
		}
		if serials, n := store.Serials(testMchID); len(serials) != 1 || serials[0] != certB.SerialNo || n != 2 {
			t.Errorf("store holds %v after %d downloads", serials, n)
		}
	})

	t.Run("the merchant's public key may sign the download", func(t *testing.T) {
		cs := newCertServer(t)
		pub := &PublicKeyVerifier{ID: testPubKeyID, Key: &platformKey.PublicKey}
		store := &CertificateStore{Client: newClient(cs.srv.URL, "")}
		v := store.Verifier(*testCredentials(t), []byte(apiv3Key), pub)
		cs.answer(certificateListBody(t, apiv3Key, certEntry{cert: certA}), platformKey, testPubKeyID)
		msg, sig := signedBy(t, certA.Key)
		if err := v.Verify(ctx, certA.SerialNo, msg, sig); err != nil {
			t.Fatal(err)
		}
		msg, sig = signedBy(t, platformKey)
		if err := v.Verify(ctx, testPubKeyID, msg, sig); err != nil {
			t.Errorf("public key: %v", err)
		}
		if n := cs.calls.Load(); n != 1 {
			t.Errorf("%d downloads; want 1", n)
		}
	})

	t.Run("an expired downloaded certificate is refused", func(t *testing.T) {
		cs := newCertServer(t)
		store := &CertificateStore{Client: newClient(cs.srv.URL, "")}
		v := store.Verifier(*testCredentials(t), []byte(apiv3Key), nil)
		cs.answer(certificateListBody(t, apiv3Key, certEntry{cert: certA}, certEntry{cert: expiredCert}), certA.Key, certA.SerialNo)
		msg, sig := signedBy(t, expiredCert.Key)
		if err := v.Verify(ctx, expiredCert.SerialNo, msg, sig); !errors.Is(err, ErrKeyNotValid) {
			t.Fatalf("err = %v; want ErrKeyNotValid", err)
		}
		if err := v.Verify(ctx, expiredCert.SerialNo, msg, sig); !errors.Is(err, ErrKeyNotValid) {
			t.Fatalf("again: err = %v; want ErrKeyNotValid", err)
		}
		if n := cs.calls.Load(); n != 1 {
			t.Errorf("%d downloads; want 1", n)
		}
		// A download signed only by an expired certificate is refused.
		cs2 := newCertServer(t)
		store2 := &CertificateStore{Client: newClient(cs2.srv.URL, "")}
		v2 := store2.Verifier(*testCredentials(t), []byte(apiv3Key), nil)
		cs2.answer(certificateListBody(t, apiv3Key, certEntry{cert: expiredCert}), expiredCert.Key, expiredCert.SerialNo)
		if err := v2.Verify(ctx, expiredCert.SerialNo, msg, sig); !errors.Is(err, ErrUnknownSerial) || !strings.Contains(err.Error(), ErrKeyNotValid.Error()) {
			t.Fatalf("err = %v; want an unknown serial: the download's signer is expired", err)
		}
	})

	t.Run("a caller gives up waiting for another's download", func(t *testing.T) {
		cs := newCertServer(t)
		store := &CertificateStore{Client: newClient(cs.srv.URL, "")}
		v := store.Verifier(*testCredentials(t), []byte(apiv3Key), nil)
		m := store.merchant(testMchID)
		m.download <- struct{}{} // a download in flight
		ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		msg, sig := signedBy(t, certA.Key)
		if err := v.Verify(ctx, certA.SerialNo, msg, sig); !errors.Is(err, ErrUnknownSerial) || !strings.Contains(err.Error(), "gave up waiting") {
			t.Fatalf("err = %v", err)
		}
		<-m.download
		if n := cs.calls.Load(); n != 0 {
			t.Errorf("%d downloads; want 0", n)
		}
	})
}
