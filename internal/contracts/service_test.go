package contracts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/campuspay/contracts/internal/merchant"
	"github.com/campuspay/contracts/internal/secrets"
	"github.com/campuspay/contracts/internal/wechatpay"
)

type fakeMerchants struct {
	gets, refreshes int
	current         *merchant.Merchant
	next            *merchant.Merchant // handed out by Refresh
	err             error
}

func (f *fakeMerchants) Get(context.Context) (*merchant.Merchant, secrets.Origin, error) {
	f.gets++
	if f.err != nil {
		return nil, secrets.FromFetch, f.err
	}
	return f.current, secrets.FromCache, nil
}

func (f *fakeMerchants) Refresh(context.Context) (*merchant.Merchant, secrets.Origin, error) {
	f.refreshes++
	if f.next != nil {
		f.current = f.next
	}
	return f.current, secrets.FromFetch, nil
}

type call struct {
	cred *wechatpay.Credentials
	path string
}

type fakeUpstream struct {
	failedOver bool
	calls      []call
	results    []func() (*wechatpay.Response, error) // one per call; the last repeats
}

func (f *fakeUpstream) Get(_ context.Context, cred *wechatpay.Credentials, path string) (*wechatpay.Response, wechatpay.Trace, error) {
	f.calls = append(f.calls, call{cred, path})
	r := f.results[min(len(f.calls), len(f.results))-1]
	resp, err := r()
	tr := wechatpay.Trace{Attempts: 1, BaseURL: "https://api.mch.weixin.qq.com", FailedOver: f.failedOver}
	if resp != nil {
		tr.Status, tr.RequestID = resp.Status, resp.RequestID
	}
	return resp, tr, err
}

func ok(body string) func() (*wechatpay.Response, error) {
	return func() (*wechatpay.Response, error) {
		return &wechatpay.Response{Status: 200, Body: []byte(body), RequestID: "08F4D5C3-UP"}, nil
	}
}

func fail(err error) func() (*wechatpay.Response, error) {
	return func() (*wechatpay.Response, error) { return nil, err }
}

type rig struct {
	svc      *Service
	merchant *fakeMerchants
	up       *fakeUpstream
	logs     *bytes.Buffer
}

func newRig(results ...func() (*wechatpay.Response, error)) *rig {
	m := &fakeMerchants{current: &merchant.Merchant{Credentials: wechatpay.Credentials{MchID: "1900000001"}}}
	up := &fakeUpstream{results: results}
	logs := &bytes.Buffer{}
	return &rig{
		svc:      &Service{Merchants: m, WeChatPay: up, Log: slog.New(slog.NewJSONHandler(logs, nil))},
		merchant: m, up: up, logs: logs,
	}
}

func invokeCtx(t *testing.T) context.Context {
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second) // a Lambda-like deadline
	t.Cleanup(cancel)
	return ctx
}

// httpAnswer is a proxy response as API Gateway reads it.
type httpAnswer struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

func v2Event(method, rawPath, rawQuery string) []byte {
	ev := map[string]any{
		"version": "2.0", "routeKey": "$default", "rawPath": rawPath, "rawQueryString": rawQuery,
		"requestContext": map[string]any{"domainName": "abc.execute-api.us-east-1.amazonaws.com",
			"http": map[string]any{"method": method, "path": rawPath}},
	}
	b, _ := json.Marshal(ev)
	return b
}

func (r *rig) invokeHTTP(t *testing.T, payload []byte) httpAnswer {
	t.Helper()
	out, err := r.svc.Invoke(invokeCtx(t), payload)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	var a httpAnswer
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatalf("answer %q: %v", out, err)
	}
	return a
}

const upstreamTwo = `{"data":[
 {"contract_id":"wxc1","mchid":"1900000001","appid":"wx8888888888888888","openid":"oUpF8uMuAJOM2pxb1Q","plan_id":"101164396123311331","contract_status":"ADD","create_time":"2024-09-01T10:00:00+08:00","out_contract_code":"school-2024-0001"},
 {"contract_id":"wxc2","mchid":"1900000001","appid":"wx8888888888888888","openid":"oUpF8uMuAJOM2pxb1Q","plan_id":"101164396123311331","contract_status":"DELETE","create_time":"2024-09-02T10:00:00+08:00"}
],"offset":20,"limit":20,"total_count":45,"links":{"next":"/v3/eduschoolpay/users/oUpF8uMuAJOM2pxb1Q/contracts?offset=40","prev":"","self":""}}`

