package wechatpay

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Credentials are what the client signs and verifies with.
type Credentials struct {
	MchID    string // 商户号
	SerialNo string // serial of the merchant API certificate the signer's key belongs to
	Signer   Signer
	Verifier Verifier
	// PublicKeyID, when set, is sent as Wechatpay-Serial on every request:
	// WeChat Pay then signs its answers with the WeChat Pay public key.
	PublicKeyID string
}

// Defaults of Client's optional fields.
const (
	DefaultMaxAttempts  = 3
	DefaultBaseBackoff  = 100 * time.Millisecond
	DefaultMaxBackoff   = time.Second
	DefaultMaxBodyBytes = 1 << 20
	// MaxClockSkew is how far an answer's Wechatpay-Timestamp may be from
	// now, as WeChat Pay's SDKs allow.
	MaxClockSkew = 5 * time.Minute
	// signTestPrefix marks the signatures of WeChat Pay's signature-test
	// probes, which must never be taken for real answers.
	signTestPrefix = "WECHATPAY/SIGNTEST/"
)

// Client calls WeChat Pay APIv3. Its zero value is not usable: set HTTP and
// BaseURL. A Client is safe for concurrent use and meant to live as long as
// the process, so that its connections are reused.
type Client struct {
	HTTP *http.Client
	// BaseURL is the origin of the API, e.g. https://api.mch.weixin.qq.com.
	BaseURL string
	// BackupBaseURL is the origin retried after a network error or a 5xx
	// (WeChat Pay's api2 domain); empty disables failover.
	BackupBaseURL string
	UserAgent     string
	// AttemptTimeout bounds one attempt; zero means only the caller's
	// context bounds it.
	AttemptTimeout time.Duration
	MaxAttempts    int
	BaseBackoff    time.Duration
	MaxBackoff     time.Duration
	MaxBodyBytes   int64
	// Now is the clock answers' timestamps are judged by; time.Now when nil.
	Now func() time.Time
}

// Response is a verified 2xx answer.
type Response struct {
	Status    int
	Header    http.Header
	Body      []byte
	RequestID string
}

// Trace says how a call went, whatever its outcome.
type Trace struct {
	Attempts  int
	BaseURL   string        // origin of the last attempt
	Status    int           // WeChat Pay's last status, 0 if none
	RequestID string        // WeChat Pay's last Request-ID
	Upstream  time.Duration // time spent in attempts, backoff excluded
	// FailedOver is set when a later attempt went to the backup origin.
	FailedOver bool
}

// Get sends a signed GET of pathAndQuery (e.g. "/v3/…?a=1") and returns the
// verified answer. Network errors and 5xx are retried (on the backup origin
// when there is one), as are 429s; every other answer is final. The error is
// an *APIError, *SignatureError, *TransportError or *AnswerError.
func (c *Client) Get(ctx context.Context, cred *Credentials, pathAndQuery string) (*Response, Trace, error) {
	return c.GetWith(ctx, cred, cred.Verifier, pathAndQuery)
}

// GetWith is Get with the answer verified by v rather than cred.Verifier.
// The certificate download needs it: its answer is verified with the
// certificates it carries, which cred.Verifier may not hold yet.
func (c *Client) GetWith(ctx context.Context, cred *Credentials, v Verifier, pathAndQuery string) (*Response, Trace, error) {
	var tr Trace
	maxAttempts := c.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = DefaultMaxAttempts
	}
	base := c.BaseURL
	var answered *APIError // WeChat Pay's own last refusal, if any attempt got one
	for attempt := 1; ; attempt++ {
		start := time.Now()
		resp, err := c.once(ctx, cred, v, base, pathAndQuery)
		tr.Attempts, tr.BaseURL, tr.Upstream = attempt, base, tr.Upstream+time.Since(start)
		tr.Status, tr.RequestID = statusOf(resp, err)
		if apiErr, ok := errors.AsType[*APIError](err); ok {
			answered = apiErr
		}
		retry, failover := retryable(err)
		if err == nil || !retry || attempt >= maxAttempts {
			return resp, tr, finalError(err, answered, errors.Is(ctx.Err(), context.DeadlineExceeded))
		}
		if !c.pause(ctx, attempt) { // the deadline leaves no room for another attempt
			return resp, tr, finalError(err, answered, true)
		}
		// Network errors and 5xx move to the other origin: primary, backup,
		// primary again, so a backup that is down too does not hide what
		// the primary said.
		if failover && c.BackupBaseURL != "" {
			if base == c.BaseURL {
				base, tr.FailedOver = c.BackupBaseURL, true
			} else {
				base = c.BaseURL
			}
		}
	}
}

