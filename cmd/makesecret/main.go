// Command makesecret builds the merchant secret (CONTRACT.md, "The
// secret") from the files WeChat Pay hands a merchant, checks it the way the
// function will read it, and writes it to a file for the AWS CLI:
//
//	go run ./cmd/makesecret -mchid 1900000001 -serial 5157F09E… \
//	    -key apiclient_key.pem -pubkey-id PUB_KEY_ID_0114… -pubkey pub_key.pem \
//	    [-cert platform_cert.pem]… [-apiv3-key-file apiv3.key] -out secret.json
//
// Keys are read from files only, never from flag values, which other users
// of the machine can see in the process list and which end up in shell
// history. Nothing it prints holds a key: it names what the secret holds and
// prints the aws commands that store it.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/campuspay/contracts/internal/merchant"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.As(err, new(usageError)) { // the flag package has said why
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "makesecret:", err)
		os.Exit(1)
	}
}

// usageError is returned for flags that do not parse (or -h), after the
// flag package has printed the reason and the usage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// defaultSecretName is the secret name README's deploy steps use.
const defaultSecretName = "campuspay/merchant"

// options are the command's flags.
type options struct {
	mchID, serial, keyFile string
	pubKeyID, pubKeyFile   string
	certFiles              []string
	apiv3KeyFile           string
	out                    string
	name                   string
}

// run is the command: it parses args, builds and checks the secret, writes
// it to -out (mode 0600) and tells stdout what to run next. Usage and flag
// errors go to stderr. It never writes a key or certificate to either.
func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("makesecret", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.mchID, "mchid", "", "merchant number (商户号), e.g. 1900000001")
	fs.StringVar(&o.serial, "serial", "", "serial number of the merchant API certificate (商户API证书序列号)")
	fs.StringVar(&o.keyFile, "key", "", "`file` of the merchant API private key, PKCS#8 or PKCS#1 PEM (apiclient_key.pem)")
	fs.StringVar(&o.pubKeyID, "pubkey-id", "", "WeChat Pay public key ID, PUB_KEY_ID_…")
	fs.StringVar(&o.pubKeyFile, "pubkey", "", "`file` of the WeChat Pay public key, PEM (pub_key.pem)")
	fs.Func("cert", "`file` of a WeChat Pay platform certificate, PEM; repeatable", func(v string) error {
		o.certFiles = append(o.certFiles, v)
		return nil
	})
	fs.StringVar(&o.apiv3KeyFile, "apiv3-key-file", "", "`file` holding the 32-byte APIv3 key (never given as a flag value)")
	fs.StringVar(&o.out, "out", "secret.json", "`file` to write the secret to, mode 0600")
	fs.StringVar(&o.name, "name", defaultSecretName, "secret `name` in the aws commands printed")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: makesecret -mchid N -serial S -key apiclient_key.pem [-pubkey-id ID -pubkey pub_key.pem] [-cert platform_cert.pem]... [-apiv3-key-file FILE] [-out secret.json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (every input is a flag)", fs.Args())
	}

	raw, err := build(o)
	if err != nil {
		return err
	}
	// The function's own parser decides what a valid secret is; its errors
	// name fields, never values.
	if _, err := merchant.Parse(string(raw)); err != nil {
		return fmt.Errorf("the secret would not work: %v", err)
	}
	if err := writePrivate(o.out, raw); err != nil {
		return err
	}
	report(stdout, o)
	return nil
}

// build reads the files and assembles the secret's JSON.
func build(o options) ([]byte, error) {
	var missing []string
	for _, f := range []struct{ flag, v string }{{"-mchid", o.mchID}, {"-serial", o.serial}, {"-key", o.keyFile}} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.flag)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s required (the merchant number, the API certificate serial and the private key file)",
			plural(missing, "is", "are"))
	}
	if o.out == "" {
		return nil, errors.New("-out must name a file")
	}

	s := merchant.Secret{
		MchID:                strings.TrimSpace(o.mchID),
		MerchantSerialNo:     strings.ToUpper(strings.TrimSpace(o.serial)),
		WechatpayPublicKeyID: strings.TrimSpace(o.pubKeyID),
	}
	var err error
	if s.PrivateKey, err = readFile("-key", o.keyFile); err != nil {
		return nil, err
	}
	if o.pubKeyFile != "" {
		if s.WechatpayPublicKey, err = readFile("-pubkey", o.pubKeyFile); err != nil {
			return nil, err
		}
	}
	for _, f := range o.certFiles {
		c, err := readFile("-cert", f)
		if err != nil {
			return nil, err
		}
		s.PlatformCertificates = append(s.PlatformCertificates, c)
	}
	if o.apiv3KeyFile != "" {
		k, err := readFile("-apiv3-key-file", o.apiv3KeyFile)
		if err != nil {
			return nil, err
		}
		// A key file usually ends in a newline; the key is what is around it.
		s.APIv3Key = strings.TrimSpace(k)
	}
	return json.Marshal(s)
}

// readFile reads a flag's file. Its error names the flag and the file,
// never the contents.
func readFile(flagName, path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%s: no file given", flagName)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flagName, err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return "", fmt.Errorf("%s: %s is empty", flagName, path)
	}
	return string(b), nil
}

// writePrivate writes b to path with mode 0600, whatever a file already
// there allowed: it writes a new file (created 0600) beside it and renames
// it over, so no other user can read the secret even for a moment, and a
// failure leaves the old file whole.
func writePrivate(path string, b []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	if _, err = f.Write(b); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	return nil
}

// report says what was written and what to run next, naming the parts of the
// secret but none of their values except the public identifiers.
func report(w io.Writer, o options) {
	var verify []string
	if o.pubKeyFile != "" {
		verify = append(verify, "the WeChat Pay public key "+strings.TrimSpace(o.pubKeyID))
	}
	switch n := len(o.certFiles); n {
	case 0:
	case 1:
		verify = append(verify, "1 platform certificate")
	default:
		verify = append(verify, fmt.Sprintf("%d platform certificates", n))
	}
	if o.apiv3KeyFile != "" {
		verify = append(verify, "the APIv3 key (platform certificates downloaded)")
	}
	file := shellQuote("file://" + o.out)
	name := shellQuote(o.name)
	fmt.Fprintf(w, `wrote %s (mode 0600): merchant %s, certificate serial %s, private key;
WeChat Pay's answers verified with %s.

Store it (prints the ARN to give sam deploy as SecretArn):

  aws secretsmanager create-secret --name %s --secret-string %s --query ARN --output text

or, to rotate an existing secret:

  aws secretsmanager put-secret-value --secret-id %s --secret-string %s

then delete the file: shred -u %s
`, o.out, strings.TrimSpace(o.mchID), strings.ToUpper(strings.TrimSpace(o.serial)), strings.Join(verify, " and "),
		name, file, name, file, shellQuote(o.out))
}

// plural joins flag names as "-a is" or "-a and -b are".
func plural(names []string, one, many string) string {
	if len(names) == 1 {
		return names[0] + " " + one
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1] + " " + many
}

// shellQuote quotes s for a POSIX shell when it holds anything beyond
// characters that need no quoting, so a printed command can be pasted.
func shellQuote(s string) string {
	safe := func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r)
	}
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !safe(r) }) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
