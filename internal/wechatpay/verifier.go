package wechatpay

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// Verifier checks the signature of a WeChat Pay answer with the key that its
// Wechatpay-Serial names.
type Verifier interface {
	// Verify checks signature (base64) over message. It returns an error
	// wrapping ErrUnknownSerial when it holds no key of that serial, and
	// ErrBadSignature when the signature does not verify.
	Verify(ctx context.Context, serial string, message []byte, signature string) error
}

// Errors a Verifier wraps, so callers can tell the cases apart.
var (
	ErrUnknownSerial = errors.New("no key of that Wechatpay-Serial")
	ErrBadSignature  = errors.New("signature does not verify")
	ErrKeyNotValid   = errors.New("certificate is expired or not yet valid")
)

// PublicKeyVerifier verifies with the WeChat Pay public key, whose ID
// ("PUB_KEY_ID_…") answers carry as Wechatpay-Serial.
type PublicKeyVerifier struct {
	ID  string
	Key *rsa.PublicKey
}

// Verify implements Verifier.
func (v *PublicKeyVerifier) Verify(_ context.Context, serial string, message []byte, signature string) error {
	if serial != v.ID {
		return fmt.Errorf("serial %q: %w", serial, ErrUnknownSerial)
	}
	return verifyRSA(v.Key, message, signature)
}

// CertificateVerifier verifies with platform certificates, named in answers
// by their serial number in hex. A certificate outside its validity period
// is refused.
type CertificateVerifier struct {
	certs map[string]*x509.Certificate
	now   func() time.Time
}

// NewCertificateVerifier returns a verifier holding certs. now is the clock
// validity is judged by (time.Now when nil).
func NewCertificateVerifier(certs []*x509.Certificate, now func() time.Time) *CertificateVerifier {
	if now == nil {
		now = time.Now
	}
	m := make(map[string]*x509.Certificate, len(certs))
	for _, c := range certs {
		m[SerialOf(c)] = c
	}
	return &CertificateVerifier{certs: m, now: now}
}

// Serials lists the serials of the certificates held.
func (v *CertificateVerifier) Serials() []string {
	out := make([]string, 0, len(v.certs))
	for s := range v.certs {
		out = append(out, s)
	}
	return out
}

// Verify implements Verifier.
func (v *CertificateVerifier) Verify(_ context.Context, serial string, message []byte, signature string) error {
	c, ok := v.certs[NormalizeSerial(serial)]
	if !ok {
		return fmt.Errorf("serial %q: %w", serial, ErrUnknownSerial)
	}
	if now := v.now(); now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return fmt.Errorf("certificate %s: %w", serial, ErrKeyNotValid)
	}
	return verifyRSA(c.PublicKey.(*rsa.PublicKey), message, signature)
}

// Verifiers tries each verifier in turn and uses the first that holds the
// serial: a merchant migrating from certificates to the public key holds both.
type Verifiers []Verifier

// Verify implements Verifier.
func (vs Verifiers) Verify(ctx context.Context, serial string, message []byte, signature string) error {
	for _, v := range vs {
		err := v.Verify(ctx, serial, message, signature)
		if !errors.Is(err, ErrUnknownSerial) {
			return err
		}
	}
	return fmt.Errorf("serial %q: %w", serial, ErrUnknownSerial)
}

func verifyRSA(key *rsa.PublicKey, message []byte, signature string) error {
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return fmt.Errorf("signature is not base64: %w", ErrBadSignature)
	}
	digest := sha256.Sum256(message)
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig) != nil {
		return ErrBadSignature
	}
	return nil
}

// answerMessage is the text an answer signature covers: timestamp, nonce and
// the body's raw bytes, each followed by a newline.
func answerMessage(timestamp, nonce string, body []byte) []byte {
	return signedText(body, timestamp, nonce)
}
