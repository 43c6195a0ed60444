// Package devkeys makes the key material of a WeChat Pay merchant, and of
// WeChat Pay itself, for local runs and tests: the merchant's API private key
// and certificate serial, WeChat Pay's public key and its ID, two platform
// certificates with their private keys, and an APIv3 key.
//
// Both sides of the exchange come out of one Identity, so that a simulator can
// verify what the function signs and sign what the function verifies. None of
// it is ever valid at WeChat Pay: the keys are generated on this machine.
//
// An Identity can be saved to a directory and loaded back, so that `make run`
// keeps the same keys (and the same merchant secret) between runs.
package devkeys

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// KeyBits is the size of every RSA key this package makes. WeChat Pay APIv3
// uses RSA 2048 for merchant keys, its public key and its platform certificates.
const KeyBits = 2048

// DefaultMchID is the merchant number Generate uses: WeChat Pay's documentation
// merchant, so that it reads as an example wherever it shows up.
const DefaultMchID = "1900000001"

// Certificate is a WeChat Pay platform certificate together with the private
// key that signs WeChat Pay's answers under it.
type Certificate struct {
	// SerialNo is the upper-case hex of the certificate serial, as WeChat
	// Pay's Wechatpay-Serial header carries it.
	SerialNo string
	Cert     *x509.Certificate
	// PEM is the certificate, "-----BEGIN CERTIFICATE-----…".
	PEM string
	// Key is the platform private key that signs answers.
	Key *rsa.PrivateKey
}

// Identity is everything a merchant and WeChat Pay hold between them.
type Identity struct {
	MchID string // e.g. "1900000001"
	// MerchantSerialNo is the merchant API certificate serial, 40 upper-case
	// hex characters, sent as serial_no in the Authorization header.
	MerchantSerialNo string
	MerchantKey      *rsa.PrivateKey
	// MerchantKeyPEM is MerchantKey as PKCS#8, "-----BEGIN PRIVATE KEY-----".
	MerchantKeyPEM string
	// PublicKeyID names WeChat Pay's public key: "PUB_KEY_ID_" and digits.
	PublicKeyID string
	// WechatpayKey is the private half of WeChat Pay's public key (public-key mode).
	WechatpayKey *rsa.PrivateKey
	// WechatpayPublicKeyPEM is WechatpayKey's public key, PKIX, "-----BEGIN PUBLIC KEY-----".
	WechatpayPublicKeyPEM string
	// Certificates are the platform certificates (two from Generate, with distinct keys).
	Certificates []Certificate
	// APIv3Key is the 32-character key that encrypts the certificate download.
	APIv3Key string
}

// Mode selects which ways of verifying WeChat Pay's answers a merchant secret
// carries (CONTRACT.md, "The secret").
type Mode string

// The secret's modes.
const (
	// ModePublicKey: WeChat Pay public key and its ID.
	ModePublicKey Mode = "publickey"
	// ModeCertificates: platform certificates, as PEMs.
	ModeCertificates Mode = "certificates"
	// ModeAPIv3Key: only the APIv3 key; certificates are downloaded with it.
	ModeAPIv3Key Mode = "apiv3key"
	// ModeMigration: public key and platform certificates both, as a merchant
	// moving from certificates to the public key holds them.
	ModeMigration Mode = "migration"
)

