package wechatpay

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultMinDownloadInterval is CertificateStore.MinInterval's default: the
// platform certificates of one merchant are downloaded at most once a minute,
// however many answers name a serial the store does not hold.
const DefaultMinDownloadInterval = time.Minute

// certificatesPath is WeChat Pay's platform certificate download (下载平台证书).
const certificatesPath = "/v3/certificates"

// CertificateStore holds WeChat Pay platform certificates downloaded from
// GET /v3/certificates with merchants' APIv3 keys, as WeChat Pay's SDKs do
// for merchants who configure neither the WeChat Pay public key nor the
// certificates themselves.
//
// Make one per process (one per Lambda sandbox) and hand out per-merchant
// verifiers with Verifier each time a merchant secret is parsed: the
// certificates are kept per mchid in the store, so they outlive secret
// refreshes, and a secret refresh does not cause a download.
//
// A certificate is downloaded when an answer names a serial the store does
// not hold, at most once per MinInterval per merchant, one download at a
// time per merchant. A download is trusted because every certificate in it
// is sealed with AEAD_AES_256_GCM under the APIv3 key, which only WeChat Pay
// and the merchant know; its signature is checked too, with the certificates
// it carries (WeChat Pay signs it with one of them) or the merchant's own
// verifier. A download that fails any check is refused and the certificates
// held before are kept. Held certificates are used within their validity
// period only (see CertificateVerifier). A successful download replaces the
// merchant's set, as WeChat Pay lists every certificate in use.
//
// The download runs inside the Verify of the answer that named the unknown
// serial, under its context: within that answer's attempt timeout and the
// caller's deadline. It goes through Client, so it is signed, retried and
// failed over like any request.
//
// The zero value is not usable: set Client. A CertificateStore is safe for
// concurrent use.
type CertificateStore struct {
	// Client signs and sends the download. Required.
	Client *Client
	// MinInterval is the least time between the starts of two downloads for
	// one merchant, whatever their outcome; DefaultMinDownloadInterval when
	// zero.
	MinInterval time.Duration
	// Now is the clock of the rate limit and of certificate validity;
	// time.Now when nil.
	Now func() time.Time

	mu        sync.Mutex
	merchants map[string]*merchantCertificates // by mchid
}

// merchantCertificates is what the store holds for one merchant.
type merchantCertificates struct {
	// download holds a token while a download is in flight, so there is one
	// at a time; waiting for it honours the waiter's context, unlike a mutex.
	download chan struct{}

	mu       sync.Mutex
	certs    *CertificateVerifier // nil until a download succeeds
	lastTry  time.Time            // start of the last download, zero if none
	attempts int                  // downloads started, for tests and diagnostics
}

// Verifier returns the Verifier of one merchant's answers: it verifies with
// fallback (the merchant's configured public key or certificates; nil when
// there are none) the serials fallback holds, and every other serial with
// the certificates the store downloads for cred.MchID.
//
// cred (mchid, merchant serial, Signer and, when set, PublicKeyID) signs the
// download; its Verifier is ignored. apiv3Key decrypts the certificates; it
// is copied, and never logged or put in an error.
func (s *CertificateStore) Verifier(cred Credentials, apiv3Key []byte, fallback Verifier) Verifier {
	cred.Verifier = nil
	return &storeVerifier{store: s, cred: cred, apiv3Key: string(apiv3Key), fallback: fallback}
}

// storeVerifier is one merchant's view of a CertificateStore.
type storeVerifier struct {
	store    *CertificateStore
	cred     Credentials
	apiv3Key string
	fallback Verifier
}

// Verify implements Verifier.
func (v *storeVerifier) Verify(ctx context.Context, serial string, message []byte, signature string) error {
	if v.fallback != nil {
		if err := v.fallback.Verify(ctx, serial, message, signature); !errors.Is(err, ErrUnknownSerial) {
			return err
		}
	}
	return v.store.verify(ctx, v, serial, message, signature)
}

func (s *CertificateStore) verify(ctx context.Context, v *storeVerifier, serial string, message []byte, signature string) error {
	m := s.merchant(v.cred.MchID)
	held := m.current()
	if held != nil {
		if err := held.Verify(ctx, serial, message, signature); !errors.Is(err, ErrUnknownSerial) {
			return err
		}
	}
	if !isHex(serial) {
		// A public key ID, or garbage: no certificate download can name it.
		return fmt.Errorf("serial %q: %w", serial, ErrUnknownSerial)
	}
	certs, err := s.refresh(ctx, m, v, held, serial)
	if err != nil {
		return err
	}
	return certs.Verify(ctx, serial, message, signature)
}

