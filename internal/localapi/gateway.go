// Package localapi is the local HTTP API of `make run`: an http.Handler that
// plays Amazon API Gateway's HTTP API (payload format 2.0) in front of a
// Lambda invoke endpoint, such as the Lambda runtime interface emulator's
// POST /2015-03-31/functions/function/invocations.
//
// It turns each HTTP request into the event API Gateway would send, invokes
// the function with it, and turns the function's answer back into HTTP the
// way API Gateway does, so that the function runs locally exactly as it runs
// behind the deployed API: same event, same response rules, same 502 when
// the function fails. Nothing else of API Gateway (authorizers, throttling,
// stages, CORS) is played.
package localapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Limits API Gateway and Lambda enforce, kept here so that a request or an
// answer too large to pass in AWS fails locally too.
const (
	// MaxRequestBody is HTTP API's payload quota (10 MB).
	MaxRequestBody = 10 << 20
	// MaxInvokeResponse is Lambda's synchronous response payload limit (6 MB).
	MaxInvokeResponse = 6 << 20
)

// Values of the event that API Gateway would take from the deployment.
const (
	// DefaultRoute is the route key "$default": the catch-all route, used
	// when the request does not match Gateway.Route.
	DefaultRoute = "$default"
	// TimeLayout is the layout of requestContext.time.
	TimeLayout = "02/Jan/2006:15:04:05 -0700"
	accountID  = "123456789012"
	apiID      = "local"
	stage      = "$default"
)

// Gateway is an http.Handler that forwards each request to a Lambda
// function as an HTTP API payload 2.0 event and answers with the function's
// response. Its zero value is not usable: InvokeURL is required.
type Gateway struct {
	// InvokeURL is where the event is POSTed, e.g.
	// http://127.0.0.1:8080/2015-03-31/functions/function/invocations.
	InvokeURL string
	// Client sends the invocations; nil means http.DefaultClient. Its
	// Timeout plays API Gateway's integration timeout.
	Client *http.Client
	// Route is the one route of the API, "METHOD /path/{param}" as in
	// API Gateway ("ANY" matches every method, a last "{name+}" segment the
	// rest of the path). A request that matches it gets it as routeKey and
	// its pathParameters; any other goes to the function as "$default".
	Route string
	// ErrorLog receives the reason for every 502; nil logs to os.Stderr.
	ErrorLog *log.Logger
}

// ServeHTTP answers one request through the function.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	// API Gateway names its request id on every answer, errors included.
	w.Header().Set("Apigw-Requestid", requestID)

	in := r.Body
	if in == nil {
		in = http.NoBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, in, MaxRequestBody))
	if err != nil {
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			writeMessage(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
			return
		}
		writeMessage(w, http.StatusBadRequest, "Bad Request")
		return
	}
	payload, err := marshalEvent(newEvent(r, body, g.Route, requestID, time.Now()))
	if err != nil { // cannot happen: the event holds only strings, maps and numbers
		g.fail(w, r, requestID, fmt.Errorf("encoding the event: %w", err))
		return
	}
	answer, err := g.invoke(r.Context(), payload)
	if err != nil {
		g.fail(w, r, requestID, err)
		return
	}
	resp, err := translate(answer)
	if err != nil {
		g.fail(w, r, requestID, err)
		return
	}
	resp.write(w)
}

// invoke POSTs the event to the invoke endpoint and returns the function's
// answer, or an error when the invocation failed or the function did.
func (g *Gateway) invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.InvokeURL, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("invoke URL %q: %w", g.InvokeURL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	client := g.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoking the function: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, MaxInvokeResponse+1))
	if err != nil {
		return nil, fmt.Errorf("reading the invoke answer: %w", err)
	}
	if len(answer) > MaxInvokeResponse {
		return nil, fmt.Errorf("the function's answer is over Lambda's %d-byte response limit", MaxInvokeResponse)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the invoke endpoint answered %s: %s", resp.Status, excerpt(answer))
	}
	// The Lambda Invoke API flags a function error with this header; the
	// runtime interface emulator does not, and leaves the body to say it.
	if kind := resp.Header.Get("X-Amz-Function-Error"); kind != "" {
		return nil, fmt.Errorf("function error (%s): %s", kind, excerpt(answer))
	}
	return answer, nil
}

