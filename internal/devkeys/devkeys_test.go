package devkeys

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// These tests never print keys, PEMs or the APIv3 key: failures name the
// field that is wrong, not its value.

func generate(t *testing.T) *Identity {
	t.Helper()
	id, err := Generate()
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return id
}

func TestGenerate(t *testing.T) {
	id := generate(t)
	now := time.Now()

	if id.MchID != DefaultMchID {
		t.Errorf("MchID = %q, want %q", id.MchID, DefaultMchID)
	}
	if !regexp.MustCompile(`^[0-9A-F]{40}$`).MatchString(id.MerchantSerialNo) {
		t.Errorf("MerchantSerialNo = %q, want 40 upper-case hex characters", id.MerchantSerialNo)
	}
	if !regexp.MustCompile(`^PUB_KEY_ID_[0-9]{32}$`).MatchString(id.PublicKeyID) {
		t.Errorf("PublicKeyID = %q, want PUB_KEY_ID_ and 32 digits", id.PublicKeyID)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9]{32}$`).MatchString(id.APIv3Key) {
		t.Error("APIv3Key is not 32 ASCII letters and digits")
	}

	mk := parsePKCS8(t, "MerchantKeyPEM", id.MerchantKeyPEM)
	if !mk.Equal(id.MerchantKey) {
		t.Error("MerchantKeyPEM does not hold MerchantKey")
	}
	pub := parsePKIX(t, "WechatpayPublicKeyPEM", id.WechatpayPublicKeyPEM)
	if !pub.Equal(&id.WechatpayKey.PublicKey) {
		t.Error("WechatpayPublicKeyPEM does not hold WechatpayKey's public key")
	}

	keys := []*rsa.PrivateKey{id.MerchantKey, id.WechatpayKey}
	if len(id.Certificates) != 2 {
		t.Fatalf("%d certificates, want 2", len(id.Certificates))
	}
	for i, c := range id.Certificates {
		checkCertificate(t, i, c)
		if c.Cert.NotBefore.After(now.Add(-59*time.Minute)) || c.Cert.NotBefore.Before(now.Add(-61*time.Minute)) {
			t.Errorf("certificate %d: NotBefore %s, want about an hour ago", i, c.Cert.NotBefore)
		}
		if d := c.Cert.NotAfter.Sub(now); d < 364*24*time.Hour || d > 367*24*time.Hour {
			t.Errorf("certificate %d: NotAfter %s, want about a year from now", i, c.Cert.NotAfter)
		}
		keys = append(keys, c.Key)
	}
	if id.Certificates[0].SerialNo == id.Certificates[1].SerialNo {
		t.Error("the two certificates share a serial number")
	}
	for i := range keys {
		if keys[i].N.BitLen() != KeyBits {
			t.Errorf("key %d has %d bits, want %d", i, keys[i].N.BitLen(), KeyBits)
		}
		for j := range i {
			if keys[i].Equal(keys[j]) {
				t.Errorf("keys %d and %d are the same", j, i)
			}
		}
	}
}

func checkCertificate(t *testing.T, i int, c Certificate) {
	t.Helper()
	if !regexp.MustCompile(`^[0-9A-F]{40}$`).MatchString(c.SerialNo) {
		t.Errorf("certificate %d: SerialNo = %q, want 40 upper-case hex characters", i, c.SerialNo)
	}
	block, rest := pem.Decode([]byte(c.PEM))
	if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 {
		t.Fatalf("certificate %d: PEM is not one CERTIFICATE block", i)
	}
	parsed, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("certificate %d: PEM does not parse: %v", i, err)
	}
	if !parsed.Equal(c.Cert) {
		t.Errorf("certificate %d: PEM and Cert differ", i)
	}
	if got := parsed.SerialNumber.Text(16); !strings.EqualFold(got, c.SerialNo) {
		t.Errorf("certificate %d: serial %s, SerialNo %s", i, got, c.SerialNo)
	}
	if pub, ok := parsed.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&c.Key.PublicKey) {
		t.Errorf("certificate %d: Key is not the certificate's key", i)
	}
	if err := parsed.CheckSignature(parsed.SignatureAlgorithm, parsed.RawTBSCertificate, parsed.Signature); err != nil {
		t.Errorf("certificate %d: not self-signed: %v", i, err)
	}
}

func parsePKCS8(t *testing.T, what, s string) *rsa.PrivateKey {
	t.Helper()
	block, rest := pem.Decode([]byte(s))
	if block == nil || block.Type != "PRIVATE KEY" || len(rest) != 0 {
		t.Fatalf("%s is not one PRIVATE KEY block", what)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("%s does not parse as PKCS#8: %v", what, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("%s is not an RSA key", what)
	}
	return rk
}

func parsePKIX(t *testing.T, what, s string) *rsa.PublicKey {
	t.Helper()
	block, rest := pem.Decode([]byte(s))
	if block == nil || block.Type != "PUBLIC KEY" || len(rest) != 0 {
		t.Fatalf("%s is not one PUBLIC KEY block", what)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatalf("%s does not parse as PKIX: %v", what, err)
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		t.Fatalf("%s is not an RSA key", what)
	}
	return rk
}

func TestSaveLoadRoundTrip(t *testing.T) {
	id := generate(t)
	dir := filepath.Join(t.TempDir(), "keys")
	if err := id.Save(dir); err != nil {
		t.Fatalf("Save: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v, want no access for group and others", e.Name(), perm)
		}
	}

	got, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	same := func(what string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("after Save and Load, %s differs", what)
		}
	}
	same("MchID", got.MchID == id.MchID)
	same("MerchantSerialNo", got.MerchantSerialNo == id.MerchantSerialNo)
	same("MerchantKey", got.MerchantKey.Equal(id.MerchantKey))
	same("MerchantKeyPEM", got.MerchantKeyPEM == id.MerchantKeyPEM)
	same("PublicKeyID", got.PublicKeyID == id.PublicKeyID)
	same("WechatpayKey", got.WechatpayKey.Equal(id.WechatpayKey))
	same("WechatpayPublicKeyPEM", got.WechatpayPublicKeyPEM == id.WechatpayPublicKeyPEM)
	same("APIv3Key", got.APIv3Key == id.APIv3Key)
	if len(got.Certificates) != len(id.Certificates) {
		t.Fatalf("after Save and Load, %d certificates, want %d", len(got.Certificates), len(id.Certificates))
	}
	for i := range id.Certificates {
		g, w := got.Certificates[i], id.Certificates[i]
		same("certificate SerialNo", g.SerialNo == w.SerialNo)
		same("certificate Cert", g.Cert.Equal(w.Cert))
		same("certificate PEM", g.PEM == w.PEM)
		same("certificate Key", g.Key.Equal(w.Key))
	}

	for _, mode := range []Mode{ModePublicKey, ModeCertificates, ModeAPIv3Key, ModeMigration} {
		a, err1 := id.SecretJSON(mode)
		b, err2 := got.SecretJSON(mode)
		if err1 != nil || err2 != nil || string(a) != string(b) {
			t.Errorf("SecretJSON(%s) differs after Save and Load (errors %v, %v)", mode, err1, err2)
		}
	}
}

func TestLoadMissingAndCorrupt(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of an empty directory: %v, want fs.ErrNotExist", err)
	}

	id := generate(t)
	dir := t.TempDir()
	if err := id.Save(dir); err != nil {
		t.Fatal(err)
	}
	// Swap the two platform keys: each certificate then has the other's key.
	k0 := filepath.Join(dir, "platform_key_0.pem")
	k1 := filepath.Join(dir, "platform_key_1.pem")
	b0, _ := os.ReadFile(k0)
	b1, _ := os.ReadFile(k1)
	if err := os.WriteFile(k0, b1, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k1, b0, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil {
		t.Error("Load accepted certificates with swapped keys")
	}

	// identity.json may not point outside the directory.
	ix, _ := os.ReadFile(filepath.Join(dir, indexFile))
	var m map[string]any
	if err := json.Unmarshal(ix, &m); err != nil {
		t.Fatal(err)
	}
	m["platform_certificates"] = []map[string]string{{"certificate": "../cert.pem", "private_key": "platform_key_0.pem"}}
	ix, _ = json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, indexFile), ix, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil {
		t.Error("Load followed a path outside the key directory")
	}
}

func TestLoadOrGenerate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	first, generated, err := LoadOrGenerate(dir)
	if err != nil || !generated {
		t.Fatalf("LoadOrGenerate on an empty directory: generated=%v, err=%v; want a new identity", generated, err)
	}
	second, generated, err := LoadOrGenerate(dir)
	if err != nil || generated {
		t.Fatalf("LoadOrGenerate again: generated=%v, err=%v; want the saved identity", generated, err)
	}
	if !second.MerchantKey.Equal(first.MerchantKey) || second.PublicKeyID != first.PublicKeyID {
		t.Error("LoadOrGenerate did not load the identity it saved")
	}
}

func TestSecretJSON(t *testing.T) {
	id := generate(t)
	base := []string{"mchid", "merchant_serial_no", "private_key"}
	pubKey := []string{"wechatpay_public_key_id", "wechatpay_public_key"}
	tests := []struct {
		mode Mode
		want []string
	}{
		{ModePublicKey, append(slices.Clone(base), pubKey...)},
		{ModeCertificates, append(slices.Clone(base), "platform_certificates")},
		{ModeAPIv3Key, append(slices.Clone(base), "apiv3_key")},
		{ModeMigration, append(append(slices.Clone(base), pubKey...), "platform_certificates")},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			b, err := id.SecretJSON(tt.mode)
			if err != nil {
				t.Fatalf("SecretJSON: %v", err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("SecretJSON is not a JSON object: %v", err)
			}
			var keys []string
			for k := range m {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(keys, want) {
				t.Fatalf("fields %v, want %v", keys, want)
			}

			var s secret
			if err := json.Unmarshal(b, &s); err != nil {
				t.Fatal(err)
			}
			if s.MchID != id.MchID || s.MerchantSerialNo != id.MerchantSerialNo {
				t.Error("mchid or merchant_serial_no is not the identity's")
			}
			if !parsePKCS8(t, "private_key", s.PrivateKey).Equal(id.MerchantKey) {
				t.Error("private_key is not the merchant key")
			}
			if slices.Contains(tt.want, "wechatpay_public_key") {
				if s.WechatpayPublicKeyID != id.PublicKeyID {
					t.Error("wechatpay_public_key_id is not the identity's")
				}
				if !parsePKIX(t, "wechatpay_public_key", s.WechatpayPublicKey).Equal(&id.WechatpayKey.PublicKey) {
					t.Error("wechatpay_public_key is not WeChat Pay's public key")
				}
			}
			if slices.Contains(tt.want, "platform_certificates") {
				if len(s.PlatformCertificates) != len(id.Certificates) {
					t.Fatalf("%d platform_certificates, want %d", len(s.PlatformCertificates), len(id.Certificates))
				}
				for i, p := range s.PlatformCertificates {
					block, _ := pem.Decode([]byte(p))
					if block == nil {
						t.Fatalf("platform_certificates[%d] is not PEM", i)
					}
					c, err := x509.ParseCertificate(block.Bytes)
					if err != nil || !c.Equal(id.Certificates[i].Cert) {
						t.Errorf("platform_certificates[%d] is not certificate %d (%v)", i, i, err)
					}
				}
			}
			if slices.Contains(tt.want, "apiv3_key") && s.APIv3Key != id.APIv3Key {
				t.Error("apiv3_key is not the identity's")
			}
		})
	}

	if _, err := id.SecretJSON("bogus"); err == nil {
		t.Error("SecretJSON accepted an unknown mode")
	}
	partial := *id
	partial.Certificates = nil
	if _, err := partial.SecretJSON(ModeMigration); err == nil {
		t.Error("SecretJSON(migration) accepted an identity without certificates")
	}
}

func TestNewCertificate(t *testing.T) {
	notBefore := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	notAfter := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	c, err := NewCertificate(notBefore, notAfter)
	if err != nil {
		t.Fatalf("NewCertificate: %v", err)
	}
	checkCertificate(t, 0, c)
	if !c.Cert.NotBefore.Equal(notBefore) || !c.Cert.NotAfter.Equal(notAfter) {
		t.Errorf("validity %s to %s, want %s to %s", c.Cert.NotBefore, c.Cert.NotAfter, notBefore, notAfter)
	}
	if _, err := NewCertificate(notAfter, notBefore); err == nil {
		t.Error("NewCertificate accepted notAfter before notBefore")
	}
}
