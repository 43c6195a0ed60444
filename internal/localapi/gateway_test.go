package localapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/campuspay/contracts/internal/localapi"
)

const route = "GET /users/{openid}/contracts"

// when is the fixed clock of the event tests.
var when = time.Date(2024, 9, 1, 10, 0, 0, 123e6, time.FixedZone("CST", 8*3600))

func TestNewEventRepeatedQueryKeysAndHeaders(t *testing.T) {
	const rawQuery = "plan_id=101164396123311331&contract_status=ADD&contract_status=DELETE&limit=20&note=a%20b+c&flag"
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:3000/users/oUpF8uMuAJOM2pxb1Q/contracts?"+rawQuery, nil)
	r.Header.Add("X-Repeated", "one")
	r.Header.Add("X-Repeated", "two")
	r.Header.Set("User-Agent", "curl/8.5.0")
	r.Header.Add("Cookie", "a=1; b=2")
	r.Header.Add("Cookie", "c=3")

	ev := localapi.NewEvent(r, route, "req-1", when)

	if ev.RawQueryString != rawQuery {
		t.Errorf("rawQueryString = %q, want it as sent, %q", ev.RawQueryString, rawQuery)
	}
	wantQuery := map[string]string{
		"plan_id":         "101164396123311331",
		"contract_status": "ADD,DELETE",
		"limit":           "20",
		"note":            "a b c",
		"flag":            "",
	}
	if !reflect.DeepEqual(ev.QueryStringParameters, wantQuery) {
		t.Errorf("queryStringParameters = %v, want %v", ev.QueryStringParameters, wantQuery)
	}

	if got := ev.Headers["x-repeated"]; got != "one,two" {
		t.Errorf("x-repeated = %q, want the repeats comma-joined", got)
	}
	for k := range ev.Headers {
		if k != strings.ToLower(k) {
			t.Errorf("header %q is not lower-case", k)
		}
	}
	if _, ok := ev.Headers["cookie"]; ok {
		t.Error("the cookie header stayed in headers; payload 2.0 moves it to cookies")
	}
	if want := []string{"a=1", "b=2", "c=3"}; !slices.Equal(ev.Cookies, want) {
		t.Errorf("cookies = %q, want %q", ev.Cookies, want)
	}
	for k, want := range map[string]string{
		"host":              "127.0.0.1:3000",
		"content-length":    "0",
		"user-agent":        "curl/8.5.0",
		"x-forwarded-for":   "192.0.2.1", // httptest's RemoteAddr
		"x-forwarded-proto": "http",
		"x-forwarded-port":  "3000",
	} {
		if got := ev.Headers[k]; got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if !strings.HasPrefix(ev.Headers["x-amzn-trace-id"], "Root=1-") {
		t.Errorf("x-amzn-trace-id = %q", ev.Headers["x-amzn-trace-id"])
	}

	rc := ev.RequestContext
	want := events.APIGatewayV2HTTPRequestContext{
		RouteKey:     route,
		AccountID:    rc.AccountID,
		Stage:        "$default",
		RequestID:    "req-1",
		APIID:        "local",
		DomainName:   "127.0.0.1",
		DomainPrefix: "127.0.0.1",
		Time:         "01/Sep/2024:02:00:00 +0000",
		TimeEpoch:    1725156000123,
		HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
			Method:    "GET",
			Path:      "/users/oUpF8uMuAJOM2pxb1Q/contracts",
			Protocol:  "HTTP/1.1",
			SourceIP:  "192.0.2.1",
			UserAgent: "curl/8.5.0",
		},
	}
	if !reflect.DeepEqual(rc, want) {
		t.Errorf("requestContext =\n%+v\nwant\n%+v", rc, want)
	}
	if rc.AccountID == "" {
		t.Error("requestContext.accountId is empty")
	}
	if ev.Version != "2.0" || ev.RouteKey != route || ev.RawPath != "/users/oUpF8uMuAJOM2pxb1Q/contracts" {
		t.Errorf("version %q, routeKey %q, rawPath %q", ev.Version, ev.RouteKey, ev.RawPath)
	}
	if ev.Body != "" || ev.IsBase64Encoded {
		t.Errorf("body %q (base64 %v) for a request without one", ev.Body, ev.IsBase64Encoded)
	}
}

