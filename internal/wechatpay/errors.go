package wechatpay

import (
	"encoding/json"
	"fmt"
)

// APIError is an answer of WeChat Pay with a non-2xx status. When the
// answer was signed its signature has been verified; when it was not (as
// from a gateway in front of WeChat Pay) only Status, Code and Message are
// taken from it.
type APIError struct {
	Status    int
	Code      string // WeChat Pay's error code, e.g. PARAM_ERROR
	Message   string
	RequestID string // WeChat Pay's Request-ID header
	Signed    bool
}

func (e *APIError) Error() string {
	return fmt.Sprintf("wechatpay: HTTP %d %s: %s (Request-ID %q)", e.Status, e.Code, e.Message, e.RequestID)
}

// decodeAPIError reads WeChat Pay's {"code","message"} error body. A body it
// cannot read still makes an APIError with the status alone.
func decodeAPIError(status int, requestID string, body []byte, signed bool) *APIError {
	var b struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &b)
	const maxMessage = 512 // a gateway's HTML page is not a message
	if len(b.Message) > maxMessage {
		b.Message = b.Message[:maxMessage]
	}
	return &APIError{Status: status, Code: b.Code, Message: b.Message, RequestID: requestID, Signed: signed}
}

// SignatureError is an answer whose signature is missing, stale, made by an
// unknown key, a signature-test probe, or wrong. Its body must not be used.
type SignatureError struct {
	Status    int
	RequestID string
	Reason    string
	Err       error
}

func (e *SignatureError) Error() string { return "wechatpay: answer not verified: " + e.Reason }

func (e *SignatureError) Unwrap() error { return e.Err }

// TransportError is a failure to get any answer: a network error or a
// timeout, after every attempt. DeadlineExceeded is set when the caller's
// deadline, rather than one attempt's timeout, ended the work.
type TransportError struct {
	Err              error
	DeadlineExceeded bool
}

func (e *TransportError) Error() string { return "wechatpay: no answer: " + e.Err.Error() }

func (e *TransportError) Unwrap() error { return e.Err }

// AnswerError is a verified answer that cannot be used: too large, or not
// the JSON it should be.
type AnswerError struct {
	Status    int
	RequestID string
	Reason    string
}

func (e *AnswerError) Error() string { return "wechatpay: unusable answer: " + e.Reason }