// fail answers as API Gateway does when the integration fails, and logs why
// (the caller, like API Gateway's, learns nothing).
func (g *Gateway) fail(w http.ResponseWriter, r *http.Request, requestID string, reason error) {
	logger := g.ErrorLog
	if logger == nil {
		logger = log.New(os.Stderr, "localapi: ", log.LstdFlags)
	}
	logger.Printf("%s %s %s: 502: %v", requestID, r.Method, r.URL.RequestURI(), reason)
	writeMessage(w, http.StatusBadGateway, "Internal Server Error")
}

// writeMessage writes API Gateway's own error body, {"message": "..."}.
func writeMessage(w http.ResponseWriter, status int, message string) {
	body, _ := json.Marshal(map[string]string{"message": message})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// response is the HTTP answer made of the function's result.
type response struct {
	status int
	header http.Header
	body   []byte
}

// translate reads the function's answer as HTTP API reads a payload 2.0
// result: a JSON object with a statusCode is a response (statusCode,
// headers, multiValueHeaders, cookies, body, isBase64Encoded); a JSON object
// with errorMessage or errorType and no statusCode is a function error; any
// other valid JSON is a 200 application/json body (a JSON string gives its
// text, anything else its JSON).
func translate(answer []byte) (*response, error) {
	answer = bytes.TrimSpace(answer)
	if !json.Valid(answer) {
		return nil, fmt.Errorf("the function's answer is not JSON: %s", excerpt(answer))
	}
	inferred := &response{status: http.StatusOK, header: http.Header{"Content-Type": {"application/json"}}, body: answer}
	switch answer[0] {
	case '"':
		var s string
		if err := json.Unmarshal(answer, &s); err != nil {
			return nil, fmt.Errorf("the function's answer is not JSON: %w", err)
		}
		inferred.body = []byte(s)
		return inferred, nil
	case '{':
	default:
		return inferred, nil
	}

	var fields map[string]json.RawMessage
	if err := json.Unmarshal(answer, &fields); err != nil {
		return nil, fmt.Errorf("the function's answer is not JSON: %w", err)
	}
	if _, ok := fields["statusCode"]; !ok {
		_, hasMessage := fields["errorMessage"]
		_, hasType := fields["errorType"]
		if hasMessage || hasType {
			return nil, fmt.Errorf("function error: %s", excerpt(answer))
		}
		return inferred, nil
	}

	var out events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(answer, &out); err != nil {
		return nil, fmt.Errorf("malformed Lambda response: %w", err)
	}
	if out.StatusCode < 100 || out.StatusCode > 599 {
		return nil, fmt.Errorf("malformed Lambda response: statusCode %d", out.StatusCode)
	}
	resp := &response{status: out.StatusCode, header: http.Header{}, body: []byte(out.Body)}
	if out.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(out.Body)
		if err != nil {
			return nil, fmt.Errorf("malformed Lambda response: isBase64Encoded with a body that is not base64: %w", err)
		}
		resp.body = b
	}
	for k, v := range out.Headers {
		resp.header.Set(k, v)
	}
	// Where both maps name a header, the multi-value one wins, as in
	// API Gateway's REST APIs.
	for k, vs := range out.MultiValueHeaders {
		resp.header.Del(k)
		for _, v := range vs {
			resp.header.Add(k, v)
		}
	}
	for _, c := range out.Cookies {
		resp.header.Add("Set-Cookie", c)
	}
	// Framing is the gateway's business, not the function's.
	for _, k := range []string{"Content-Length", "Transfer-Encoding", "Connection"} {
		resp.header.Del(k)
	}
	return resp, nil
}