func TestNewEventNoQuery(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:3000/users/x/contracts", nil)
	ev := localapi.NewEvent(r, route, "req-1", when)
	if ev.RawQueryString != "" || ev.QueryStringParameters != nil {
		t.Errorf("rawQueryString %q, queryStringParameters %v: want both empty", ev.RawQueryString, ev.QueryStringParameters)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	// API Gateway leaves absent parts out of the event.
	for _, k := range []string{`"queryStringParameters"`, `"cookies"`, `"body"`, `"stageVariables"`} {
		if bytes.Contains(b, []byte(k)) {
			t.Errorf("event has %s: %s", k, b)
		}
	}
}

func TestNewEventPathParametersOnlyWhenTheRouteMatches(t *testing.T) {
	tests := []struct {
		route, method, target string
		wantParams            map[string]string // nil: the $default route
	}{
		{route, "GET", "/users/oUpF8uMuAJOM2pxb1Q/contracts", map[string]string{"openid": "oUpF8uMuAJOM2pxb1Q"}},
		{route, "GET", "/users/oUpF8uMuAJOM2pxb1Q/contracts?plan_id=1", map[string]string{"openid": "oUpF8uMuAJOM2pxb1Q"}},
		{route, "GET", "/users/a%2Fb/contracts", map[string]string{"openid": "a/b"}},
		{route, "POST", "/users/oUpF8uMuAJOM2pxb1Q/contracts", nil},
		{route, "HEAD", "/users/oUpF8uMuAJOM2pxb1Q/contracts", nil},
		{route, "GET", "/users/oUpF8uMuAJOM2pxb1Q/orders", nil},
		{route, "GET", "/prod/users/oUpF8uMuAJOM2pxb1Q/contracts", nil},
		{route, "GET", "/users/oUpF8uMuAJOM2pxb1Q/contracts/", nil},
		{route, "GET", "/users/oUpF8uMuAJOM2pxb1Q/contracts/x", nil},
		{route, "GET", "/users//contracts", nil},
		{route, "GET", "/users/contracts", nil},
		{route, "GET", "/", nil},
		{"ANY /users/{openid}/contracts", "POST", "/users/u1/contracts", map[string]string{"openid": "u1"}},
		{"GET /{proxy+}", "GET", "/users/u1/contracts", map[string]string{"proxy": "users/u1/contracts"}},
		{"GET /{proxy+}", "GET", "/", nil},
		{"$default", "GET", "/users/u1/contracts", nil},
		{"", "GET", "/users/u1/contracts", nil},
	}
	for _, tt := range tests {
		t.Run(tt.route+" "+tt.method+" "+tt.target, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			ev := localapi.NewEvent(r, tt.route, "req-1", when)
			wantKey := tt.route
			if tt.wantParams == nil {
				wantKey = "$default"
			}
			if ev.RouteKey != wantKey || ev.RequestContext.RouteKey != wantKey {
				t.Errorf("routeKey %q / requestContext.routeKey %q, want %q", ev.RouteKey, ev.RequestContext.RouteKey, wantKey)
			}
			if !reflect.DeepEqual(ev.PathParameters, tt.wantParams) {
				t.Errorf("pathParameters = %v, want %v", ev.PathParameters, tt.wantParams)
			}
			if want := strings.Split(tt.target, "?")[0]; ev.RawPath != want || ev.RequestContext.HTTP.Path != want {
				t.Errorf("rawPath %q, http.path %q, want the escaped path %q", ev.RawPath, ev.RequestContext.HTTP.Path, want)
			}
		})
	}
}

