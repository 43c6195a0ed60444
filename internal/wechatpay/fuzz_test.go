package wechatpay

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// FuzzVerifyAnswer: whatever headers and body an answer carries, the
// verifier neither panics nor accepts a signature it was not given a key
// for; and WeChat Pay's error decoding never panics.
func FuzzVerifyAnswer(f *testing.F) {
	keys(f)
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	f.Add(ts, "nonce", "c2lnbmF0dXJl", testPubKeyID, []byte(`{"data":[]}`))
	f.Add(ts, "", "", "", []byte(``))
	f.Add("-1", "n", "WECHATPAY/SIGNTEST/abc", testPubKeyID, []byte(`{}`))
	f.Add("99999999999999999999", "n", "%%%", "5A11", []byte("\x00\xff"))
	f.Add(ts, "n", "AAAA", "PUB_KEY_ID_UNKNOWN", []byte(`{"code":"PARAM_ERROR","message":"x"}`))
	c := &Client{Now: func() time.Time { return now }}
	v := &PublicKeyVerifier{ID: testPubKeyID, Key: &platformKey.PublicKey}
	f.Fuzz(func(t *testing.T, timestamp, nonce, signature, serial string, body []byte) {
		h := http.Header{}
		h.Set("Wechatpay-Timestamp", timestamp)
		h.Set("Wechatpay-Nonce", nonce)
		h.Set("Wechatpay-Signature", signature)
		h.Set("Wechatpay-Serial", serial)
		if err := c.verify(context.Background(), v, h, answerMessage(timestamp, nonce, body)); err == nil {
			t.Fatalf("a made-up signature verified: %q", signature)
		}
		e := decodeAPIError(400, "rid", body, false)
		if e.Status != 400 || len(e.Message) > 512 {
			t.Fatalf("decoded %+v", e)
		}
	})
}