// Generate makes a fresh Identity: merchant key, WeChat Pay public key, two
// platform certificates valid from an hour ago to a year from now, and an
// APIv3 key. The four RSA keys are generated concurrently, since key
// generation dominates the time tests spend here.
func Generate() (*Identity, error) {
	now := time.Now()
	type result struct {
		key *rsa.PrivateKey
		err error
	}
	results := make([]chan result, 4)
	for i := range results {
		results[i] = make(chan result, 1)
		go func(c chan<- result) {
			k, err := rsa.GenerateKey(rand.Reader, KeyBits)
			c <- result{k, err}
		}(results[i])
	}
	keys := make([]*rsa.PrivateKey, len(results))
	var errs []error
	for i, c := range results {
		r := <-c
		keys[i], errs = r.key, append(errs, r.err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("devkeys: generating RSA keys: %w", err)
	}

	id := &Identity{MchID: DefaultMchID, MerchantKey: keys[0], WechatpayKey: keys[1]}
	var err error
	if id.MerchantSerialNo, err = randomSerialHex(); err != nil {
		return nil, err
	}
	if id.PublicKeyID, err = randomPublicKeyID(id.MchID); err != nil {
		return nil, err
	}
	if id.APIv3Key, err = randomString(32, alphanumeric); err != nil {
		return nil, err
	}
	if id.MerchantKeyPEM, err = privateKeyPEM(id.MerchantKey); err != nil {
		return nil, err
	}
	if id.WechatpayPublicKeyPEM, err = publicKeyPEM(&id.WechatpayKey.PublicKey); err != nil {
		return nil, err
	}
	for _, k := range keys[2:] {
		c, err := certificateWithKey(k, now.Add(-time.Hour), now.AddDate(1, 0, 0))
		if err != nil {
			return nil, err
		}
		id.Certificates = append(id.Certificates, c)
	}
	return id, nil
}

// NewCertificate makes a self-signed platform certificate with its own new
// key, valid from notBefore to notAfter; with dates in the past it makes an
// expired certificate, for tests of how expiry is handled.
func NewCertificate(notBefore, notAfter time.Time) (Certificate, error) {
	if !notAfter.After(notBefore) {
		return Certificate{}, fmt.Errorf("devkeys: certificate would expire (%s) before it starts (%s)", notAfter, notBefore)
	}
	k, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		return Certificate{}, fmt.Errorf("devkeys: generating RSA key: %w", err)
	}
	return certificateWithKey(k, notBefore, notAfter)
}

// certificateWithKey self-signs a certificate for k. Its subject is the one
// WeChat Pay's platform certificates carry, so that it reads like one in logs.
func certificateWithKey(k *rsa.PrivateKey, notBefore, notAfter time.Time) (Certificate, error) {
	serialHex, err := randomSerialHex()
	if err != nil {
		return Certificate{}, err
	}
	serial, _ := new(big.Int).SetString(serialHex, 16)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         "Tenpay.com sign",
			Organization:       []string{"Tenpay.com"},
			OrganizationalUnit: []string{"Tenpay.com CA Center"},
			Country:            []string{"CN"},
			Province:           []string{"Guangdong Province"},
			Locality:           []string{"Shenzhen"},
		},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return Certificate{}, fmt.Errorf("devkeys: creating certificate: %w", err)
	}
	return certificateFromDER(der, k)
}

// certificateFromDER completes a Certificate from its DER bytes and key,
// checking that the two belong together.
func certificateFromDER(der []byte, k *rsa.PrivateKey) (Certificate, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Certificate{}, fmt.Errorf("devkeys: parsing certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&k.PublicKey) {
		return Certificate{}, errors.New("devkeys: certificate does not match its private key")
	}
	return Certificate{
		SerialNo: fmt.Sprintf("%X", cert.SerialNumber),
		Cert:     cert,
		PEM:      string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		Key:      k,
	}, nil
}

// secret is the merchant secret's JSON (CONTRACT.md, "The secret"). Fields a
// mode leaves out are omitted rather than empty, as a merchant would write it.
type secret struct {
	MchID                string   `json:"mchid"`
	MerchantSerialNo     string   `json:"merchant_serial_no"`
	PrivateKey           string   `json:"private_key"`
	WechatpayPublicKeyID string   `json:"wechatpay_public_key_id,omitempty"`
	WechatpayPublicKey   string   `json:"wechatpay_public_key,omitempty"`
	PlatformCertificates []string `json:"platform_certificates,omitempty"`
	APIv3Key             string   `json:"apiv3_key,omitempty"`
}