func TestNewEventBody(t *testing.T) {
	text := `{"plan_id":"101164396123311331"}`
	r := httptest.NewRequest(http.MethodPost, "/users/u1/contracts", strings.NewReader(text))
	ev := localapi.NewEvent(r, route, "req-1", when)
	if ev.Body != text || ev.IsBase64Encoded {
		t.Errorf("UTF-8 body: body %q base64 %v, want it as text", ev.Body, ev.IsBase64Encoded)
	}
	if got := ev.Headers["content-length"]; got != "32" {
		t.Errorf("content-length = %q", got)
	}

	binary := []byte{0xff, 0xfe, 0x00, 0x80, 'a'}
	r = httptest.NewRequest(http.MethodPost, "/users/u1/contracts", bytes.NewReader(binary))
	ev = localapi.NewEvent(r, route, "req-1", when)
	if !ev.IsBase64Encoded || ev.Body != base64.StdEncoding.EncodeToString(binary) {
		t.Errorf("binary body: body %q base64 %v, want it base64-encoded", ev.Body, ev.IsBase64Encoded)
	}
}

// invokeServer is a fake invoke endpoint: it records the event and answers
// with answer (status 200 unless status is set).
type invokeServer struct {
	t      *testing.T
	status int
	header http.Header
	answer string
	event  events.APIGatewayV2HTTPRequest
}

func (s *invokeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/2015-03-31/functions/function/invocations" {
		s.t.Errorf("invoked with %s %s", r.Method, r.URL.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		s.t.Errorf("invoked with Content-Type %q", ct)
	}
	raw, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(raw, &s.event); err != nil {
		s.t.Errorf("the event is not an APIGatewayV2HTTPRequest: %v", err)
	}
	// Only a mutual-TLS request carries requestContext.authentication.
	if bytes.Contains(raw, []byte(`"authentication"`)) {
		s.t.Errorf("the event has requestContext.authentication: %s", raw)
	}
	for k, vs := range s.header {
		w.Header()[k] = vs
	}
	if s.status != 0 {
		w.WriteHeader(s.status)
	}
	io.WriteString(w, s.answer)
}

// serve answers one request through a Gateway in front of fn and returns
// the recorded response and the Gateway's log.
func serve(t *testing.T, fn http.Handler, r *http.Request) (*httptest.ResponseRecorder, string) {
	t.Helper()
	invoke := httptest.NewServer(fn)
	defer invoke.Close()
	var logs bytes.Buffer
	g := &localapi.Gateway{
		InvokeURL: invoke.URL + "/2015-03-31/functions/function/invocations",
		Client:    invoke.Client(),
		Route:     route,
		ErrorLog:  log.New(&logs, "", 0),
	}
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)
	return w, logs.String()
}

