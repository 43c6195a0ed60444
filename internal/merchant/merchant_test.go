package merchant

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/campuspay/contracts/internal/wechatpay"
)

func pemOf(t *testing.T, typ string, der []byte) string {
	t.Helper()
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func TestParse(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	pkcs8PEM := pemOf(t, "PRIVATE KEY", pkcs8)
	pkcs1PEM := pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
	smallDER, _ := x509.MarshalPKCS8PrivateKey(small)
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pubPEM := pemOf(t, "PUBLIC KEY", pubDER)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x1234ABCD), Subject: pkix.Name{CommonName: "Tenpay"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	certDER, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	certPEM := pemOf(t, "CERTIFICATE", certDER)

	base := func(edit func(s *Secret)) string {
		s := Secret{MchID: "1900000001", MerchantSerialNo: " 5157F09EFDC096DE15EBE81A47057A7232F1B8E1\n", PrivateKey: pkcs8PEM,
			WechatpayPublicKeyID: "PUB_KEY_ID_01", WechatpayPublicKey: pubPEM}
		if edit != nil {
			edit(&s)
		}
		b, _ := json.Marshal(s)
		return string(b)
	}

	t.Run("public key mode", func(t *testing.T) {
		m, err := Parse(base(nil))
		if err != nil {
			t.Fatal(err)
		}
		c := m.Credentials
		if c.MchID != "1900000001" || c.SerialNo != "5157F09EFDC096DE15EBE81A47057A7232F1B8E1" || c.PublicKeyID != "PUB_KEY_ID_01" || c.Signer == nil {
			t.Errorf("credentials %+v", c)
		}
		if _, ok := c.Verifier.(*wechatpay.PublicKeyVerifier); !ok {
			t.Errorf("verifier %T", c.Verifier)
		}
	})
	t.Run("PKCS#1 key and certificates", func(t *testing.T) {
		m, err := Parse(base(func(s *Secret) {
			s.PrivateKey, s.WechatpayPublicKeyID, s.WechatpayPublicKey = pkcs1PEM, "", ""
			s.PlatformCertificates = []string{certPEM}
		}))
		if err != nil {
			t.Fatal(err)
		}
		cv, ok := m.Credentials.Verifier.(*wechatpay.CertificateVerifier)
		if !ok || m.Credentials.PublicKeyID != "" || len(cv.Serials()) != 1 || cv.Serials()[0] != "1234ABCD" {
			t.Errorf("verifier %T %+v", m.Credentials.Verifier, m.Credentials)
		}
	})
	t.Run("migration holds both", func(t *testing.T) {
		m, err := Parse(base(func(s *Secret) { s.PlatformCertificates = []string{certPEM} }))
		if err != nil {
			t.Fatal(err)
		}
		if vs, ok := m.Credentials.Verifier.(wechatpay.Verifiers); !ok || len(vs) != 2 {
			t.Errorf("verifier %T", m.Credentials.Verifier)
		}
	})
	t.Run("APIv3 key alone", func(t *testing.T) {
		m, err := Parse(base(func(s *Secret) {
			s.WechatpayPublicKeyID, s.WechatpayPublicKey = "", ""
			s.APIv3Key = strings.Repeat("k", 32)
		}))
		if err != nil || string(m.APIv3Key) != strings.Repeat("k", 32) {
			t.Fatalf("%v", err)
		}
	})

	refusals := []struct {
		name, secret, want string
	}{
		{"not JSON", "-----BEGIN PRIVATE KEY-----", "not a JSON object"},
		{"no mchid", base(func(s *Secret) { s.MchID = "" }), "mchid is required"},
		{"no serial", base(func(s *Secret) { s.MerchantSerialNo = " " }), "merchant_serial_no is required"},
		{"no key", base(func(s *Secret) { s.PrivateKey = "" }), "private_key is required"},
		{"garbage key", base(func(s *Secret) {
			s.PrivateKey = "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkq\n-----END PRIVATE KEY-----\n"
		}), "private_key: "},
		{"small key", base(func(s *Secret) { s.PrivateKey = pemOf(t, "PRIVATE KEY", smallDER) }), "2048 bits"},
		{"id without key", base(func(s *Secret) { s.WechatpayPublicKey = "" }), "wechatpay_public_key is required"},
		{"key without id", base(func(s *Secret) { s.WechatpayPublicKeyID = "" }), "wechatpay_public_key_id is required"},
		{"no way to verify", base(func(s *Secret) { s.WechatpayPublicKeyID, s.WechatpayPublicKey = "", "" }), "a way to verify"},
		{"bad certificate", base(func(s *Secret) { s.PlatformCertificates = []string{"nope"} }), "platform_certificates[0]"},
		{"short APIv3 key", base(func(s *Secret) { s.APIv3Key = "short" }), "apiv3_key must be 32 bytes"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.secret)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "MII") || strings.Contains(err.Error(), "BEGIN") {
				t.Errorf("error quotes key material: %v", err)
			}
		})
	}
}
