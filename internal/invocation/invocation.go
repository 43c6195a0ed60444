// Package invocation reads the raw bytes of a Lambda invocation into one
// Request, whatever sent it, and writes one Response back in the shape that
// caller expects.
//
// Four callers are told apart by the fields AWS puts in their events:
//
//   - API Gateway REST API (payload 1.0): a top-level "httpMethod".
//   - API Gateway HTTP API (payload 2.0): "version": "2.0" with a "rawPath".
//   - Lambda Function URL: the same 2.0 shape, but its requestContext.domainName
//     is a "<url-id>.lambda-url.<region>.on.aws" host.
//   - Anything else that is a JSON object is a direct invocation (Step
//     Functions, another Lambda, the CLI): flat fields, or the WeChat Pay SDKs'
//     shape with the query nested under "query".
//
// The package knows the route and the parameter names, but nothing of WeChat
// Pay or of credentials.
package invocation

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
)

// Shape names the kind of caller an invocation came from.
type Shape string

// The shapes of invocation the function understands.
const (
	ShapeREST   Shape = "rest"   // API Gateway REST API proxy event (payload 1.0)
	ShapeHTTP   Shape = "http"   // API Gateway HTTP API event (payload 2.0)
	ShapeURL    Shape = "url"    // Lambda Function URL event
	ShapeDirect Shape = "direct" // direct invocation with a JSON object
)

// IsHTTP reports whether the caller speaks HTTP through a proxy event, and so
// wants a status code and headers rather than a function result or error.
func (s Shape) IsHTTP() bool { return s != ShapeDirect }

// Parameter names, as the contract and WeChat Pay spell them.
const (
	ParamOpenID         = "openid"
	ParamPlanID         = "plan_id"
	ParamContractStatus = "contract_status"
	ParamOffset         = "offset"
	ParamLimit          = "limit"
)

// queryParams are the parameters read from a query string or a direct payload.
var queryParams = [...]string{ParamPlanID, ParamContractStatus, ParamOffset, ParamLimit}

// Kind says what JSON type a direct invocation gave a value as. Values read
// from a query string or a path are always KindString.
type Kind uint8

// The kinds of raw value.
const (
	KindString Kind = iota // a string (or any value from a URL)
	KindNumber             // a JSON number; Text is its literal
	KindOther              // a JSON boolean, object or array: never valid
)

// Value is one raw parameter value, exactly as the caller gave it.
type Value struct {
	Text string
	Kind Kind
}

// Params holds every value the caller gave for each parameter, so that a
// parameter given twice can be told from one given once.
type Params map[string][]Value

// Add appends one value for the named parameter.
func (p Params) Add(name string, v Value) { p[name] = append(p[name], v) }

// Request is one invocation, read into the form the service needs.
type Request struct {
	Shape Shape
	// Method is the HTTP method, upper-case; "GET" for a direct invocation.
	Method string
	// Path is the path the caller used, without the query: the one links are
	// built on. Empty for a direct invocation (the service builds one).
	Path string
	// RouteFound is false when the path is not …/users/{openid}/contracts.
	RouteFound bool
	// Params holds openid and the query parameters.
	Params Params
}

// EventError is an invocation that could not be read at all: not JSON, or
// not an object. Field names the part at fault ("body").
type EventError struct {
	Field   string
	Message string
}

func (e *EventError) Error() string { return e.Message }

// rawEvent is the union of the fields of every event shape that the function
// reads. Decoding into one struct reads the bytes once, whatever the shape.
type rawEvent struct {
	// REST API (1.0)
	HTTPMethod      string              `json:"httpMethod"`
	Path            string              `json:"path"`
	Query           map[string]string   `json:"queryStringParameters"`
	MultiValueQuery map[string][]string `json:"multiValueQueryStringParameters"`
	PathParameters  map[string]string   `json:"pathParameters"`
	// HTTP API and Function URL (2.0)
	Version        string `json:"version"`
	RawPath        string `json:"rawPath"`
	RawQueryString string `json:"rawQueryString"`
	RequestContext struct {
		DomainName string `json:"domainName"`
		HTTP       struct {
			Method string `json:"method"`
		} `json:"http"`
	} `json:"requestContext"`
}

// directEvent is a direct invocation: flat fields, or nested under "query".
type directEvent struct {
	OpenID         json.RawMessage `json:"openid"`
	PlanID         json.RawMessage `json:"plan_id"`
	ContractStatus json.RawMessage `json:"contract_status"`
	Offset         json.RawMessage `json:"offset"`
	Limit          json.RawMessage `json:"limit"`
	Query          json.RawMessage `json:"query"`
}

// Parse reads an invocation's payload. It returns an *EventError when the
// payload is not a JSON object; every other problem (a wrong path, a bad
// value) is left for the caller to judge from the Request.
func Parse(payload []byte) (Request, error) {
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		if json.Valid(trimmed) {
			return Request{}, &EventError{Field: "body", Message: "the event must be a JSON object"}
		}
		return Request{}, &EventError{Field: "body", Message: "the event is not valid JSON"}
	}
	var ev rawEvent
	if err := json.Unmarshal(trimmed, &ev); err != nil {
		if !json.Valid(trimmed) {
			return Request{}, &EventError{Field: "body", Message: "the event is not valid JSON"}
		}
		// Valid JSON whose proxy fields have the wrong types: not an event
		// AWS sends, so read it as a direct invocation, which will say
		// what is wrong with its fields.
		ev = rawEvent{}
	}
	switch {
	case ev.Version == "2.0" && (ev.RawPath != "" || ev.RequestContext.HTTP.Method != ""):
		return parseV2(&ev), nil
	case ev.HTTPMethod != "":
		return parseREST(&ev), nil
	default:
		return parseDirect(trimmed)
	}
}

