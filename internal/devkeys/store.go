package devkeys

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Files Save writes. Private keys are PKCS#8 PEM; the index file is written
// last, so a directory without it holds no complete Identity.
const (
	indexFile              = "identity.json"
	merchantKeyFile        = "merchant_key.pem"
	wechatpayKeyFile       = "wechatpay_key.pem"
	wechatpayPublicKeyFile = "wechatpay_public_key.pem"
)

// index is identity.json: the identity's names and the files of its
// platform certificates. It holds the APIv3 key, so it is private like the keys.
type index struct {
	MchID                string      `json:"mchid"`
	MerchantSerialNo     string      `json:"merchant_serial_no"`
	WechatpayPublicKeyID string      `json:"wechatpay_public_key_id"`
	APIv3Key             string      `json:"apiv3_key"`
	PlatformCertificates []certFiles `json:"platform_certificates"`
}

type certFiles struct {
	Certificate string `json:"certificate"`
	PrivateKey  string `json:"private_key"`
}

// Save writes id to dir, creating it (mode 0700) if needed: one PEM file per
// key and certificate and an identity.json naming them, all mode 0600.
// Existing files are overwritten. dir should be git-ignored: it holds private keys.
func (id *Identity) Save(dir string) error {
	if id.MerchantKey == nil || id.WechatpayKey == nil {
		return errors.New("devkeys: save: identity lacks the merchant key or the WeChat Pay key")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("devkeys: save: %w", err)
	}
	files := map[string]string{}
	var err error
	if files[merchantKeyFile], err = privateKeyPEM(id.MerchantKey); err != nil {
		return err
	}
	if files[wechatpayKeyFile], err = privateKeyPEM(id.WechatpayKey); err != nil {
		return err
	}
	if files[wechatpayPublicKeyFile], err = publicKeyPEM(&id.WechatpayKey.PublicKey); err != nil {
		return err
	}
	ix := index{
		MchID:                id.MchID,
		MerchantSerialNo:     id.MerchantSerialNo,
		WechatpayPublicKeyID: id.PublicKeyID,
		APIv3Key:             id.APIv3Key,
		PlatformCertificates: []certFiles{},
	}
	for i, c := range id.Certificates {
		if c.Cert == nil || c.Key == nil {
			return fmt.Errorf("devkeys: save: platform certificate %d lacks its certificate or key", i)
		}
		cf := certFiles{
			Certificate: fmt.Sprintf("platform_cert_%d.pem", i),
			PrivateKey:  fmt.Sprintf("platform_key_%d.pem", i),
		}
		files[cf.Certificate] = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw}))
		if files[cf.PrivateKey], err = privateKeyPEM(c.Key); err != nil {
			return err
		}
		ix.PlatformCertificates = append(ix.PlatformCertificates, cf)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return fmt.Errorf("devkeys: save: %w", err)
		}
	}
	b, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return fmt.Errorf("devkeys: save: %w", err)
	}
	tmp := filepath.Join(dir, indexFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("devkeys: save: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, indexFile)); err != nil {
		return fmt.Errorf("devkeys: save: %w", err)
	}
	return nil
}

// Load reads an Identity that Save wrote to dir. It checks that every
// certificate matches its key, and derives the PEMs and serial numbers from
// the keys and certificates rather than trusting copies. When dir holds no
// identity the error wraps fs.ErrNotExist.
func Load(dir string) (*Identity, error) {
	b, err := os.ReadFile(filepath.Join(dir, indexFile))
	if err != nil {
		return nil, fmt.Errorf("devkeys: load: %w", err)
	}
	var ix index
	if err := json.Unmarshal(b, &ix); err != nil {
		return nil, fmt.Errorf("devkeys: load %s: %w", indexFile, err)
	}
	if ix.MchID == "" || ix.MerchantSerialNo == "" {
		return nil, fmt.Errorf("devkeys: load %s: mchid and merchant_serial_no are required", indexFile)
	}
	id := &Identity{
		MchID:            ix.MchID,
		MerchantSerialNo: ix.MerchantSerialNo,
		PublicKeyID:      ix.WechatpayPublicKeyID,
		APIv3Key:         ix.APIv3Key,
	}
	if id.MerchantKey, err = readPrivateKey(dir, merchantKeyFile); err != nil {
		return nil, err
	}
	if id.WechatpayKey, err = readPrivateKey(dir, wechatpayKeyFile); err != nil {
		return nil, err
	}
	if id.MerchantKeyPEM, err = privateKeyPEM(id.MerchantKey); err != nil {
		return nil, err
	}
	if id.WechatpayPublicKeyPEM, err = publicKeyPEM(&id.WechatpayKey.PublicKey); err != nil {
		return nil, err
	}
	for _, cf := range ix.PlatformCertificates {
		block, err := readPEM(dir, cf.Certificate, "CERTIFICATE")
		if err != nil {
			return nil, err
		}
		k, err := readPrivateKey(dir, cf.PrivateKey)
		if err != nil {
			return nil, err
		}
		c, err := certificateFromDER(block.Bytes, k)
		if err != nil {
			return nil, fmt.Errorf("devkeys: load %s: %w", cf.Certificate, err)
		}
		id.Certificates = append(id.Certificates, c)
	}
	return id, nil
}

// LoadOrGenerate loads the Identity saved in dir, or, when there is none,
// generates one and saves it there. generated reports which happened, so a
// caller can say that new keys (and so a new merchant secret) were made.
func LoadOrGenerate(dir string) (id *Identity, generated bool, err error) {
	id, err = Load(dir)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return id, false, err
	}
	if id, err = Generate(); err != nil {
		return nil, false, err
	}
	if err = id.Save(dir); err != nil {
		return nil, false, err
	}
	return id, true, nil
}

// readPEM reads the single PEM block in dir/name, of type typ unless typ is
// empty. name must be a plain file name: identity.json cannot point outside dir.
func readPEM(dir, name, typ string) (*pem.Block, error) {
	if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("devkeys: load: %q is not a file name in the key directory", name)
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("devkeys: load: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("devkeys: load %s: no PEM block", name)
	}
	if typ != "" && block.Type != typ {
		return nil, fmt.Errorf("devkeys: load %s: PEM block is %q, want %q", name, block.Type, typ)
	}
	return block, nil
}

// readPrivateKey reads an RSA private key, PKCS#8 or PKCS#1, from dir/name.
func readPrivateKey(dir, name string) (*rsa.PrivateKey, error) {
	block, err := readPEM(dir, name, "")
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("devkeys: load %s: %w", name, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("devkeys: load %s: not an RSA key", name)
		}
		return rk, nil
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("devkeys: load %s: %w", name, err)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("devkeys: load %s: PEM block %q is not a private key", name, block.Type)
	}
}
