package wechatpay

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"strings"
	"testing"
)

// sealAEAD seals plaintext as WeChat Pay documents AEAD_AES_256_GCM, with
// crypto/cipher directly rather than this package's code: key and nonce are
// the strings' bytes, and the result is base64 of ciphertext||tag.
func sealAEAD(t testing.TB, key, nonce, aad string, plaintext []byte) string {
	t.Helper()
	block, err := aes.NewCipher([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(gcm.Seal(nil, []byte(nonce), plaintext, []byte(aad)))
}

func TestDecryptAEADAES256GCM(t *testing.T) {
	const (
		key   = "0123456789abcdefghijABCDEFGHIJ_-" // 32 ASCII bytes, as APIv3 keys are
		nonce = "q8WvyFgF8gxo"                     // 12 ASCII bytes, as WeChat Pay sends
		aad   = "certificate"
	)
	plain := []byte("-----BEGIN CERTIFICATE-----\nMIID…\n-----END CERTIFICATE-----\n")
	sealed := sealAEAD(t, key, nonce, aad, plain)
	if raw, _ := base64.StdEncoding.DecodeString(sealed); len(raw) != len(plain)+16 {
		t.Fatalf("the vector is %d bytes; want the plaintext's %d and a 16-byte tag", len(raw), len(plain))
	}

	got, err := DecryptAEADAES256GCM(key, nonce, aad, sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("DecryptAEADAES256GCM = %q, %v; want %q", got, err, plain)
	}

	tampered := func() string {
		raw, _ := base64.StdEncoding.DecodeString(sealed)
		raw[3] ^= 0x01
		return base64.StdEncoding.EncodeToString(raw)
	}()
	tamperedTag := func() string {
		raw, _ := base64.StdEncoding.DecodeString(sealed)
		raw[len(raw)-1] ^= 0x80
		return base64.StdEncoding.EncodeToString(raw)
	}()
	otherKey := strings.Repeat("K", 32)
	refusals := []struct {
		name, key, nonce, aad, ciphertext, want string
	}{
		{"tampered ciphertext", key, nonce, aad, tampered, "authentication failed"},
		{"tampered tag", key, nonce, aad, tamperedTag, "authentication failed"},
		{"wrong key", otherKey, nonce, aad, sealed, "authentication failed"},
		{"wrong associated data", key, nonce, "transaction", sealed, "authentication failed"},
		{"wrong nonce", key, "q8WvyFgF8gxp", aad, sealed, "authentication failed"},
		{"short nonce", key, nonce[:11], aad, sealed, "nonce is 11 bytes"},
		{"long nonce", key, nonce + "x", aad, sealed, "nonce is 13 bytes"},
		{"no nonce", key, "", aad, sealed, "nonce is 0 bytes"},
		{"short key", key[:16], nonce, aad, sealed, "APIv3 key is 16 bytes"},
		{"bad base64", key, nonce, aad, "%%%not base64", "not base64"},
		{"shorter than the tag", key, nonce, aad, base64.StdEncoding.EncodeToString([]byte("short")), "authentication failed"},
		{"empty ciphertext", key, nonce, aad, "", "authentication failed"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecryptAEADAES256GCM(tt.key, tt.nonce, tt.aad, tt.ciphertext)
			if err == nil || got != nil {
				t.Fatalf("DecryptAEADAES256GCM = %q, %v; want an error", got, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v; want it to say %q", err, tt.want)
			}
			for _, secret := range []string{key, otherKey, key[:16], string(plain)} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error carries key material or plaintext: %v", err)
				}
			}
		})
	}
}