func TestSuccessIsNormalized(t *testing.T) {
	r := newRig(ok(upstreamTwo))
	a := r.invokeHTTP(t, v2Event("GET", "/prod/users/oUpF8uMuAJOM2pxb1Q/contracts", "plan_id=101164396123311331&contract_status=all&offset=20"))
	if a.StatusCode != 200 || a.Headers["Content-Type"] != "application/json; charset=utf-8" || a.Headers["X-Upstream-Request-Id"] != "08F4D5C3-UP" {
		t.Fatalf("answer %+v", a)
	}
	want := `{"data":[` +
		`{"contract_id":"wxc1","mchid":"1900000001","appid":"wx8888888888888888","openid":"oUpF8uMuAJOM2pxb1Q","plan_id":"101164396123311331","contract_status":"ADD","create_time":"2024-09-01T10:00:00+08:00","out_contract_code":"school-2024-0001"},` +
		`{"contract_id":"wxc2","mchid":"1900000001","appid":"wx8888888888888888","openid":"oUpF8uMuAJOM2pxb1Q","plan_id":"101164396123311331","contract_status":"DELETE","create_time":"2024-09-02T10:00:00+08:00","out_contract_code":null}],` +
		`"offset":20,"limit":20,"total_count":45,"has_more":true,"next_offset":40,"links":{` +
		`"self":"/prod/users/oUpF8uMuAJOM2pxb1Q/contracts?contract_status=ALL&limit=20&offset=20&plan_id=101164396123311331",` +
		`"next":"/prod/users/oUpF8uMuAJOM2pxb1Q/contracts?contract_status=ALL&limit=20&offset=40&plan_id=101164396123311331",` +
		`"prev":"/prod/users/oUpF8uMuAJOM2pxb1Q/contracts?contract_status=ALL&limit=20&offset=0&plan_id=101164396123311331"}}`
	if a.Body != want {
		t.Errorf("body\n%s\nwant\n%s", a.Body, want)
	}
	if len(r.up.calls) != 1 || r.up.calls[0].path != "/v3/eduschoolpay/users/oUpF8uMuAJOM2pxb1Q/contracts?plan_id=101164396123311331&contract_status=ALL&offset=20&limit=20" {
		t.Errorf("upstream calls %+v", r.up.calls)
	}
}

func TestPaging(t *testing.T) {
	tests := []struct {
		name, upstream, query string
		hasMore               bool
		next                  any
		prevNull, nextNull    bool
	}{
		{"first and last page", `{"data":[],"total_count":0}`, "", false, nil, true, true},
		{"null data", `{"data":null,"total_count":0}`, "", false, nil, true, true},
		{"last page exactly", `{"data":[],"total_count":40}`, "&offset=20", false, nil, false, true},
		{"more", `{"data":[],"total_count":41}`, "&offset=20", true, float64(40), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(ok(tt.upstream))
			out, err := r.svc.Invoke(invokeCtx(t), []byte(`{"openid":"o1","plan_id":"p1","contract_status":"ADD"`+
				strings.ReplaceAll(strings.ReplaceAll(tt.query, "&offset=", `,"offset":`), "&", ",")+`}`))
			if err != nil {
				t.Fatal(err)
			}
			var p map[string]any
			if err := json.Unmarshal(out, &p); err != nil {
				t.Fatal(err)
			}
			links := p["links"].(map[string]any)
			if p["has_more"] != tt.hasMore || p["next_offset"] != tt.next || (links["prev"] == nil) != tt.prevNull || (links["next"] == nil) != tt.nextNull {
				t.Errorf("page %v", p)
			}
			if d, isArray := p["data"].([]any); !isArray || d == nil {
				t.Errorf("data = %#v; want an array", p["data"])
			}
			if !strings.HasPrefix(links["self"].(string), "/users/o1/contracts?contract_status=ADD&limit=20&offset=") {
				t.Errorf("self = %v", links["self"])
			}
		})
	}
}

