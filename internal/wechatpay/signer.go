package wechatpay

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// Signer signs the message of an APIv3 request with the merchant's private key.
type Signer interface {
	// Sign returns the base64 signature of message.
	Sign(message []byte) (string, error)
}

// RSASigner signs with RSA PKCS#1 v1.5 over SHA-256, the only algorithm of
// WECHATPAY2-SHA256-RSA2048.
type RSASigner struct {
	key *rsa.PrivateKey
}

// NewRSASigner returns a Signer for key. The key's CRT values are
// precomputed once here rather than on every signature.
func NewRSASigner(key *rsa.PrivateKey) *RSASigner {
	key.Precompute()
	return &RSASigner{key: key}
}

// Sign implements Signer.
func (s *RSASigner) Sign(message []byte) (string, error) {
	digest := sha256.Sum256(message)
	sig, err := rsa.SignPKCS1v15(nil, s.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign request: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// requestMessage is the text an APIv3 request signature covers:
// method, path with query exactly as sent, timestamp, nonce and body, each
// followed by a newline.
func requestMessage(method, pathAndQuery, timestamp, nonce string, body []byte) []byte {
	return signedText(body, method, pathAndQuery, timestamp, nonce)
}

// signedText is the form of every text WeChat Pay signs: each part, then the
// body, each followed by a newline.
func signedText(body []byte, parts ...string) []byte {
	n := len(body) + len(parts) + 1
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p...)
		b = append(b, '\n')
	}
	b = append(b, body...)
	return append(b, '\n')
}

// authorization renders the Authorization header of a signed request.
func authorization(mchid, nonce, signature, timestamp, serialNo string) string {
	return `WECHATPAY2-SHA256-RSA2048 mchid="` + mchid + `",nonce_str="` + nonce +
		`",signature="` + signature + `",timestamp="` + timestamp + `",serial_no="` + serialNo + `"`
}