func TestServeHTTPTranslatesTheResponse(t *testing.T) {
	body := []byte{0x89, 'P', 'N', 'G', 0x00, 0xff}
	answer, _ := json.Marshal(events.APIGatewayV2HTTPResponse{
		StatusCode: 201,
		Headers: map[string]string{
			"content-type":   "image/png",
			"x-single":       "one",
			"x-both":         "from-headers",
			"content-length": "999", // the gateway frames the body itself
		},
		MultiValueHeaders: map[string][]string{
			"X-Multi": {"a", "b"},
			"X-Both":  {"m1", "m2"},
		},
		Cookies:         []string{"session=abc; Path=/; HttpOnly", "theme=dark"},
		Body:            base64.StdEncoding.EncodeToString(body),
		IsBase64Encoded: true,
	})
	fn := &invokeServer{t: t, answer: string(answer)}
	w, logs := serve(t, fn, httptest.NewRequest(http.MethodGet, "/users/u1/contracts?plan_id=p1&plan_id=p2", nil))

	if w.Code != 201 {
		t.Fatalf("status %d, want 201 (log: %s)", w.Code, logs)
	}
	h := w.Result().Header
	for k, want := range map[string][]string{
		"Content-Type":   {"image/png"},
		"X-Single":       {"one"},
		"X-Multi":        {"a", "b"},
		"X-Both":         {"m1", "m2"},
		"Set-Cookie":     {"session=abc; Path=/; HttpOnly", "theme=dark"},
		"Content-Length": {"6"},
	} {
		if got := h.Values(k); !slices.Equal(got, want) {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !bytes.Equal(w.Body.Bytes(), body) {
		t.Errorf("body = %x, want the decoded %x", w.Body.Bytes(), body)
	}
	if id := h.Get("Apigw-Requestid"); id == "" || id != fn.event.RequestContext.RequestID {
		t.Errorf("Apigw-Requestid %q, event's requestId %q", id, fn.event.RequestContext.RequestID)
	}
	if fn.event.RawQueryString != "plan_id=p1&plan_id=p2" || fn.event.QueryStringParameters["plan_id"] != "p1,p2" {
		t.Errorf("event query: raw %q, parameters %v", fn.event.RawQueryString, fn.event.QueryStringParameters)
	}
	if fn.event.PathParameters["openid"] != "u1" || fn.event.RouteKey != route {
		t.Errorf("event routeKey %q, pathParameters %v", fn.event.RouteKey, fn.event.PathParameters)
	}
	if _, err := time.Parse(localapi.TimeLayout, fn.event.RequestContext.Time); err != nil {
		t.Errorf("requestContext.time: %v", err)
	}
}

func TestServeHTTPTextBodyWithoutContentType(t *testing.T) {
	fn := &invokeServer{t: t, answer: `{"statusCode": 404, "body": "{\"error\":{}}"}`}
	w, _ := serve(t, fn, httptest.NewRequest(http.MethodGet, "/users/u1/orders", nil))
	if w.Code != 404 || w.Body.String() != `{"error":{}}` {
		t.Errorf("got %d %q", w.Code, w.Body.String())
	}
	if ct := w.Result().Header.Values("Content-Type"); len(ct) > 0 {
		t.Errorf("Content-Type %q made up for a response that set none", ct)
	}
	if fn.event.RouteKey != "$default" || fn.event.PathParameters != nil {
		t.Errorf("unmatched path: routeKey %q, pathParameters %v", fn.event.RouteKey, fn.event.PathParameters)
	}
}

func TestServeHTTPInfersAResponseFromOtherJSON(t *testing.T) {
	tests := []struct{ answer, body string }{
		{`{"data": [], "has_more": false}`, `{"data": [], "has_more": false}`},
		{`"hello"`, `hello`},
		{`[1, 2]`, `[1, 2]`},
	}
	for _, tt := range tests {
		w, logs := serve(t, &invokeServer{t: t, answer: tt.answer}, httptest.NewRequest(http.MethodGet, "/users/u1/contracts", nil))
		if w.Code != 200 || w.Body.String() != tt.body || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("answer %s: got %d %q %q, want 200 application/json %q (log: %s)",
				tt.answer, w.Code, w.Header().Get("Content-Type"), w.Body.String(), tt.body, logs)
		}
	}
}

func TestServeHTTPFailuresAre502(t *testing.T) {
	tests := []struct {
		name    string
		fn      *invokeServer
		wantLog string
	}{
		{"function error", &invokeServer{answer: `{"errorMessage":"boom","errorType":"Panic"}`}, `"errorType":"Panic"`},
		{"function error flagged by the Invoke API", &invokeServer{
			header: http.Header{"X-Amz-Function-Error": {"Unhandled"}},
			answer: `{"errorMessage":"Task timed out after 10.00 seconds"}`}, "Unhandled"},
		{"invoke endpoint error", &invokeServer{status: 500, answer: "init failed"}, "500"},
		{"answer not JSON", &invokeServer{answer: "Task timed out after 10.00 seconds"}, "not JSON"},
		{"empty answer", &invokeServer{answer: ""}, "not JSON"},
		{"statusCode not a number", &invokeServer{answer: `{"statusCode":"200","body":"x"}`}, "malformed"},
		{"statusCode out of range", &invokeServer{answer: `{"statusCode":0,"body":"x"}`}, "malformed"},
		{"body not a string", &invokeServer{answer: `{"statusCode":200,"body":{"a":1}}`}, "malformed"},
		{"bad base64", &invokeServer{answer: `{"statusCode":200,"body":"%%%","isBase64Encoded":true}`}, "base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn.t = t
			w, logs := serve(t, tt.fn, httptest.NewRequest(http.MethodGet, "/users/u1/contracts", nil))
			check502(t, w, logs, tt.wantLog)
		})
	}
}

