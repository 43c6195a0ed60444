// Package merchant reads the merchant secret — the JSON document the
// contract fixes — into the credentials the WeChat Pay client signs and
// verifies with. It runs once per secret version, not once per request.
package merchant

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/campuspay/contracts/internal/wechatpay"
)

// Secret is the SecretString's JSON, as CONTRACT.md ("The secret") fixes it.
// The parts a merchant does not use are left out when it is written
// (cmd/makesecret writes it).
type Secret struct {
	MchID                string   `json:"mchid"`
	MerchantSerialNo     string   `json:"merchant_serial_no"`
	PrivateKey           string   `json:"private_key"`
	WechatpayPublicKeyID string   `json:"wechatpay_public_key_id,omitempty"`
	WechatpayPublicKey   string   `json:"wechatpay_public_key,omitempty"`
	PlatformCertificates []string `json:"platform_certificates,omitempty"`
	APIv3Key             string   `json:"apiv3_key,omitempty"`
}

// Merchant is a parsed secret.
type Merchant struct {
	Credentials wechatpay.Credentials
	// APIv3Key is set when platform certificates are to be downloaded.
	APIv3Key []byte
}

// Parse reads a SecretString without a certificate store: a secret with
// only apiv3_key then yields APIv3Key but no Verifier. Parser(store) is the
// parser that downloads platform certificates with the APIv3 key.
func Parse(secretString string) (*Merchant, error) {
	return Parser(nil)(secretString)
}

// Parser returns the parser of SecretStrings that a secret cache calls once
// per secret version. When store is not nil and a secret has apiv3_key, the
// merchant's Verifier also verifies with the platform certificates store
// downloads for it: each answer is verified with the key its
// Wechatpay-Serial names, the configured public key and certificates first,
// downloaded certificates for any other serial. The store, not the
// Merchant, holds the downloaded certificates, so they outlive the secret.
//
// The parser's errors name the fields at fault and never quote a value.
// Certificates are checked for validity when they verify, not here.
func Parser(store *wechatpay.CertificateStore) func(secretString string) (*Merchant, error) {
	return func(secretString string) (*Merchant, error) { return parse(secretString, store) }
}

func parse(secretString string, store *wechatpay.CertificateStore) (*Merchant, error) {
	var s Secret
	if err := json.Unmarshal([]byte(secretString), &s); err != nil {
		// The decoder's message can quote the secret's bytes: drop it.
		return nil, errors.New("the secret is not a JSON object of the documented shape")
	}
	var problems []string
	missing := func(name, v string) {
		if strings.TrimSpace(v) == "" {
			problems = append(problems, name+" is required")
		}
	}
	missing("mchid", s.MchID)
	missing("merchant_serial_no", s.MerchantSerialNo)
	missing("private_key", s.PrivateKey)

	m := &Merchant{Credentials: wechatpay.Credentials{
		MchID: strings.TrimSpace(s.MchID),
		// Sent exactly as configured: WeChat Pay compares serial_no as given.
		SerialNo: strings.TrimSpace(s.MerchantSerialNo),
	}}
	if s.PrivateKey != "" {
		key, err := wechatpay.ParsePrivateKey(s.PrivateKey)
		if err != nil {
			problems = append(problems, "private_key: "+err.Error())
		} else if key.N.BitLen() < 2048 {
			problems = append(problems, "private_key: must be an RSA key of 2048 bits or more")
		} else {
			m.Credentials.Signer = wechatpay.NewRSASigner(key)
		}
	}

	var verifiers wechatpay.Verifiers
	hasID, hasKey := s.WechatpayPublicKeyID != "", s.WechatpayPublicKey != ""
	switch {
	case hasID && hasKey:
		key, err := wechatpay.ParsePublicKey(s.WechatpayPublicKey)
		if err != nil {
			problems = append(problems, "wechatpay_public_key: "+err.Error())
		} else {
			id := strings.TrimSpace(s.WechatpayPublicKeyID)
			verifiers = append(verifiers, &wechatpay.PublicKeyVerifier{ID: id, Key: key})
			m.Credentials.PublicKeyID = id
		}
	case hasID:
		problems = append(problems, "wechatpay_public_key is required with wechatpay_public_key_id")
	case hasKey:
		problems = append(problems, "wechatpay_public_key_id is required with wechatpay_public_key")
	}
	if len(s.PlatformCertificates) > 0 {
		certs := make([]*x509.Certificate, 0, len(s.PlatformCertificates))
		for i, p := range s.PlatformCertificates {
			c, err := wechatpay.ParseCertificate(p)
			if err != nil {
				problems = append(problems, fmt.Sprintf("platform_certificates[%d]: %v", i, err))
				continue
			}
			certs = append(certs, c)
		}
		verifiers = append(verifiers, wechatpay.NewCertificateVerifier(certs, time.Now))
	}
	if s.APIv3Key != "" {
		if len(s.APIv3Key) != 32 {
			problems = append(problems, "apiv3_key must be 32 bytes")
		} else {
			m.APIv3Key = []byte(s.APIv3Key)
		}
	}
	if len(verifiers) == 0 && m.APIv3Key == nil && len(problems) == 0 {
		problems = append(problems, "a way to verify WeChat Pay is required: wechatpay_public_key_id with wechatpay_public_key, platform_certificates, or apiv3_key")
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	var configured wechatpay.Verifier
	if len(verifiers) == 1 {
		configured = verifiers[0]
	} else if len(verifiers) > 1 {
		configured = verifiers
	}
	m.Credentials.Verifier = configured
	if store != nil && m.APIv3Key != nil {
		// The store signs its download with these credentials (their
		// Verifier aside) and verifies the download itself.
		m.Credentials.Verifier = store.Verifier(m.Credentials, m.APIv3Key, configured)
	}
	return m, nil
}
