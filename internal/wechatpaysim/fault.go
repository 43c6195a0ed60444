package wechatpaysim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fault makes the simulator misbehave for one request (see Server.Push).
// The request is still checked and recorded as usual; the fault then changes
// the answer. Fields combine: a Fault with Status 500 and Unsigned is an
// unsigned 500, one with Delay and Status 503 a slow 503.
type Fault struct {
	// Status, when ≥ 400, replaces the answer with an error answer
	// {"code":Code,"message":Message} of this status; Code and Message
	// default to WeChat Pay's for the status (500 SYSTEM_ERROR, 429
	// FREQUENCY_LIMITED, 404 RESOURCE_NOT_EXISTS, 403 NO_AUTH, 401
	// SIGN_ERROR, 400 PARAM_ERROR). A Status below 400 only changes the
	// status code of the answer.
	Status  int
	Code    string
	Message string
	// Unsigned leaves out the Wechatpay-* headers, as a gateway in front
	// of WeChat Pay answers.
	Unsigned bool
	// Delay holds the answer back this long, or until the client gives up.
	Delay time.Duration
	// DropConnection closes the connection without answering. Note that
	// Go's http.Transport sends a GET again, once, by itself when a reused
	// keep-alive connection closes without answering: such a retry is a
	// second request and takes the next fault.
	DropConnection bool
	// BadSignature signs the answer, then corrupts the signature.
	BadSignature bool
	// StaleTimestamp signs the answer with a timestamp ten minutes old.
	StaleTimestamp bool
	// UnknownSerial names a key nobody has in Wechatpay-Serial.
	UnknownSerial bool
	// SignTestProbe sends a "WECHATPAY/SIGNTEST/…" signature, as WeChat
	// Pay does now and then to check that merchants verify its answers.
	SignTestProbe bool
	// Body replaces the answer's body (signed unless Unsigned), for
	// example with malformed JSON.
	Body []byte
}

// Serials that no identity holds, for Fault.UnknownSerial.
const (
	UnknownPublicKeyID = "PUB_KEY_ID_00000000000000000000000000000000"
	UnknownCertSerial  = "7E57000000000000000000000000000000000000"
)

// signTestPrefix starts the signatures of WeChat Pay's signature probes.
const signTestPrefix = "WECHATPAY/SIGNTEST/"

// defaultError returns WeChat Pay's code and message for a Fault that names
// only a status.
func defaultError(status int) (code, message string) {
	switch {
	case status == http.StatusBadRequest:
		return "PARAM_ERROR", "参数错误"
	case status == http.StatusUnauthorized:
		return "SIGN_ERROR", "签名错误"
	case status == http.StatusForbidden:
		return "NO_AUTH", "商户无权限"
	case status == http.StatusNotFound:
		return "RESOURCE_NOT_EXISTS", "资源不存在"
	case status == http.StatusTooManyRequests:
		return "FREQUENCY_LIMITED", "频率超限,请降低请求接口频率"
	case status >= 500:
		return "SYSTEM_ERROR", "系统异常,请稍后重试"
	default:
		return "INVALID_REQUEST", "HTTP 请求不符合微信支付 APIv3 接口规则"
	}
}

// apply changes the answer a request would get into the one f asks for.
func (f Fault) apply(a answer) answer {
	switch {
	case f.Status >= 400:
		code, message := defaultError(f.Status)
		if f.Code != "" {
			code = f.Code
		}
		if f.Message != "" {
			message = f.Message
		}
		a = errorAnswer(f.Status, code, message)
	case f.Status > 0:
		a.status, a.code = f.Status, ""
	}
	if f.Body != nil {
		a.body = slices.Clone(f.Body)
	}
	return a
}

