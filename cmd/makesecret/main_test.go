package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/campuspay/contracts/internal/devkeys"
	"github.com/campuspay/contracts/internal/merchant"
)

// These tests never print keys: failures name what is wrong, and the
// outputs are checked for key material rather than shown.

// files writes the merchant's files as WeChat Pay hands them out and
// returns their paths, by the flag they go to.
type files struct {
	dir, key, pubkey, apiv3 string
	certs                   []string
}

func writeFiles(t *testing.T) (*devkeys.Identity, files) {
	t.Helper()
	id, err := devkeys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := files{dir: dir,
		key:    filepath.Join(dir, "apiclient_key.pem"),
		pubkey: filepath.Join(dir, "pub_key.pem"),
		apiv3:  filepath.Join(dir, "apiv3.key"),
	}
	write := func(path, content string) {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(f.key, id.MerchantKeyPEM)
	write(f.pubkey, id.WechatpayPublicKeyPEM)
	write(f.apiv3, id.APIv3Key+"\n") // as `echo KEY > apiv3.key` leaves it
	for i, c := range id.Certificates {
		p := filepath.Join(dir, "platform_cert_"+string(rune('0'+i))+".pem")
		write(p, c.PEM)
		f.certs = append(f.certs, p)
	}
	return id, f
}

// noKeyMaterial fails if printed output holds a key.
func noKeyMaterial(t *testing.T, what, out string, id *devkeys.Identity) {
	t.Helper()
	if strings.Contains(out, "PRIVATE KEY") || strings.Contains(out, "-----BEGIN") {
		t.Errorf("%s holds a PEM", what)
	}
	if strings.Contains(out, id.APIv3Key) {
		t.Errorf("%s holds the APIv3 key", what)
	}
}

func TestRunWritesASecretTheFunctionAccepts(t *testing.T) {
	id, f := writeFiles(t)
	base := []string{"-mchid", id.MchID, "-serial", strings.ToLower(id.MerchantSerialNo), "-key", f.key}
	pub := []string{"-pubkey-id", id.PublicKeyID, "-pubkey", f.pubkey}
	certs := []string{"-cert", f.certs[0], "-cert", f.certs[1]}
	apiv3 := []string{"-apiv3-key-file", f.apiv3}

	for name, tc := range map[string]struct {
		args         []string
		wantPub      bool
		wantCerts    int
		wantAPIv3Key bool
	}{
		"publickey":    {args: pub, wantPub: true},
		"certificates": {args: certs, wantCerts: 2},
		"apiv3key":     {args: apiv3, wantAPIv3Key: true},
		"migration":    {args: slices.Concat(pub, certs), wantPub: true, wantCerts: 2},
		"everything":   {args: slices.Concat(pub, certs[:2], apiv3), wantPub: true, wantCerts: 1, wantAPIv3Key: true},
	} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "secret.json")
			// An existing, world-readable file is replaced by a private one.
			if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			args := slices.Concat(base, tc.args, []string{"-out", out})
			if err := run(args, &stdout, &stderr); err != nil {
				t.Fatalf("run: %v (stderr: %s)", err, stderr.String())
			}
			noKeyMaterial(t, "stdout", stdout.String(), id)
			noKeyMaterial(t, "stderr", stderr.String(), id)

			info, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if perm := info.Mode().Perm(); perm != 0o600 {
				t.Errorf("%s has mode %o, want 600", out, perm)
			}
			raw, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			m, err := merchant.Parse(string(raw))
			if err != nil {
				t.Fatalf("merchant.Parse refuses the written secret: %v", err)
			}
			if m.Credentials.MchID != id.MchID || m.Credentials.SerialNo != id.MerchantSerialNo {
				t.Errorf("parsed mchid/serial %q/%q, want %q/%q", m.Credentials.MchID, m.Credentials.SerialNo, id.MchID, id.MerchantSerialNo)
			}
			if (m.APIv3Key != nil) != tc.wantAPIv3Key || (tc.wantAPIv3Key && string(m.APIv3Key) != id.APIv3Key) {
				t.Error("the APIv3 key did not come through as the 32 bytes of the file, without its newline")
			}

			// The document, field by field, in the function's own shape.
			var s merchant.Secret
			if err := json.Unmarshal(raw, &s); err != nil {
				t.Fatal(err)
			}
			if s.PrivateKey != id.MerchantKeyPEM {
				t.Error("private_key is not the key file's PEM")
			}
			if s.MerchantSerialNo != id.MerchantSerialNo {
				t.Error("merchant_serial_no is not the upper-case serial")
			}
			if hasPub := s.WechatpayPublicKeyID == id.PublicKeyID && s.WechatpayPublicKey == id.WechatpayPublicKeyPEM; hasPub != tc.wantPub {
				t.Errorf("the WeChat Pay public key and its ID are in the secret: %v, want %v", hasPub, tc.wantPub)
			}
			if len(s.PlatformCertificates) != tc.wantCerts {
				t.Errorf("%d platform_certificates, want %d", len(s.PlatformCertificates), tc.wantCerts)
			}
			for i, c := range s.PlatformCertificates {
				if c != id.Certificates[i].PEM {
					t.Errorf("platform_certificates[%d] is not its file's PEM", i)
				}
			}
			var keys map[string]any
			_ = json.Unmarshal(raw, &keys)
			for k, v := range keys {
				if v == "" || v == nil {
					t.Errorf("%s is written empty; parts not given are left out", k)
				}
			}

			text := stdout.String()
			for _, want := range []string{
				"aws secretsmanager create-secret --name campuspay/merchant --secret-string file://" + out,
				"aws secretsmanager put-secret-value --secret-id campuspay/merchant --secret-string file://" + out,
			} {
				if !strings.Contains(text, want) {
					t.Errorf("stdout lacks %q:\n%s", want, text)
				}
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	id, f := writeFiles(t)
	missing := filepath.Join(f.dir, "no-such.pem")
	unreadable := filepath.Join(f.dir, "unreadable.pem")
	if err := os.WriteFile(unreadable, []byte(id.MerchantKeyPEM), 0o000); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(f.dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A 1024-bit key: a readable PEM the function would refuse.
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakDER, _ := x509.MarshalPKCS8PrivateKey(weak)
	weakKey := filepath.Join(f.dir, "weak.pem")
	if err := os.WriteFile(weakKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: weakDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	shortAPIv3 := filepath.Join(f.dir, "short.key")
	if err := os.WriteFile(shortAPIv3, []byte("tooshort\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	good := func(extra ...string) []string {
		return slices.Concat([]string{"-mchid", id.MchID, "-serial", id.MerchantSerialNo}, extra)
	}
	pub := []string{"-pubkey-id", id.PublicKeyID, "-pubkey", f.pubkey}
	for name, tc := range map[string]struct {
		args []string
		want []string // substrings of the error
	}{
		"no -key":               {good(pub...), []string{"-key is required"}},
		"no -mchid or -serial":  {slices.Concat([]string{"-key", f.key}, pub), []string{"-mchid and -serial are required"}},
		"-key missing":          {good(slices.Concat([]string{"-key", missing}, pub)...), []string{"-key", missing, "no such file"}},
		"-key unreadable":       {good(slices.Concat([]string{"-key", unreadable}, pub)...), []string{"-key", unreadable, "permission denied"}},
		"-key a directory":      {good(slices.Concat([]string{"-key", f.dir}, pub)...), []string{"-key", f.dir, "is a directory"}},
		"-key empty":            {good(slices.Concat([]string{"-key", empty}, pub)...), []string{"-key", "is empty"}},
		"-key not a key":        {good(slices.Concat([]string{"-key", f.pubkey}, pub)...), []string{"private_key"}},
		"-key too weak":         {good(slices.Concat([]string{"-key", weakKey}, pub)...), []string{"private_key", "2048"}},
		"-pubkey missing":       {good("-key", f.key, "-pubkey-id", id.PublicKeyID, "-pubkey", missing), []string{"-pubkey", "no such file"}},
		"-pubkey-id alone":      {good("-key", f.key, "-pubkey-id", id.PublicKeyID), []string{"wechatpay_public_key is required"}},
		"-cert missing":         {good("-key", f.key, "-cert", missing), []string{"-cert", "no such file"}},
		"-cert not a cert":      {good("-key", f.key, "-cert", f.pubkey), []string{"platform_certificates[0]"}},
		"-apiv3-key-file short": {good("-key", f.key, "-apiv3-key-file", shortAPIv3), []string{"apiv3_key must be 32 bytes"}},
		"no way to verify":      {good("-key", f.key), []string{"a way to verify WeChat Pay is required"}},
		"stray argument":        {good(slices.Concat([]string{"-key", f.key}, pub, []string{"extra"})...), []string{"unexpected arguments"}},
	} {
		t.Run(name, func(t *testing.T) {
			if name == "-key unreadable" && os.Geteuid() == 0 {
				t.Skip("root reads files whatever their mode")
			}
			out := filepath.Join(t.TempDir(), "secret.json")
			var stdout, stderr bytes.Buffer
			err := run(slices.Concat(tc.args, []string{"-out", out}), &stdout, &stderr)
			if err == nil {
				t.Fatal("run succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			noKeyMaterial(t, "the error", err.Error(), id)
			noKeyMaterial(t, "stdout", stdout.String(), id)
			noKeyMaterial(t, "stderr", stderr.String(), id)
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s was written although the secret was refused", out)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout on failure: %s", stdout.String())
			}
		})
	}

	t.Run("unknown flag", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		err := run([]string{"-apiv3-key", "x"}, &stdout, &stderr)
		if !errors.As(err, new(usageError)) {
			t.Fatalf("err = %v, want a usage error", err)
		}
		if !strings.Contains(stderr.String(), "-apiv3-key-file") {
			t.Errorf("stderr lacks the usage: %s", stderr.String())
		}
	})
}
