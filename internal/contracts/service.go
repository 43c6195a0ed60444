// Package contracts is the service: one invocation in, one answer out. It
// validates the request, gets the merchant's credentials, asks WeChat Pay
// for the page, normalizes it, and maps every failure to exactly one code
// of the contract's error table.
package contracts

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/campuspay/contracts/internal/contractquery"
	"github.com/campuspay/contracts/internal/invocation"
	"github.com/campuspay/contracts/internal/merchant"
	"github.com/campuspay/contracts/internal/metrics"
	"github.com/campuspay/contracts/internal/secrets"
	"github.com/campuspay/contracts/internal/wechatpay"
)

// MerchantSource hands out the merchant's parsed credentials;
// *secrets.Cache[*merchant.Merchant] is one.
type MerchantSource interface {
	Get(ctx context.Context) (*merchant.Merchant, secrets.Origin, error)
	// Refresh fetches past the cache, after WeChat Pay refused the key.
	Refresh(ctx context.Context) (*merchant.Merchant, secrets.Origin, error)
}

// Upstream is the WeChat Pay call; *wechatpay.Client is one.
type Upstream interface {
	Get(ctx context.Context, cred *wechatpay.Credentials, pathAndQuery string) (*wechatpay.Response, wechatpay.Trace, error)
}

// DefaultDeadlineMargin is the time kept back from the Lambda deadline to
// write the answer, so a caller gets our JSON error rather than a timeout.
const DefaultDeadlineMargin = 300 * time.Millisecond

// Service answers invocations. It implements aws-lambda-go's lambda.Handler.
type Service struct {
	Merchants MerchantSource
	WeChatPay Upstream
	Log       *slog.Logger
	// Metrics, when set, gets one EMF line per invocation.
	Metrics *metrics.Emitter
	// ConfigErr, when set, is a configuration problem found at start: every
	// valid request then answers CONFIGURATION_ERROR.
	ConfigErr      error
	DeadlineMargin time.Duration

	warm  atomic.Bool   // set by the first invocation of the sandbox
	lists contractLists // the pages' contract lists, recycled
}

// outcome is what one invocation did, for its summary log line.
type outcome struct {
	shape          invocation.Shape
	status         int
	code           string
	openid         string
	secretOrigin   secrets.Origin
	trace          wechatpay.Trace
	authRetried    bool
	cause          error
	failureMessage string
}

// Invoke implements lambda.Handler: raw event bytes in, answer bytes out.
func (s *Service) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	start := time.Now()
	coldStart := !s.warm.Swap(true)

	var out outcome
	req, resp := s.handle(ctx, payload, &out)
	out.status, out.shape = resp.Status, req.Shape
	if resp.Code == "" {
		out.code = CodeOK
	} else {
		out.code = resp.Code
	}
	total := time.Since(start)
	s.logSummary(ctx, &out, coldStart, total)
	s.recordMetrics(ctx, &out, total)
	answer, err := invocation.Encode(req.Shape, resp)
	if page, ok := resp.Page.(*Page); ok {
		page.Release() // written
	}
	return answer, err
}

func (s *Service) handle(ctx context.Context, payload []byte, out *outcome) (invocation.Request, invocation.Response) {
	req, err := invocation.Parse(payload)
	if err != nil {
		var ee *invocation.EventError
		errors.As(err, &ee)
		return invocation.Request{Shape: invocation.ShapeDirect}, s.failure(ctx, out, fromEventError(ee))
	}
	if !req.RouteFound {
		return req, s.failure(ctx, out, &Failure{Code: CodeNotFound, Status: http.StatusNotFound,
			Message: "no such resource: use GET /users/{openid}/contracts"})
	}
	if req.Method != http.MethodGet {
		resp := s.failure(ctx, out, &Failure{Code: CodeMethodNotAllowed, Status: http.StatusMethodNotAllowed,
			Message: "method " + req.Method + " is not allowed: use GET"})
		resp.Header["Allow"] = http.MethodGet
		return req, resp
	}
	q, ferr := contractquery.Validate(req.Params)
	if ferr != nil {
		return req, s.failure(ctx, out, fromFieldError(ferr))
	}
	out.openid = q.OpenID
	if s.ConfigErr != nil {
		return req, s.failure(ctx, out, &Failure{Code: CodeConfiguration, Status: http.StatusInternalServerError,
			Message: "the function is misconfigured", Cause: s.ConfigErr})
	}
	basePath := req.Path
	if basePath == "" {
		basePath = "/users/" + q.OpenID + "/contracts"
	}
	page, requestID, f := s.list(ctx, q, basePath, out)
	if f != nil {
		return req, s.failure(ctx, out, f)
	}
	resp := invocation.Response{Status: http.StatusOK, Header: jsonHeader(), Page: page}
	if requestID != "" {
		resp.Header["X-Upstream-Request-Id"] = requestID
	}
	return req, resp
}

