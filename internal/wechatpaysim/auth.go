package wechatpaysim

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// authScheme is the only Authorization scheme WeChat Pay APIv3 accepts from
// a merchant holding an RSA key.
const authScheme = "WECHATPAY2-SHA256-RSA2048"

// clockSkew is how far a request timestamp may be from the server's clock,
// and how long a nonce stays used: WeChat Pay's five minutes.
const clockSkew = 5 * time.Minute

// authorization holds the five parameters of the Authorization header.
type authorization struct {
	mchid, nonce, signature, timestamp, serial string
}

// parseAuthorization reads
//
//	WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"
//
// strictly: the scheme exactly, one space, then the five parameters in any
// order, each once, each a double-quoted non-empty value without quotes or
// backslashes, separated by commas (spaces after a comma are allowed, as
// RFC 9110 allows them). Unknown parameters are refused, so that a typo in a
// client's key names cannot pass unnoticed.
func parseAuthorization(values []string) (authorization, error) {
	var a authorization
	switch len(values) {
	case 0:
		return a, errors.New("Http头缺少Authorization: the Authorization header is required")
	case 1:
	default:
		return a, errors.New("Http头Authorization值格式错误: the Authorization header is given more than once")
	}
	v := values[0]
	scheme, params, ok := strings.Cut(v, " ")
	if !ok || scheme != authScheme {
		return a, fmt.Errorf("Http头Authorization认证类型不正确: the scheme must be %s", authScheme)
	}
	fields := map[string]*string{
		"mchid": &a.mchid, "nonce_str": &a.nonce, "signature": &a.signature,
		"timestamp": &a.timestamp, "serial_no": &a.serial,
	}
	seen := map[string]bool{}
	formatErr := func(why string) error {
		return fmt.Errorf("Http头Authorization值格式错误,请参考《微信支付商户REST API签名规则》: %s", why)
	}
	rest := params
	for {
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return a, formatErr("expected key=\"value\"")
		}
		key := rest[:eq]
		dst, known := fields[key]
		if !known {
			return a, formatErr(fmt.Sprintf("unknown parameter %q", key))
		}
		if seen[key] {
			return a, formatErr(fmt.Sprintf("parameter %s is given more than once", key))
		}
		seen[key] = true
		rest = rest[eq+1:]
		if !strings.HasPrefix(rest, `"`) {
			return a, formatErr(fmt.Sprintf("the value of %s must be in double quotes", key))
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return a, formatErr(fmt.Sprintf("the value of %s has no closing quote", key))
		}
		value := rest[1 : 1+end]
		if value == "" {
			return a, formatErr(fmt.Sprintf("%s is empty", key))
		}
		if strings.ContainsAny(value, "\\\r\n\t") {
			return a, formatErr(fmt.Sprintf("the value of %s holds an escape or control character", key))
		}
		*dst = value
		rest = rest[1+end+1:]
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return a, formatErr(fmt.Sprintf("expected a comma after %s", key))
		}
		rest = strings.TrimLeft(rest[1:], " ")
	}
	for key := range fields {
		if !seen[key] {
			return a, formatErr(fmt.Sprintf("parameter %s is missing", key))
		}
	}
	return a, nil
}

// verifyAuthorization checks the request's Authorization header against the
// merchant: mchid, serial_no, a timestamp within five minutes, a nonce not
// used in the last five minutes, and the signature over
// "<method>\n<request target as sent>\n<timestamp>\n<nonce>\n<body>\n".
// It returns "" when all pass, else the reason, and remembers the nonce of
// a request that passes.
func (s *Server) verifyAuthorization(r *http.Request, body []byte, now time.Time) string {
	a, err := parseAuthorization(r.Header.Values("Authorization"))
	if err != nil {
		return err.Error()
	}
	if a.mchid != s.id.MchID {
		return fmt.Sprintf("Http头Authorization中的mchid有误: mchid %q is not the merchant", a.mchid)
	}
	if a.serial != s.id.MerchantSerialNo {
		return "商户证书序列号有误。请使用签名私钥匹配的证书序列号: serial_no does not name the merchant's API certificate"
	}
	ts, err := parseTimestamp(a.timestamp)
	if err != nil {
		return "Http头Authorization中的timestamp有误: " + err.Error()
	}
	if d := now.Sub(ts); d > clockSkew || d < -clockSkew {
		return fmt.Sprintf("Http头Authorization中的timestamp与服务器时间相差过大: timestamp is %s from the server's time, more than %s", d.Round(time.Second), clockSkew)
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(a.signature)
	if err != nil {
		return "错误的签名,验签失败: signature is not base64"
	}
	pub, ok := s.id.MerchantKey.Public().(*rsa.PublicKey)
	if !ok {
		return "错误的签名,验签失败: the merchant key is not RSA"
	}
	msg := r.Method + "\n" + r.RequestURI + "\n" + a.timestamp + "\n" + a.nonce + "\n" + string(body) + "\n"
	digest := sha256.Sum256([]byte(msg))
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) != nil {
		return "错误的签名,验签失败: the signature does not verify over the request as received"
	}
	if !s.useNonce(a.nonce, now, ts) {
		return "nonce_str重复: this nonce_str was used within the last 5 minutes (replay)"
	}
	return ""
}

// parseTimestamp reads Unix seconds written as plain decimal digits.
func parseTimestamp(s string) (time.Time, error) {
	if len(s) > 12 || strings.Trim(s, "0123456789") != "" {
		return time.Time{}, fmt.Errorf("timestamp %q is not Unix seconds", s)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q is not Unix seconds", s)
	}
	return time.Unix(n, 0), nil
}

// useNonce marks nonce used and reports whether it was free. A nonce stays
// used for as long as a request carrying it could still pass the timestamp
// check; expired entries are forgotten.
func (s *Server) useNonce(nonce string, now, ts time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, until := range s.nonces {
		if now.After(until) {
			delete(s.nonces, n)
		}
	}
	if _, used := s.nonces[nonce]; used {
		return false
	}
	until := now
	if ts.After(until) {
		until = ts
	}
	s.nonces[nonce] = until.Add(clockSkew)
	return true
}
