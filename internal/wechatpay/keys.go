package wechatpay

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ParsePrivateKey reads an RSA private key from PEM, PKCS#8 ("PRIVATE KEY",
// as WeChat Pay's apiclient_key.pem) or PKCS#1 ("RSA PRIVATE KEY").
// Its errors never quote the key.
func ParsePrivateKey(pemText string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, errors.New("private key: no PEM block")
	}
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("private key: not a valid PKCS#8 key")
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("private key: %T is not an RSA key", k)
		}
		return rk, nil
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("private key: not a valid PKCS#1 key")
		}
		return k, nil
	default:
		return nil, fmt.Errorf("private key: PEM block %q is not a private key", block.Type)
	}
}

// ParsePublicKey reads an RSA public key from PEM: PKIX ("PUBLIC KEY", as
// WeChat Pay's pub_key.pem) or PKCS#1 ("RSA PUBLIC KEY").
func ParsePublicKey(pemText string) (*rsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, errors.New("public key: no PEM block")
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key: %T is not an RSA key", k)
		}
		return rk, nil
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("public key: PEM block %q is not a public key", block.Type)
	}
}

// ParseCertificate reads one X.509 certificate from PEM.
func ParseCertificate(pemText string) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("certificate: no CERTIFICATE PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("certificate %X: not an RSA key", c.SerialNumber)
	}
	return c, nil
}

// SerialOf renders a certificate's serial number as WeChat Pay writes it in
// Wechatpay-Serial: upper-case hexadecimal (without leading zeros; compare
// with NormalizeSerial, since WeChat Pay pads serials to a fixed width).
func SerialOf(c *x509.Certificate) string { return fmt.Sprintf("%X", c.SerialNumber) }

// NormalizeSerial puts a hexadecimal certificate serial in SerialOf's form:
// upper case, leading zeros dropped, so "0a1b" and "A1B" name one certificate.
func NormalizeSerial(serial string) string {
	s := strings.TrimLeft(strings.ToUpper(serial), "0")
	if s == "" && serial != "" {
		return "0"
	}
	return s
}