// write signs (unless f says otherwise) and sends the answer. Headers are
// WeChat Pay's, spelled as WeChat Pay spells them on the wire.
func (s *Server) write(w http.ResponseWriter, a answer, f Fault) {
	h := w.Header()
	for k, v := range a.header {
		h[k] = slices.Clone(v)
	}
	h["Request-ID"] = []string{requestID()}
	h.Set("Content-Type", "application/json")
	if !f.Unsigned {
		sg := s.signerFor(a)
		ts := s.now().Unix()
		if f.StaleTimestamp {
			ts -= int64((10 * time.Minute).Seconds())
		}
		nonce := randomString(32, upperAlphanumeric)
		reuse := s.reuseSignatures && !f.StaleTimestamp
		var sig []byte
		var err error
		if reuse {
			ts, nonce, sig = s.reusedSignature(sg.serial, a.body, ts, nonce)
		}
		if sig == nil {
			sig, err = signAnswer(sg.key, strconv.FormatInt(ts, 10), nonce, a.body)
			if err == nil && reuse {
				s.keepSignature(sg.serial, a.body, ts, nonce, sig)
			}
		}
		if err != nil { // only with a broken key; say so unsigned, as a gateway would
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write(errorAnswer(http.StatusInternalServerError, "SYSTEM_ERROR", "the simulator could not sign its answer").body)
			return
		}
		if f.BadSignature {
			sig = slices.Clone(sig) // never corrupt a kept signature
			sig[len(sig)/2] ^= 0x01
		}
		signature := base64.StdEncoding.EncodeToString(sig)
		if f.SignTestProbe {
			signature = signTestPrefix + base64.StdEncoding.EncodeToString(randomBytes(len(sig)))
		}
		serial := sg.serial
		if f.UnknownSerial {
			serial = UnknownCertSerial
			if strings.HasPrefix(sg.serial, "PUB_KEY_ID_") {
				serial = UnknownPublicKeyID
			}
		}
		h.Set("Wechatpay-Timestamp", strconv.FormatInt(ts, 10))
		h.Set("Wechatpay-Nonce", nonce)
		h.Set("Wechatpay-Signature", signature)
		h.Set("Wechatpay-Serial", serial)
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// signatureReuse is how long a kept signature is reused (ReuseSignatures):
// well inside the 5 minutes a client accepts.
const signatureReuse = time.Minute

// keptSignature is an answer signature kept for ReuseSignatures.
type keptSignature struct {
	ts    int64
	nonce string
	sig   []byte
}

func signatureKey(serial string, body []byte) [32]byte {
	return sha256.Sum256(append([]byte(serial+"\n"), body...))
}

// reusedSignature returns a kept signature of body by serial, less than
// signatureReuse old, or sig nil with ts and nonce as given.
func (s *Server) reusedSignature(serial string, body []byte, ts int64, nonce string) (int64, string, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.kept[signatureKey(serial, body)]
	if !ok || time.Duration(ts-k.ts)*time.Second >= signatureReuse {
		return ts, nonce, nil
	}
	return k.ts, k.nonce, k.sig
}

func (s *Server) keepSignature(serial string, body []byte, ts int64, nonce string, sig []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kept == nil {
		s.kept = map[[32]byte]keptSignature{}
	}
	s.kept[signatureKey(serial, body)] = keptSignature{ts: ts, nonce: nonce, sig: sig}
}

// signAnswer signs "<timestamp>\n<nonce>\n<body>\n" with RSA PKCS#1 v1.5
// and SHA-256, as WeChat Pay signs its answers.
func signAnswer(k *rsa.PrivateKey, timestamp, nonce string, body []byte) ([]byte, error) {
	msg := timestamp + "\n" + nonce + "\n" + string(body) + "\n"
	digest := sha256.Sum256([]byte(msg))
	return rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:])
}

// dropConnection closes the client's connection without a byte of answer.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	// Not hijackable (HTTP/2): aborting the handler resets the stream.
	panic(http.ErrAbortHandler)
}

const (
	alphanumeric      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	upperAlphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
)

// randomString returns n characters drawn uniformly from alphabet (at most
// 256 characters long).
func randomString(n int, alphabet string) string {
	limit := 256 - 256%len(alphabet) // reject bytes past the last whole round, to stay uniform
	out := make([]byte, 0, n)
	for len(out) < n {
		for _, b := range randomBytes(n) {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// randomBytes returns n bytes from crypto/rand, which does not fail.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// requestID makes a Request-ID, unique per answer, shaped like WeChat Pay's.
func requestID() string {
	return strings.ToUpper(hex.EncodeToString(randomBytes(22)))
}