// refresh returns the merchant's certificates after a download, or the
// certificates another call downloaded while this one waited (when they are
// no longer held, the set this call saw). Its errors wrap ErrUnknownSerial.
func (s *CertificateStore) refresh(ctx context.Context, m *merchantCertificates, v *storeVerifier, held *CertificateVerifier, serial string) (*CertificateVerifier, error) {
	select {
	case m.download <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("serial %q: %w (gave up waiting for the platform certificate download: %v)", serial, ErrUnknownSerial, ctx.Err())
	}
	defer func() { <-m.download }()

	now := s.now()
	m.mu.Lock()
	certs, last := m.certs, m.lastTry
	if certs != held { // another call downloaded meanwhile: use what it got
		m.mu.Unlock()
		return certs, nil
	}
	if interval := s.minInterval(); !last.IsZero() && now.Sub(last) < interval {
		m.mu.Unlock()
		return nil, fmt.Errorf("serial %q: %w (platform certificates were last downloaded %s ago; at most one download per %s)",
			serial, ErrUnknownSerial, now.Sub(last).Round(time.Second), interval)
	}
	m.lastTry = now
	m.attempts++
	m.mu.Unlock()

	downloaded, err := s.download(ctx, v, certs)
	if err != nil {
		// Keep what is held. The cause is a message, not a wrapped error: the
		// answer being verified is refused for its serial, whatever made the
		// download fail.
		return nil, fmt.Errorf("serial %q: %w (downloading platform certificates failed: %v)", serial, ErrUnknownSerial, err)
	}
	fresh := NewCertificateVerifier(downloaded, s.now)
	m.mu.Lock()
	m.certs = fresh
	m.mu.Unlock()
	return fresh, nil
}

// download fetches, decrypts and checks the merchant's platform
// certificates. held is the set the store holds, if any.
func (s *CertificateStore) download(ctx context.Context, v *storeVerifier, held *CertificateVerifier) ([]*x509.Certificate, error) {
	if s.Client == nil {
		return nil, errors.New("the certificate store has no client")
	}
	var known Verifiers
	if v.fallback != nil {
		known = append(known, v.fallback)
	}
	if held != nil {
		known = append(known, held)
	}
	dv := &downloadVerifier{apiv3Key: v.apiv3Key, fallback: v.fallback, known: known, now: s.now}
	_, _, err := s.Client.GetWith(ctx, &v.cred, dv, certificatesPath)
	var sigErr *SignatureError
	switch {
	case err != nil && errors.As(err, &sigErr) && dv.refusal != nil:
		// Not a list, and signed by no key known yet: say why it is no list.
		return nil, fmt.Errorf("GET %s: HTTP %d: %w", certificatesPath, sigErr.Status, dv.refusal)
	case err != nil:
		return nil, fmt.Errorf("GET %s: %w", certificatesPath, err)
	case dv.refusal != nil:
		return nil, fmt.Errorf("GET %s: %w", certificatesPath, dv.refusal)
	case len(dv.certs) == 0: // cannot happen: a verified list has certificates
		return nil, fmt.Errorf("GET %s: no certificates", certificatesPath)
	}
	return dv.certs, nil
}

// downloadVerifier verifies the answers of one download. An answer that is
// a usable certificate list is verified with the certificates it carries and
// the merchant's fallback, and its certificates are kept. Any other answer —
// an error answer, or a list to refuse — is verified with the keys already
// known, so that a signed error answer keeps its status (and a 5xx is
// retried), and the reason to refuse it is kept in refusal.
//
// The Client calls it once per attempt, one attempt after another.
type downloadVerifier struct {
	apiv3Key string
	fallback Verifier
	known    Verifier // fallback and the held certificates; nil if neither
	now      func() time.Time

	certs   []*x509.Certificate // of the last verified list
	refusal error               // why the last answer is not a usable list
}

// Verify implements Verifier.
func (d *downloadVerifier) Verify(ctx context.Context, serial string, message []byte, signature string) error {
	d.certs, d.refusal = nil, nil
	certs, err := d.decode(message)
	if err != nil {
		d.refusal = err
		if d.known == nil {
			return fmt.Errorf("serial %q: %w", serial, ErrUnknownSerial)
		}
		return d.known.Verify(ctx, serial, message, signature)
	}
	own := Verifiers{NewCertificateVerifier(certs, d.now)}
	if d.fallback != nil {
		own = append(own, d.fallback)
	}
	if err := own.Verify(ctx, serial, message, signature); err != nil {
		return fmt.Errorf("the download's signature: %w", err)
	}
	d.certs = certs
	return nil
}