// SecretJSON renders the merchant secret for mode: always mchid,
// merchant_serial_no and private_key, and then
//   - ModePublicKey: wechatpay_public_key_id and wechatpay_public_key;
//   - ModeCertificates: platform_certificates (PEMs);
//   - ModeAPIv3Key: apiv3_key only;
//   - ModeMigration: the public key fields and platform_certificates.
//
// It fails for an unknown mode, or when id lacks what the mode needs.
func (id *Identity) SecretJSON(mode Mode) ([]byte, error) {
	s := secret{MchID: id.MchID, MerchantSerialNo: id.MerchantSerialNo, PrivateKey: id.MerchantKeyPEM}
	if s.MchID == "" || s.MerchantSerialNo == "" || s.PrivateKey == "" {
		return nil, errors.New("devkeys: identity lacks the merchant's mchid, serial number or private key")
	}
	withPublicKey := func() error {
		if id.PublicKeyID == "" || id.WechatpayPublicKeyPEM == "" {
			return errors.New("devkeys: identity lacks the WeChat Pay public key")
		}
		s.WechatpayPublicKeyID, s.WechatpayPublicKey = id.PublicKeyID, id.WechatpayPublicKeyPEM
		return nil
	}
	withCertificates := func() error {
		if len(id.Certificates) == 0 {
			return errors.New("devkeys: identity has no platform certificates")
		}
		for _, c := range id.Certificates {
			s.PlatformCertificates = append(s.PlatformCertificates, c.PEM)
		}
		return nil
	}
	var err error
	switch mode {
	case ModePublicKey:
		err = withPublicKey()
	case ModeCertificates:
		err = withCertificates()
	case ModeAPIv3Key:
		if len(id.APIv3Key) != 32 {
			err = errors.New("devkeys: identity lacks a 32-character APIv3 key")
		}
		s.APIv3Key = id.APIv3Key
	case ModeMigration:
		err = errors.Join(withPublicKey(), withCertificates())
	default:
		err = fmt.Errorf("devkeys: unknown secret mode %q (want %s, %s, %s or %s)",
			mode, ModePublicKey, ModeCertificates, ModeAPIv3Key, ModeMigration)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(s)
}

// privateKeyPEM encodes k as PKCS#8, the form WeChat Pay hands merchants
// (apiclient_key.pem).
func privateKeyPEM(k *rsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", fmt.Errorf("devkeys: encoding private key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

// publicKeyPEM encodes k as PKIX, the form of WeChat Pay's public key file
// (pub_key.pem).
func publicKeyPEM(k *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return "", fmt.Errorf("devkeys: encoding public key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

const (
	alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	digits       = "0123456789"
)

// randomString returns n characters drawn uniformly from alphabet.
func randomString(n int, alphabet string) (string, error) {
	var b strings.Builder
	max := big.NewInt(int64(len(alphabet)))
	for range n {
		i, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("devkeys: reading randomness: %w", err)
		}
		b.WriteByte(alphabet[i.Int64()])
	}
	return b.String(), nil
}

// randomSerialHex returns a 20-byte positive serial number as exactly 40
// upper-case hex characters: the first byte is kept between 0x10 and 0x7f so
// that the number neither loses leading zeros nor turns negative in DER.
func randomSerialHex() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("devkeys: reading randomness: %w", err)
	}
	b[0] = 0x10 | b[0]&0x6f
	return fmt.Sprintf("%X", b), nil
}

// randomPublicKeyID returns an ID shaped like WeChat Pay's:
// "PUB_KEY_ID_" then "01", the merchant number and random digits, 32 digits in all.
func randomPublicKeyID(mchID string) (string, error) {
	n := 30 - len(mchID)
	if n < 0 {
		n = 0
	}
	tail, err := randomString(n, digits)
	if err != nil {
		return "", err
	}
	return "PUB_KEY_ID_01" + mchID + tail, nil
}