func TestBadInputCallsNothing(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		status  int
		code    string
		field   string
	}{
		{"limit too big", v2Event("GET", "/users/o1/contracts", "plan_id=p&contract_status=ADD&limit=41"), 400, CodeInvalidParameter, "limit"},
		{"repeated", v2Event("GET", "/users/o1/contracts", "plan_id=p&plan_id=q&contract_status=ADD"), 400, CodeInvalidParameter, "plan_id"},
		{"missing status", v2Event("GET", "/users/o1/contracts", "plan_id=p"), 400, CodeInvalidParameter, "contract_status"},
		{"bad openid", v2Event("GET", "/users/o%201/contracts", "plan_id=p&contract_status=ADD"), 400, CodeInvalidParameter, "openid"},
		{"unknown path", v2Event("GET", "/users/o1/orders", ""), 404, CodeNotFound, ""},
		{"POST", v2Event("POST", "/users/o1/contracts", "plan_id=p&contract_status=ADD"), 405, CodeMethodNotAllowed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(ok(upstreamTwo))
			a := r.invokeHTTP(t, tt.payload)
			if a.StatusCode != tt.status {
				t.Errorf("status %d, want %d", a.StatusCode, tt.status)
			}
			var b struct {
				Error     struct{ Code, Message, Field string }
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal([]byte(a.Body), &b); err != nil {
				t.Fatal(err)
			}
			if b.Error.Code != tt.code || b.Error.Field != tt.field || b.Error.Message == "" || b.RequestID != "c6af9ac6-7b61-11e6-9a41-93e8deadbeef" {
				t.Errorf("body %s", a.Body)
			}
			if tt.code == CodeMethodNotAllowed && a.Headers["Allow"] != "GET" {
				t.Errorf("Allow = %q", a.Headers["Allow"])
			}
			if r.merchant.gets != 0 || len(r.up.calls) != 0 {
				t.Errorf("secret fetched %d times, upstream called %d times", r.merchant.gets, len(r.up.calls))
			}
		})
	}
}

func TestDirectErrorsAreFunctionErrors(t *testing.T) {
	for _, payload := range []string{`not json`, `{"openid":"o1","plan_id":"p","contract_status":"ADD","offset":15}`} {
		r := newRig(ok(upstreamTwo))
		_, err := r.svc.Invoke(invokeCtx(t), []byte(payload))
		var fe messages.InvokeResponse_Error
		if !errors.As(err, &fe) || fe.Type != CodeInvalidParameter || fe.Message == "" {
			t.Errorf("%s: err = %#v", payload, err)
		}
		if r.merchant.gets != 0 || len(r.up.calls) != 0 {
			t.Errorf("%s: calls made", payload)
		}
	}
}

func TestErrorMapping(t *testing.T) {
	apiErr := func(status int, code string) error {
		return &wechatpay.APIError{Status: status, Code: code, Message: "msg " + code, RequestID: "RID-1", Signed: true}
	}
	tests := []struct {
		name       string
		err        error
		status     int
		code       string
		upstream   bool
		retryAfter bool
	}{
		{"param error", apiErr(400, "PARAM_ERROR"), 400, CodeUpstreamRejected, true, false},
		{"not found", apiErr(404, "RESOURCE_NOT_EXISTS"), 404, CodeUpstreamRejected, true, false},
		{"401", apiErr(401, "SIGN_ERROR"), 502, CodeUpstreamAuthFailed, true, false},
		{"403", apiErr(403, "NO_AUTH"), 502, CodeUpstreamAuthFailed, true, false},
		{"429", apiErr(429, "FREQUENCY_LIMITED"), 429, CodeRateLimited, true, true},
		{"500", apiErr(500, "SYSTEM_ERROR"), 503, CodeUpstreamUnavail, true, false},
		{"signature", &wechatpay.SignatureError{Status: 200, Reason: "bad"}, 502, CodeSignatureInvalid, false, false},
		{"network", &wechatpay.TransportError{Err: errors.New("connection refused")}, 503, CodeUpstreamUnavail, false, false},
		{"deadline", &wechatpay.TransportError{Err: context.DeadlineExceeded, DeadlineExceeded: true}, 504, CodeUpstreamUnavail, false, false},
		{"oversized", &wechatpay.AnswerError{Status: 200, Reason: "too large"}, 503, CodeUpstreamUnavail, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(fail(tt.err))
			a := r.invokeHTTP(t, v2Event("GET", "/users/o1/contracts", "plan_id=p&contract_status=ADD"))
			var b struct {
				Error struct {
					Code     string
					Upstream *UpstreamError
				}
			}
			if err := json.Unmarshal([]byte(a.Body), &b); err != nil {
				t.Fatal(err)
			}
			if a.StatusCode != tt.status || b.Error.Code != tt.code || (b.Error.Upstream != nil) != tt.upstream {
				t.Errorf("got %d %s", a.StatusCode, a.Body)
			}
			if tt.upstream && (b.Error.Upstream.RequestID != "RID-1" || b.Error.Upstream.Status == 0 || b.Error.Upstream.Code == "") {
				t.Errorf("upstream %+v", b.Error.Upstream)
			}
			if (a.Headers["Retry-After"] != "") != tt.retryAfter {
				t.Errorf("Retry-After = %q", a.Headers["Retry-After"])
			}
		})
	}
}