// write sends the response. A response without Content-Type goes without
// one, rather than with a type net/http would guess.
func (resp *response) write(w http.ResponseWriter) {
	h := w.Header()
	for k, vs := range resp.header {
		h[k] = vs
	}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	w.WriteHeader(resp.status)
	w.Write(resp.body)
}

// marshalEvent encodes the event as API Gateway sends it. aws-lambda-go's
// request context holds authentication as a struct, which encoding/json
// cannot leave out, while API Gateway sends it only for mutual TLS: the
// shadowing field drops it.
func marshalEvent(ev events.APIGatewayV2HTTPRequest) ([]byte, error) {
	type requestContext struct {
		events.APIGatewayV2HTTPRequestContext
		Authentication *struct{} `json:"authentication,omitempty"`
	}
	return json.Marshal(struct {
		events.APIGatewayV2HTTPRequest
		RequestContext requestContext `json:"requestContext"`
	}{ev, requestContext{APIGatewayV2HTTPRequestContext: ev.RequestContext}})
}

// NewEvent builds the HTTP API payload 2.0 event API Gateway would send for
// r on an API whose one route is route ("GET /users/{openid}/contracts"),
// with the given request id and time. It reads r.Body to its end (a read
// error ends the body where it happened). ServeHTTP uses it with a fresh id
// and the current time; tests use it to see the event itself.
func NewEvent(r *http.Request, route string, requestID string, now time.Time) events.APIGatewayV2HTTPRequest {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
	}
	return newEvent(r, body, route, requestID, now)
}

func newEvent(r *http.Request, body []byte, route, requestID string, now time.Time) events.APIGatewayV2HTTPRequest {
	rawPath := r.URL.EscapedPath()
	routeKey := DefaultRoute
	pathParams, ok := matchRoute(route, r.Method, rawPath)
	if ok {
		routeKey = route
	}
	headers, cookies := eventHeaders(r, len(body))
	hostname := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		hostname = h
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              routeKey,
		RawPath:               rawPath,
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: queryParameters(r.URL.RawQuery),
		PathParameters:        pathParams,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     routeKey,
			AccountID:    accountID,
			Stage:        stage,
			RequestID:    requestID,
			APIID:        apiID,
			DomainName:   hostname,
			DomainPrefix: domainPrefix(hostname),
			Time:         now.UTC().Format(TimeLayout),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      rawPath,
				Protocol:  r.Proto,
				SourceIP:  sourceIP(r),
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// matchRoute reports whether a request for method and the escaped path
// matches route, and if so the route's path parameters (nil when it has
// none), decoded. "$default", an empty route or a malformed one matches
// nothing: such requests go to the function on the $default route.
func matchRoute(route, method, escapedPath string) (map[string]string, bool) {
	routeMethod, template, ok := strings.Cut(route, " ")
	if !ok || !strings.HasPrefix(template, "/") || (routeMethod != "ANY" && routeMethod != method) {
		return nil, false
	}
	want := strings.Split(template, "/")[1:]
	got := strings.Split(escapedPath, "/")
	if len(got) == 0 || got[0] != "" {
		return nil, false
	}
	got = got[1:]
	var params map[string]string
	set := func(name, value string) {
		if params == nil {
			params = map[string]string{}
		}
		params[name] = value
	}
	for i, seg := range want {
		isParam := strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}")
		if isParam && strings.HasSuffix(seg, "+}") && i == len(want)-1 {
			// A greedy last segment takes the rest of the path, at least
			// one character of it.
			if i >= len(got) {
				return nil, false
			}
			rest := strings.Join(got[i:], "/")
			if rest == "" {
				return nil, false
			}
			set(seg[1:len(seg)-2], unescapePath(rest))
			return params, true
		}
		switch {
		case i >= len(got):
			return nil, false
		case isParam:
			if got[i] == "" {
				return nil, false
			}
			set(seg[1:len(seg)-1], unescapePath(got[i]))
		case unescapePath(got[i]) != seg:
			return nil, false
		}
	}
	if len(got) != len(want) {
		return nil, false
	}
	return params, true
}

