package wechatpaysim

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"net/http"
	"time"
)

// certificateItem is one entry of GET /v3/certificates.
type certificateItem struct {
	SerialNo           string               `json:"serial_no"`
	EffectiveTime      string               `json:"effective_time"`
	ExpireTime         string               `json:"expire_time"`
	EncryptCertificate encryptedCertificate `json:"encrypt_certificate"`
}

// encryptedCertificate is a certificate PEM sealed with AEAD_AES_256_GCM
// under the merchant's APIv3 key.
type encryptedCertificate struct {
	Algorithm      string `json:"algorithm"`
	Nonce          string `json:"nonce"`
	AssociatedData string `json:"associated_data"`
	Ciphertext     string `json:"ciphertext"`
}

// certificateAAD is the associated data WeChat Pay seals certificates with.
const certificateAAD = "certificate"

// certificates answers GET /v3/certificates: every platform certificate of
// the identity, each PEM sealed with AES-256-GCM under the APIv3 key as
// WeChat Pay seals it — the key is the 32 ASCII bytes of the APIv3 key, the
// nonce 12 ASCII characters used as they are, and ciphertext the base64 of
// the sealed bytes with the 16-byte tag at their end. The answer is signed
// with a platform certificate whatever the sign mode, as WeChat Pay signs
// its certificate download.
func (s *Server) certificates() answer {
	gcm, err := newGCM(s.id.APIv3Key)
	if err != nil {
		return errorAnswer(http.StatusInternalServerError, "SYSTEM_ERROR", "the APIv3 key of this merchant is not 32 bytes")
	}
	items := []certificateItem{}
	for _, c := range s.id.Certificates {
		nonce := randomString(12, alphanumeric)
		sealed := gcm.Seal(nil, []byte(nonce), []byte(c.PEM), []byte(certificateAAD))
		items = append(items, certificateItem{
			SerialNo:      c.SerialNo,
			EffectiveTime: c.Cert.NotBefore.In(chinaTime()).Format(time.RFC3339),
			ExpireTime:    c.Cert.NotAfter.In(chinaTime()).Format(time.RFC3339),
			EncryptCertificate: encryptedCertificate{
				Algorithm:      "AEAD_AES_256_GCM",
				Nonce:          nonce,
				AssociatedData: certificateAAD,
				Ciphertext:     base64.StdEncoding.EncodeToString(sealed),
			},
		})
	}
	return answer{
		status: http.StatusOK,
		body: marshal(struct {
			Data []certificateItem `json:"data"`
		}{items}),
		platformCert: true,
	}
}

// newGCM makes the AES-256-GCM AEAD keyed with the APIv3 key.
func newGCM(apiv3Key string) (cipher.AEAD, error) {
	if len(apiv3Key) != 32 {
		return nil, aes.KeySizeError(len(apiv3Key))
	}
	block, err := aes.NewCipher([]byte(apiv3Key))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