func parseREST(ev *rawEvent) Request {
	req := Request{Shape: ShapeREST, Method: strings.ToUpper(ev.HTTPMethod), Path: ev.Path, Params: Params{}}
	req.RouteFound = routeOpenID(req.Params, ev.PathParameters, ev.Path)
	// API Gateway puts every value of a repeated parameter only in the
	// multi-value map; the single-value map keeps the last one alone.
	if ev.MultiValueQuery != nil {
		for _, name := range queryParams {
			for _, v := range ev.MultiValueQuery[name] {
				req.Params.Add(name, Value{Text: v})
			}
		}
	} else {
		addSingleValued(req.Params, ev.Query)
	}
	return req
}

func parseV2(ev *rawEvent) Request {
	shape := ShapeHTTP
	if strings.Contains(ev.RequestContext.DomainName, ".lambda-url.") {
		shape = ShapeURL
	}
	req := Request{Shape: shape, Method: strings.ToUpper(ev.RequestContext.HTTP.Method), Path: ev.RawPath, Params: Params{}}
	req.RouteFound = routeOpenID(req.Params, ev.PathParameters, ev.RawPath)
	// queryStringParameters comma-joins repeats; only rawQueryString tells
	// "a=1&a=2" from "a=1,2", so it is read first.
	if ev.RawQueryString != "" {
		values, err := url.ParseQuery(ev.RawQueryString)
		if err != nil {
			// A malformed escape: keep what could be read, and mark the
			// parameters it touched as unreadable.
			markBadEscapes(req.Params, ev.RawQueryString)
		}
		for _, name := range queryParams {
			for _, v := range values[name] {
				req.Params.Add(name, Value{Text: v})
			}
		}
	} else {
		addSingleValued(req.Params, ev.Query)
	}
	return req
}

// addSingleValued reads the query parameters from a map of one value each.
func addSingleValued(p Params, query map[string]string) {
	for _, name := range queryParams {
		if v, ok := query[name]; ok {
			p.Add(name, Value{Text: v})
		}
	}
}

// markBadEscapes adds an unusable value for each known parameter whose
// key=value pair has an escape url.ParseQuery refused.
func markBadEscapes(p Params, raw string) {
	for _, pair := range strings.Split(raw, "&") {
		key, value, _ := strings.Cut(pair, "=")
		k, err1 := url.QueryUnescape(key)
		_, err2 := url.QueryUnescape(value)
		if err1 == nil && err2 != nil {
			for _, name := range queryParams {
				if k == name {
					p.Add(name, Value{Text: value, Kind: KindOther})
				}
			}
		}
	}
}

// routeOpenID finds the openid: the path parameter when API Gateway matched
// a route, else the segment of a path ending in /users/{openid}/contracts
// (any prefix allowed, such as a stage name). It reports whether the route
// was found.
func routeOpenID(p Params, pathParams map[string]string, path string) bool {
	if v, ok := pathParams[ParamOpenID]; ok {
		p.Add(ParamOpenID, Value{Text: v})
		return true
	}
	segs := strings.Split(strings.TrimSuffix(path, "/"), "/")
	n := len(segs)
	if n < 3 || segs[n-1] != "contracts" || segs[n-3] != "users" {
		return false
	}
	openid, err := url.PathUnescape(segs[n-2])
	if err != nil {
		p.Add(ParamOpenID, Value{Text: segs[n-2], Kind: KindOther})
		return true
	}
	p.Add(ParamOpenID, Value{Text: openid})
	return true
}

func parseDirect(payload []byte) (Request, error) {
	var ev directEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return Request{}, &EventError{Field: "body", Message: "the event is not valid JSON"}
	}
	req := Request{Shape: ShapeDirect, Method: "GET", RouteFound: true, Params: Params{}}
	addJSON(req.Params, ParamOpenID, ev.OpenID)
	addJSON(req.Params, ParamPlanID, ev.PlanID)
	addJSON(req.Params, ParamContractStatus, ev.ContractStatus)
	addJSON(req.Params, ParamOffset, ev.Offset)
	addJSON(req.Params, ParamLimit, ev.Limit)
	if q := bytes.TrimSpace(ev.Query); len(q) > 0 && !bytes.Equal(q, []byte("null")) {
		var nested directEvent
		if q[0] != '{' || json.Unmarshal(q, &nested) != nil {
			return Request{}, &EventError{Field: "query", Message: "query must be a JSON object"}
		}
		// A field given both flat and in query counts as given twice. The
		// SDKs put openid beside query; inside it is taken too.
		addJSON(req.Params, ParamOpenID, nested.OpenID)
		addJSON(req.Params, ParamPlanID, nested.PlanID)
		addJSON(req.Params, ParamContractStatus, nested.ContractStatus)
		addJSON(req.Params, ParamOffset, nested.Offset)
		addJSON(req.Params, ParamLimit, nested.Limit)
	}
	return req, nil
}

// addJSON records one raw JSON value; absent and null values are not given.
func addJSON(p Params, name string, raw json.RawMessage) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			p.Add(name, Value{Text: string(raw), Kind: KindOther})
			return
		}
		p.Add(name, Value{Text: s})
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		p.Add(name, Value{Text: string(raw), Kind: KindNumber})
	default:
		p.Add(name, Value{Text: string(raw), Kind: KindOther})
	}
}