// unescapePath decodes one escaped path (or segment), keeping it as it is
// when it is not validly escaped.
func unescapePath(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// queryParameters is queryStringParameters: each name once, the values of a
// repeated name joined with commas in the order sent, names and values
// decoded. Only rawQueryString tells "a=1&a=2" from "a=1,2". nil when the
// query is empty, as API Gateway leaves the field out.
func queryParameters(raw string) map[string]string {
	var params map[string]string
	for _, pair := range strings.Split(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, v = unescapeQuery(k), unescapeQuery(v)
		if k == "" {
			continue
		}
		if params == nil {
			params = map[string]string{}
		}
		if old, ok := params[k]; ok {
			params[k] = old + "," + v
		} else {
			params[k] = v
		}
	}
	return params
}

func unescapeQuery(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// eventHeaders is the event's headers and cookies, as HTTP API builds them:
// names lower-cased, the values of a repeated header joined with commas,
// Cookie headers moved to cookies (one entry per cookie), and the headers
// API Gateway adds itself (host, content-length, x-forwarded-*,
// x-amzn-trace-id).
func eventHeaders(r *http.Request, bodyLen int) (map[string]string, []string) {
	headers := map[string]string{}
	var cookies []string
	for k, vs := range r.Header {
		name := strings.ToLower(k)
		if name == "cookie" {
			for _, v := range vs {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		if old, ok := headers[name]; ok {
			headers[name] = old + "," + strings.Join(vs, ",")
		} else {
			headers[name] = strings.Join(vs, ",")
		}
	}
	headers["host"] = r.Host
	headers["content-length"] = strconv.Itoa(bodyLen)
	ip := sourceIP(r)
	if xff := headers["x-forwarded-for"]; xff != "" {
		headers["x-forwarded-for"] = xff + ", " + ip
	} else {
		headers["x-forwarded-for"] = ip
	}
	headers["x-forwarded-proto"] = "http"
	if r.TLS != nil {
		headers["x-forwarded-proto"] = "https"
	}
	if port := localPort(r); port != "" {
		headers["x-forwarded-port"] = port
	}
	if _, ok := headers["x-amzn-trace-id"]; !ok {
		headers["x-amzn-trace-id"] = newTraceID()
	}
	return headers, cookies
}

// sourceIP is the client's address without its port.
func sourceIP(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// localPort is the port the request came in on: the server's listening port
// when known, else the one in Host.
func localPort(r *http.Request) string {
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(addr.String()); err == nil {
			return port
		}
	}
	if _, port, err := net.SplitHostPort(r.Host); err == nil {
		return port
	}
	return ""
}

// domainPrefix is the first label of a host name (the API id of an
// execute-api domain); an IP address is its own prefix.
func domainPrefix(hostname string) string {
	if net.ParseIP(hostname) != nil {
		return hostname
	}
	prefix, _, _ := strings.Cut(hostname, ".")
	return prefix
}

// newRequestID returns an id in the form of HTTP API's (16 characters of
// base64, e.g. "LV7fzho-PHcEJPw=").
func newRequestID() string {
	b := make([]byte, 11)
	rand.Read(b)
	return base64.URLEncoding.EncodeToString(b)
}

// newTraceID returns an X-Ray trace header as API Gateway adds one:
// Root=1-<epoch seconds, hex>-<96 random bits, hex>.
func newTraceID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return fmt.Sprintf("Root=1-%08x-%s", time.Now().Unix(), hex.EncodeToString(b))
}

// excerpt shortens an answer for a log line.
func excerpt(b []byte) string {
	const max = 512
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