func statusOf(resp *Response, err error) (int, string) {
	if resp != nil {
		return resp.Status, resp.RequestID
	}
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		return apiErr.Status, apiErr.RequestID
	}
	if sigErr, ok := errors.AsType[*SignatureError](err); ok {
		return sigErr.Status, sigErr.RequestID
	}
	if ansErr, ok := errors.AsType[*AnswerError](err); ok {
		return ansErr.Status, ansErr.RequestID
	}
	return 0, ""
}

// retryable says whether err is worth another attempt, and whether that
// attempt should go to the backup origin.
func retryable(err error) (retry, failover bool) {
	if _, ok := errors.AsType[*TransportError](err); ok {
		return true, true
	}
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		switch {
		case apiErr.Status >= 500:
			return true, true
		case apiErr.Status == http.StatusTooManyRequests:
			return true, false
		}
	}
	return false, false
}

// finalError marks a transport error that the caller's deadline ended. A
// network error on the last attempt, with the deadline not reached, yields to
// an earlier answer of WeChat Pay's (a 5xx), which says more.
func finalError(err error, answered *APIError, deadline bool) error {
	trErr, ok := errors.AsType[*TransportError](err)
	switch {
	case !ok:
		return err
	case deadline:
		trErr.DeadlineExceeded = true
		return err
	case answered != nil:
		return answered
	}
	return err
}