func TestServeHTTPInvokeUnreachable(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL + "/2015-03-31/functions/function/invocations"
	dead.Close()
	var logs bytes.Buffer
	g := &localapi.Gateway{InvokeURL: url, Route: route, ErrorLog: log.New(&logs, "", 0)}
	w := httptest.NewRecorder()
	g.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/users/u1/contracts", nil))
	check502(t, w, logs.String(), "invoking the function")
}

func check502(t *testing.T, w *httptest.ResponseRecorder, logs, wantLog string) {
	t.Helper()
	if w.Code != http.StatusBadGateway {
		t.Errorf("status %d, want 502", w.Code)
	}
	if got := w.Body.String(); got != `{"message":"Internal Server Error"}` {
		t.Errorf("body %q, want API Gateway's", got)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if w.Header().Get("Apigw-Requestid") == "" {
		t.Error("no Apigw-Requestid")
	}
	if !strings.Contains(logs, wantLog) || !strings.Contains(logs, "/users/u1/contracts") {
		t.Errorf("log %q does not give the reason (%q) and the request", logs, wantLog)
	}
}

func TestServeHTTPRequestTooLarge(t *testing.T) {
	fn := &invokeServer{t: t, answer: `{"statusCode":200}`}
	big := bytes.Repeat([]byte("a"), localapi.MaxRequestBody+1)
	w, _ := serve(t, fn, httptest.NewRequest(http.MethodPost, "/users/u1/contracts", bytes.NewReader(big)))
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", w.Code)
	}
}

// TestThroughALambdaHandler runs the Gateway over a real server in front of
// an aws-lambda-go handler, invoked as the runtime would invoke it: the event
// must decode into the handler's typed argument, and the handler's result and
// errors must come back as API Gateway would give them.
func TestThroughALambdaHandler(t *testing.T) {
	handler := lambda.NewHandler(func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if ev.QueryStringParameters["fail"] != "" {
			return events.APIGatewayV2HTTPResponse{}, errors.New("failed on purpose")
		}
		body, _ := json.Marshal(map[string]any{
			"openid":   ev.PathParameters["openid"],
			"status":   ev.QueryStringParameters["contract_status"],
			"rawQuery": ev.RawQueryString,
			"method":   ev.RequestContext.HTTP.Method,
			"host":     ev.Headers["host"],
		})
		return events.APIGatewayV2HTTPResponse{
			StatusCode: 200,
			Headers:    map[string]string{"Content-Type": "application/json; charset=utf-8"},
			Body:       string(body),
		}, nil
	})
	// The fake runtime: what the emulator does with a handler's result or error.
	invoke := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		payload, _ := io.ReadAll(r.Body)
		out, err := handler.Invoke(r.Context(), payload)
		if err != nil {
			out, _ = json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": "errorString"})
		}
		w.Write(out)
	}))
	defer invoke.Close()
	api := httptest.NewServer(&localapi.Gateway{
		InvokeURL: invoke.URL + "/2015-03-31/functions/function/invocations",
		Client:    invoke.Client(),
		Route:     route,
		ErrorLog:  log.New(io.Discard, "", 0),
	})
	defer api.Close()

	resp, err := http.Get(api.URL + "/users/oUpF8uMuAJOM2pxb1Q/contracts?contract_status=ADD&contract_status=ALL")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("got %s %q: %s", resp.Status, resp.Header.Get("Content-Type"), got)
	}
	var echo map[string]string
	if err := json.Unmarshal(got, &echo); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"openid":   "oUpF8uMuAJOM2pxb1Q",
		"status":   "ADD,ALL",
		"rawQuery": "contract_status=ADD&contract_status=ALL",
		"method":   "GET",
		"host":     strings.TrimPrefix(api.URL, "http://"),
	}
	if !reflect.DeepEqual(echo, want) {
		t.Errorf("the handler saw %v, want %v", echo, want)
	}

	resp, err = http.Get(api.URL + "/users/u1/contracts?fail=1")
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || string(got) != `{"message":"Internal Server Error"}` {
		t.Errorf("handler error: got %s %s, want 502", resp.Status, got)
	}
}
