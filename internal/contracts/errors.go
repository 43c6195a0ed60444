package contracts

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/campuspay/contracts/internal/contractquery"
	"github.com/campuspay/contracts/internal/invocation"
	"github.com/campuspay/contracts/internal/secrets"
	"github.com/campuspay/contracts/internal/wechatpay"
)

// Codes of the contract's error table; OK is logged for a success.
const (
	CodeOK                 = "OK"
	CodeInvalidParameter   = "INVALID_PARAMETER"
	CodeNotFound           = "NOT_FOUND"
	CodeMethodNotAllowed   = "METHOD_NOT_ALLOWED"
	CodeUpstreamRejected   = "UPSTREAM_REJECTED"
	CodeUpstreamAuthFailed = "UPSTREAM_AUTH_FAILED"
	CodeRateLimited        = "RATE_LIMITED"
	CodeSignatureInvalid   = "UPSTREAM_SIGNATURE_INVALID"
	CodeUpstreamUnavail    = "UPSTREAM_UNAVAILABLE"
	CodeConfiguration      = "CONFIGURATION_ERROR"
)

// RetryAfterSeconds is the Retry-After sent with RATE_LIMITED: WeChat Pay
// sends none, and its frequency limits are per second or per minute.
const RetryAfterSeconds = 2

// Failure is an answer of the error table: a code, its HTTP status, a message
// for people, and what WeChat Pay said when it was the one that refused.
type Failure struct {
	Code     string
	Status   int
	Message  string
	Field    string
	Upstream *UpstreamError
	// Cause is the error behind the failure, for the log line only.
	Cause error
}

// UpstreamError is WeChat Pay's answer, as it sent it.
type UpstreamError struct {
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

func (f *Failure) Error() string { return f.Code + ": " + f.Message }

func invalid(field, message string) *Failure {
	return &Failure{Code: CodeInvalidParameter, Status: http.StatusBadRequest, Message: message, Field: field}
}

func fromEventError(e *invocation.EventError) *Failure { return invalid(e.Field, e.Message) }

func fromFieldError(e *contractquery.FieldError) *Failure { return invalid(e.Field, e.Message) }

// configurationFailure reports a secret that could not be had. The message
// says which secret and why, never what it holds.
func configurationFailure(err error) *Failure {
	msg := "the merchant credentials could not be read"
	var se *secrets.Error
	if errors.As(err, &se) {
		switch se.Reason {
		case secrets.ReasonNotFound:
			msg = "the merchant secret does not exist"
		case secrets.ReasonAccessDenied:
			msg = "the function may not read the merchant secret"
		case secrets.ReasonMalformed:
			msg = "the merchant secret is malformed: " + se.Err.Error()
		case secrets.ReasonCallFailed:
			msg = "the call to Secrets Manager failed"
		}
	}
	return &Failure{Code: CodeConfiguration, Status: http.StatusInternalServerError, Message: msg, Cause: err}
}

// upstreamFailure maps an error of the WeChat Pay client to the table.
// deadline is whether the invocation's own deadline has passed.
func upstreamFailure(err error, deadline bool) *Failure {
	var (
		apiErr *wechatpay.APIError
		sigErr *wechatpay.SignatureError
		trErr  *wechatpay.TransportError
		ansErr *wechatpay.AnswerError
	)
	switch {
	case errors.As(err, &sigErr):
		return &Failure{Code: CodeSignatureInvalid, Status: http.StatusBadGateway,
			Message: "WeChat Pay's answer could not be verified (" + sigErr.Reason + ")", Cause: err}
	case errors.As(err, &apiErr):
		up := &UpstreamError{Status: apiErr.Status, Code: apiErr.Code, Message: apiErr.Message, RequestID: apiErr.RequestID}
		f := &Failure{Upstream: up, Cause: err}
		switch s := apiErr.Status; {
		case s == http.StatusUnauthorized || s == http.StatusForbidden:
			f.Code, f.Status = CodeUpstreamAuthFailed, http.StatusBadGateway
			f.Message = "WeChat Pay refused the merchant's credentials (HTTP " + strconv.Itoa(s) + ")"
		case s == http.StatusTooManyRequests:
			f.Code, f.Status = CodeRateLimited, http.StatusTooManyRequests
			f.Message = "WeChat Pay's rate limit was reached; retry later"
		case s >= 500:
			f.Code, f.Status = CodeUpstreamUnavail, http.StatusServiceUnavailable
			f.Message = "WeChat Pay is unavailable (HTTP " + strconv.Itoa(s) + ")"
		default:
			f.Code, f.Status = CodeUpstreamRejected, http.StatusBadRequest
			if s == http.StatusNotFound {
				f.Status = http.StatusNotFound
			}
			f.Message = "WeChat Pay rejected the request"
			if apiErr.Message != "" {
				f.Message += ": " + apiErr.Message
			}
		}
		return f
	case errors.As(err, &trErr):
		f := &Failure{Code: CodeUpstreamUnavail, Status: http.StatusServiceUnavailable,
			Message: "WeChat Pay could not be reached", Cause: err}
		if trErr.DeadlineExceeded || deadline {
			f.Status = http.StatusGatewayTimeout
			f.Message = "WeChat Pay did not answer before the deadline"
		}
		return f
	case errors.As(err, &ansErr):
		return &Failure{Code: CodeUpstreamUnavail, Status: http.StatusServiceUnavailable,
			Message: "WeChat Pay's answer could not be read", Cause: err}
	}
	return &Failure{Code: CodeUpstreamUnavail, Status: http.StatusServiceUnavailable,
		Message: "WeChat Pay could not be reached", Cause: err}
}