// pause sleeps the backoff before attempt+1: exponential, with full jitter.
// It returns false, without sleeping, when the caller's deadline leaves no
// room for the pause and another attempt.
func (c *Client) pause(ctx context.Context, attempt int) bool {
	base, max := c.BaseBackoff, c.MaxBackoff
	if base <= 0 {
		base = DefaultBaseBackoff
	}
	if max <= 0 {
		max = DefaultMaxBackoff
	}
	ceiling := base << (attempt - 1)
	if ceiling > max || ceiling <= 0 {
		ceiling = max
	}
	d := time.Duration(mathrand.Int64N(int64(ceiling) + 1))
	if deadline, ok := ctx.Deadline(); ok {
		// Leave room for an attempt worth making after the pause.
		const minAttempt = 50 * time.Millisecond
		if time.Until(deadline) < d+minAttempt {
			return false
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// once makes one signed attempt against base and verifies its answer with v.
func (c *Client) once(ctx context.Context, cred *Credentials, v Verifier, base, pathAndQuery string) (*Response, error) {
	if c.AttemptTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.AttemptTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+pathAndQuery, nil)
	if err != nil {
		return nil, &TransportError{Err: fmt.Errorf("build request: %w", err)}
	}
	// Sign the request target exactly as it goes on the wire.
	auth, err := c.authorize(cred, http.MethodGet, req.URL.RequestURI())
	if err != nil {
		return nil, &TransportError{Err: err}
	}
	req.Header["Authorization"] = []string{auth}
	req.Header["Accept"] = []string{"application/json"}
	req.Header["User-Agent"] = []string{c.UserAgent}
	if cred.PublicKeyID != "" {
		req.Header["Wechatpay-Serial"] = []string{cred.PublicKeyID}
	}
	httpResp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, &TransportError{Err: redactURL(err)}
	}
	defer httpResp.Body.Close()
	requestID := httpResp.Header.Get("Request-ID")
	limit := c.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	body, message, err := readBody(httpResp, limit,
		httpResp.Header.Get("Wechatpay-Timestamp"), httpResp.Header.Get("Wechatpay-Nonce"))
	if err != nil {
		return nil, &TransportError{Err: fmt.Errorf("read answer: %w", redactURL(err))}
	}
	if int64(len(body)) > limit {
		return nil, &AnswerError{Status: httpResp.StatusCode, RequestID: requestID,
			Reason: "answer larger than " + strconv.FormatInt(limit, 10) + " bytes"}
	}
	ok2xx := httpResp.StatusCode >= 200 && httpResp.StatusCode < 300
	signed := httpResp.Header.Get("Wechatpay-Signature") != ""
	// A 2xx answer must be signed. An error answer is verified when signed,
	// and otherwise taken only for its status, code and message.
	if ok2xx || signed {
		if err := c.verify(ctx, v, httpResp.Header, message); err != nil {
			return nil, &SignatureError{Status: httpResp.StatusCode, RequestID: requestID, Reason: err.Error(), Err: err}
		}
	}
	if !ok2xx {
		return nil, decodeAPIError(httpResp.StatusCode, requestID, body, signed)
	}
	return &Response{Status: httpResp.StatusCode, Header: httpResp.Header, Body: body, RequestID: requestID}, nil
}

// readBody reads at most limit+1 bytes of the answer (one more than allowed,
// to tell an oversized answer), and returns it with the message WeChat Pay
// signs for it, "<timestamp>\n<nonce>\n<body>\n". With a Content-Length
// it reads the body into the middle of one buffer laid out as that message,
// so that neither is copied; body aliases message.
func readBody(resp *http.Response, limit int64, timestamp, nonce string) (body, message []byte, err error) {
	r := io.LimitReader(resp.Body, limit+1)
	n := resp.ContentLength
	if n <= 0 || n > limit {
		body, err = io.ReadAll(r)
		return body, answerMessage(timestamp, nonce, body), err
	}
	message = make([]byte, 0, len(timestamp)+len(nonce)+int(n)+3)
	message = append(append(append(append(message, timestamp...), '\n'), nonce...), '\n')
	start := len(message)
	message = message[:start+int(n)]
	if _, err := io.ReadFull(r, message[start:]); err != nil {
		return nil, nil, err
	}
	// Read on to the end: the transport reuses the connection only once it
	// has seen it. The length was declared, so nothing more can come.
	if extra, err := io.Copy(io.Discard, r); err != nil || extra > 0 {
		return nil, nil, cmp.Or(err, errors.New("answer longer than its Content-Length"))
	}
	return message[start:], append(message, '\n'), nil
}

// authorize signs one request (a GET: no body) and renders its
// Authorization header.
func (c *Client) authorize(cred *Credentials, method, pathAndQuery string) (string, error) {
	timestamp := strconv.FormatInt(c.now().Unix(), 10)
	nonce := newNonce()
	sig, err := cred.Signer.Sign(requestMessage(method, pathAndQuery, timestamp, nonce, nil))
	if err != nil {
		return "", err
	}
	return authorization(cred.MchID, nonce, sig, timestamp, cred.SerialNo), nil
}

// verify checks an answer's signature headers, then its signature over
// message (see readBody).
func (c *Client) verify(ctx context.Context, v Verifier, h http.Header, message []byte) error {
	signature := h.Get("Wechatpay-Signature")
	timestamp := h.Get("Wechatpay-Timestamp")
	nonce := h.Get("Wechatpay-Nonce")
	serial := h.Get("Wechatpay-Serial")
	switch {
	case signature == "":
		return errors.New("missing Wechatpay-Signature")
	case strings.HasPrefix(signature, signTestPrefix):
		return errors.New("signature is a WECHATPAY/SIGNTEST/ probe")
	case timestamp == "" || nonce == "" || serial == "":
		return errors.New("missing Wechatpay-Timestamp, -Nonce or -Serial")
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("Wechatpay-Timestamp is not a number")
	}
	if skew := c.now().Sub(time.Unix(ts, 0)); skew > MaxClockSkew || skew < -MaxClockSkew {
		return fmt.Errorf("Wechatpay-Timestamp is %s away from now", skew.Round(time.Second))
	}
	if v == nil {
		return errors.New("no verifier configured")
	}
	return v.Verify(ctx, serial, message, signature)
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// newNonce returns 32 random hexadecimal characters.
func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported systems
	return hex.EncodeToString(b[:])
}

// redactURL drops the URL from a *url.Error: it holds the user's openid,
// which logs must not carry in full. The operation and cause remain.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