// list gets the credentials and the page: on 401 or 403 it fetches the
// secret once past the cache and tries once more.
func (s *Service) list(ctx context.Context, q contractquery.Query, basePath string, out *outcome) (*Page, string, *Failure) {
	ctx, cancel := s.withDeadline(ctx)
	defer cancel()

	m, origin, err := s.Merchants.Get(ctx)
	out.secretOrigin = origin
	if m == nil {
		return nil, "", configurationFailure(err)
	}
	if err != nil {
		// A stale value served because the refresh failed: go on with it.
		s.Log.WarnContext(ctx, "using the last good merchant secret: the refresh failed", "error", err.Error())
	}
	path := upstreamPath(q)
	resp, trace, err := s.WeChatPay.Get(ctx, &m.Credentials, path)
	if isAuthRefusal(err) {
		// The key may have been rotated: fetch the secret past the cache
		// (the cache rate-limits this) and try once more, as the contract
		// says, even when the secret has not changed.
		fresh, origin, ferr := s.Merchants.Refresh(ctx)
		if fresh != nil {
			out.authRetried, out.secretOrigin = true, origin
			first := trace
			resp, trace, err = s.WeChatPay.Get(ctx, &fresh.Credentials, path)
			trace.Attempts += first.Attempts
			trace.Upstream += first.Upstream
		} else if ferr != nil {
			s.Log.WarnContext(ctx, "refreshing the merchant secret after a refusal failed", "error", ferr.Error())
		}
	}
	out.trace = trace
	s.Log.DebugContext(ctx, "WeChat Pay answered", "upstream_status", trace.Status, "attempts", trace.Attempts,
		"upstream_host", hostOf(trace.BaseURL), "upstream_ms", ms(trace.Upstream))
	if trace.FailedOver {
		s.Log.WarnContext(ctx, "failed over to the backup WeChat Pay domain", "upstream_host", hostOf(trace.BaseURL), "attempts", trace.Attempts)
	}
	if err != nil {
		f := upstreamFailure(err, errors.Is(ctx.Err(), context.DeadlineExceeded))
		if f.Code == CodeSignatureInvalid {
			s.Log.WarnContext(ctx, "refused a WeChat Pay answer that did not verify", "reason", f.Message)
		}
		return nil, "", f
	}
	page, err := normalize(resp.Body, q, basePath, &s.lists)
	if err != nil {
		return nil, "", &Failure{Code: CodeUpstreamUnavail, Status: http.StatusServiceUnavailable,
			Message: "WeChat Pay's answer could not be read", Cause: err}
	}
	return page, resp.RequestID, nil
}

func isAuthRefusal(err error) bool {
	apiErr, ok := errors.AsType[*wechatpay.APIError](err)
	return ok && (apiErr.Status == http.StatusUnauthorized || apiErr.Status == http.StatusForbidden)
}

// upstreamPath is the WeChat Pay request target, parameters in the order of
// WeChat Pay's own SDK examples. Validation leaves nothing to escape.
func upstreamPath(q contractquery.Query) string {
	return "/v3/eduschoolpay/users/" + q.OpenID + "/contracts?plan_id=" + q.PlanID +
		"&contract_status=" + q.ContractStatus +
		"&offset=" + strconv.Itoa(q.Offset) + "&limit=" + strconv.Itoa(q.Limit)
}

// withDeadline keeps DeadlineMargin of the Lambda deadline (at most half of
// what is left) for writing the answer.
func (s *Service) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	margin := s.DeadlineMargin
	if margin <= 0 {
		margin = DefaultDeadlineMargin
	}
	if left := time.Until(deadline); margin > left/2 {
		margin = left / 2
	}
	return context.WithDeadline(ctx, deadline.Add(-margin))
}

func jsonHeader() map[string]string {
	return map[string]string{"Content-Type": "application/json; charset=utf-8"}
}

// errorBody is the contract's error answer.
type errorBody struct {
	Error struct {
		Code     string         `json:"code"`
		Message  string         `json:"message"`
		Field    string         `json:"field,omitempty"`
		Upstream *UpstreamError `json:"upstream,omitempty"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

// failure renders f as the contract's error answer.
func (s *Service) failure(ctx context.Context, out *outcome, f *Failure) invocation.Response {
	out.cause, out.failureMessage = f.Cause, f.Message
	if f.Upstream != nil {
		out.trace.Status, out.trace.RequestID = f.Upstream.Status, f.Upstream.RequestID
	}
	var b errorBody
	b.Error.Code, b.Error.Message, b.Error.Field, b.Error.Upstream = f.Code, f.Message, f.Field, f.Upstream
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		b.RequestID = lc.AwsRequestID
	}
	body, err := marshal(&b)
	if err != nil { // cannot happen for this type; keep an answer anyway
		body = []byte(`{"error":{"code":"` + f.Code + `"}}`)
	}
	h := jsonHeader()
	if f.Code == CodeRateLimited {
		h["Retry-After"] = strconv.Itoa(RetryAfterSeconds)
	}
	if f.Upstream != nil && f.Upstream.RequestID != "" {
		h["X-Upstream-Request-Id"] = f.Upstream.RequestID
	}
	return invocation.Response{Status: f.Status, Header: h, Body: body, Code: f.Code, Message: f.Message}
}