func TestAuthRefusalRefreshesOnce(t *testing.T) {
	refused := fail(&wechatpay.APIError{Status: 401, Code: "SIGN_ERROR", Message: "x"})
	t.Run("rotated key then success", func(t *testing.T) {
		r := newRig(refused, ok(`{"data":[],"total_count":0}`))
		rotated := &merchant.Merchant{Credentials: wechatpay.Credentials{MchID: "1900000001", SerialNo: "NEW"}}
		r.merchant.next = rotated
		a := r.invokeHTTP(t, v2Event("GET", "/users/o1/contracts", "plan_id=p&contract_status=ADD"))
		if a.StatusCode != 200 || r.merchant.refreshes != 1 || len(r.up.calls) != 2 || r.up.calls[1].cred.SerialNo != "NEW" {
			t.Errorf("status %d refreshes %d calls %d", a.StatusCode, r.merchant.refreshes, len(r.up.calls))
		}
	})
	t.Run("still refused", func(t *testing.T) {
		r := newRig(refused)
		r.merchant.next = &merchant.Merchant{}
		a := r.invokeHTTP(t, v2Event("GET", "/users/o1/contracts", "plan_id=p&contract_status=ADD"))
		if a.StatusCode != 502 || !strings.Contains(a.Body, CodeUpstreamAuthFailed) || r.merchant.refreshes != 1 || len(r.up.calls) != 2 {
			t.Errorf("status %d refreshes %d calls %d", a.StatusCode, r.merchant.refreshes, len(r.up.calls))
		}
	})
	t.Run("refresh gives the same credentials: still one retry", func(t *testing.T) {
		r := newRig(refused)
		a := r.invokeHTTP(t, v2Event("GET", "/users/o1/contracts", "plan_id=p&contract_status=ADD"))
		if a.StatusCode != 502 || len(r.up.calls) != 2 || r.merchant.refreshes != 1 {
			t.Errorf("status %d calls %d", a.StatusCode, len(r.up.calls))
		}
	})
}

func TestConfigurationErrors(t *testing.T) {
	r := newRig(ok(upstreamTwo))
	r.merchant.err = &secrets.Error{SecretID: "x", Reason: secrets.ReasonMalformed, Err: errors.New("private_key is required")}
	a := r.invokeHTTP(t, v2Event("GET", "/users/o1/contracts", "plan_id=p&contract_status=ADD"))
	if a.StatusCode != http.StatusInternalServerError || !strings.Contains(a.Body, CodeConfiguration) || len(r.up.calls) != 0 {
		t.Errorf("got %d %s", a.StatusCode, a.Body)
	}
	r = newRig(ok(upstreamTwo))
	r.svc.ConfigErr = errors.New("WECHATPAY_SECRET_ID is required")
	a = r.invokeHTTP(t, v2Event("GET", "/users/o1/contracts", "plan_id=p&contract_status=ADD"))
	if a.StatusCode != 500 || r.merchant.gets != 0 {
		t.Errorf("got %d %s", a.StatusCode, a.Body)
	}
}

func TestUpstreamMalformedJSON(t *testing.T) {
	r := newRig(ok(`{"data":[{"contract_id":5}]}`))
	a := r.invokeHTTP(t, v2Event("GET", "/users/o1/contracts", "plan_id=p&contract_status=ADD"))
	if a.StatusCode != 503 || !strings.Contains(a.Body, CodeUpstreamUnavail) {
		t.Errorf("got %d %s", a.StatusCode, a.Body)
	}
}

func TestSummaryLineHidesOpenID(t *testing.T) {
	r := newRig(ok(upstreamTwo))
	r.invokeHTTP(t, v2Event("GET", "/users/oUpF8uMuAJOM2pxb1Q/contracts", "plan_id=p&contract_status=ADD"))
	line := r.logs.String()
	if strings.Contains(line, "oUpF8uMuAJOM2pxb1Q") {
		t.Errorf("log carries the openid: %s", line)
	}
	if !strings.Contains(line, MaskOpenID("oUpF8uMuAJOM2pxb1Q")) || !strings.Contains(line, `"outcome":"OK"`) {
		t.Errorf("summary line: %s", line)
	}
}