// decode reads the certificate list out of an answer message.
func (d *downloadVerifier) decode(message []byte) ([]*x509.Certificate, error) {
	body, ok := answerBody(message)
	if !ok {
		return nil, errors.New("the answer message is malformed")
	}
	return decodeCertificates(body, d.apiv3Key)
}

// certificateList is the answer of GET /v3/certificates.
type certificateList struct {
	Data []struct {
		SerialNo           string `json:"serial_no"`
		EncryptCertificate struct {
			Algorithm      string `json:"algorithm"`
			Nonce          string `json:"nonce"`
			AssociatedData string `json:"associated_data"`
			Ciphertext     string `json:"ciphertext"`
		} `json:"encrypt_certificate"`
	} `json:"data"`
}

// decodeCertificates decrypts and parses every certificate of a download.
// One bad entry refuses the whole download: it is then not WeChat Pay's.
func decodeCertificates(body []byte, apiv3Key string) ([]*x509.Certificate, error) {
	var list certificateList
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("the answer is not a certificate list: %w", err)
	}
	switch {
	case list.Data == nil: // no "data": an error answer, say
		return nil, errors.New("the answer is not a certificate list")
	case len(list.Data) == 0:
		return nil, errors.New("the answer lists no certificates")
	}
	certs := make([]*x509.Certificate, 0, len(list.Data))
	for i, item := range list.Data {
		enc := item.EncryptCertificate
		if enc.Algorithm != AEADAlgorithm {
			return nil, fmt.Errorf("certificate %d (serial_no %q): algorithm %q is not %s", i, item.SerialNo, enc.Algorithm, AEADAlgorithm)
		}
		plain, err := DecryptAEADAES256GCM(apiv3Key, enc.Nonce, enc.AssociatedData, enc.Ciphertext)
		if err != nil {
			return nil, fmt.Errorf("certificate %d (serial_no %q): %w", i, item.SerialNo, err)
		}
		c, err := ParseCertificate(string(plain))
		if err != nil {
			return nil, fmt.Errorf("certificate %d (serial_no %q): %w", i, item.SerialNo, err)
		}
		if got := SerialOf(c); NormalizeSerial(item.SerialNo) != got {
			return nil, fmt.Errorf("certificate %d: serial_no %q is not the certificate's serial %s", i, item.SerialNo, got)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// answerBody recovers the body from an answer message (see answerMessage):
// what lies between the second newline and the final one. The timestamp and
// nonce before it come from header values, which hold no newline.
func answerBody(message []byte) ([]byte, bool) {
	_, rest, ok1 := bytes.Cut(message, []byte{'\n'})
	_, rest, ok2 := bytes.Cut(rest, []byte{'\n'})
	body, ok3 := bytes.CutSuffix(rest, []byte{'\n'})
	return body, ok1 && ok2 && ok3
}

// isHex reports whether serial could be a certificate serial: hexadecimal
// digits only.
func isHex(serial string) bool {
	if serial == "" {
		return false
	}
	for _, r := range serial {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
			return false
		}
	}
	return true
}

// merchant returns the store's entry for mchid, making it on first use.
func (s *CertificateStore) merchant(mchid string) *merchantCertificates {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.merchants == nil {
		s.merchants = map[string]*merchantCertificates{}
	}
	m, ok := s.merchants[mchid]
	if !ok {
		m = &merchantCertificates{download: make(chan struct{}, 1)}
		s.merchants[mchid] = m
	}
	return m
}

// current returns the certificates held, nil before the first download.
func (m *merchantCertificates) current() *CertificateVerifier {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.certs
}

// Serials lists the serials of the certificates downloaded for mchid (none
// before the first successful download), and how many downloads have been
// started for it. It is for diagnostics and tests.
func (s *CertificateStore) Serials(mchid string) (serials []string, downloads int) {
	s.mu.Lock()
	m := s.merchants[mchid]
	s.mu.Unlock()
	if m == nil {
		return nil, 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.certs != nil {
		serials = m.certs.Serials()
	}
	return serials, m.attempts
}

func (s *CertificateStore) minInterval() time.Duration {
	if s.MinInterval > 0 {
		return s.MinInterval
	}
	return DefaultMinDownloadInterval
}

func (s *CertificateStore) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
