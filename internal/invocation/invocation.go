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

	"github.com/campuspay/contracts/internal/jsonr"
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
// reads. Reading into one struct reads the bytes once, whatever the shape.
type rawEvent struct {
	// REST API (1.0)
	HTTPMethod      string
	Path            string
	Query           paramMap // queryStringParameters
	MultiValueQuery paramMap // multiValueQueryStringParameters
	PathParameters  paramMap
	// HTTP API and Function URL (2.0)
	Version        string
	RawPath        string
	RawQueryString string
	RequestContext struct {
		DomainName string
		HTTP       struct {
			Method string
		}
	}
}

// paramMap is one of an event's maps of parameters (queryStringParameters,
// multiValueQueryStringParameters, pathParameters) reduced to the
// parameters the function reads, with the outcome that encoding/json's
// decoding into a Go map has for them: null makes the map absent, a second
// object for the same key adds to the first, the later of two equal keys
// wins. Other keys' values are checked for their type, not kept.
type paramMap struct {
	present bool
	set     [len(mapParams)]bool
	one     [len(mapParams)]string   // a single-valued map's values
	many    [len(mapParams)][]string // a multi-valued map's values
}

// mapParams are the parameters read from an event's maps.
var mapParams = [...]string{ParamOpenID, ParamPlanID, ParamContractStatus, ParamOffset, ParamLimit}

// mapParam returns the index in mapParams of the parameter key names
// (exactly: map keys are not matched ignoring case), or -1.
func mapParam(key []byte) int {
	switch string(key) {
	case ParamOpenID:
		return 0
	case ParamPlanID:
		return 1
	case ParamContractStatus:
		return 2
	case ParamOffset:
		return 3
	case ParamLimit:
		return 4
	}
	return -1
}

// value returns a single-valued map's value for the parameter name.
func (m *paramMap) value(name string) (string, bool) {
	i := mapParam([]byte(name))
	return m.one[i], m.set[i]
}

// values returns a multi-valued map's values for the parameter name.
func (m *paramMap) values(name string) []string { return m.many[mapParam([]byte(name))] }

// eventKeys are the keys of rawEvent's fields, in AWS's spelling.
var eventKeys = [...]string{
	"httpMethod", "path", "queryStringParameters", "multiValueQueryStringParameters", "pathParameters",
	"version", "rawPath", "rawQueryString", "requestContext",
}

// eventReader reads an event's fields with jsonr, on every invocation's
// path, to encoding/json's outcome: keys matched as it matches them, the
// later of two equal keys winning, null leaving a string as it was and
// making a map nil, a second object for a map adding to the first.
// mistyped records a value of the wrong type, which encoding/json would
// refuse.
type eventReader struct {
	r        *jsonr.Reader
	mistyped bool
}

// readEvent reads the fields of rawEvent from the object r is at. ok is
// false when a field has the wrong type; r.Finish tells whether the
// document is valid JSON.
func readEvent(r *jsonr.Reader) (ev rawEvent, ok bool) {
	e := eventReader{r: r}
	for key := range r.Members() {
		switch jsonr.Match(key, eventKeys[:]...) {
		case 0:
			e.str(&ev.HTTPMethod)
		case 1:
			e.str(&ev.Path)
		case 2:
			e.stringMap(&ev.Query)
		case 3:
			e.listMap(&ev.MultiValueQuery)
		case 4:
			e.stringMap(&ev.PathParameters)
		case 5:
			e.str(&ev.Version)
		case 6:
			e.str(&ev.RawPath)
		case 7:
			e.str(&ev.RawQueryString)
		case 8:
			if !e.object() {
				continue
			}
			for key := range r.Members() {
				switch jsonr.Match(key, "domainName", "http") {
				case 0:
					e.str(&ev.RequestContext.DomainName)
				case 1:
					if !e.object() {
						continue
					}
					for key := range r.Members() {
						if jsonr.Match(key, "method") == 0 {
							e.str(&ev.RequestContext.HTTP.Method)
						}
					}
				}
			}
		}
	}
	return ev, !e.mistyped
}

// object reports whether the next value is an object to read; null is
// left to be skipped, anything else is mistyped.
func (e *eventReader) object() bool {
	switch e.r.Peek() {
	case jsonr.Object:
		return true
	case jsonr.Null:
	default:
		e.mistyped = true
	}
	return false
}

func (e *eventReader) str(dst *string) {
	switch e.r.Peek() {
	case jsonr.String:
		*dst = e.r.String()
	case jsonr.Null:
	default:
		e.mistyped = true
	}
}

// skipString checks that the next value is a string or null, as it must
// be for encoding/json to read it into a string, and skips it.
func (e *eventReader) skipString() {
	switch e.r.Peek() {
	case jsonr.String, jsonr.Null:
		e.r.Skip()
	default:
		e.mistyped = true
	}
}

// openMap starts reading a parameter map into m: null makes it absent;
// it reports whether an object follows, to be read into m.
func (e *eventReader) openMap(m *paramMap) bool {
	if e.r.Peek() == jsonr.Null {
		e.r.Skip()
		*m = paramMap{}
		return false
	}
	if !e.object() {
		return false
	}
	m.present = true
	return true
}

func (e *eventReader) stringMap(m *paramMap) {
	if !e.openMap(m) {
		return
	}
	for key := range e.r.Members() {
		i := mapParam(key)
		if i < 0 {
			e.skipString()
			continue
		}
		var v string
		e.str(&v)
		m.set[i], m.one[i] = true, v
	}
}

func (e *eventReader) listMap(m *paramMap) {
	if !e.openMap(m) {
		return
	}
	for key := range e.r.Members() {
		i := mapParam(key)
		switch e.r.Peek() {
		case jsonr.Null:
			if i >= 0 {
				m.set[i], m.many[i] = true, nil
			}
		case jsonr.Array:
			if i < 0 {
				for range e.r.Elements() {
					e.skipString()
				}
				continue
			}
			list := []string{}
			for range e.r.Elements() {
				var v string
				e.str(&v)
				list = append(list, v)
			}
			m.set[i], m.many[i] = true, list
		default:
			e.mistyped = true
		}
	}
}

// directKeys are the keys of a direct invocation, "query" last.
var directKeys = [...]string{ParamOpenID, ParamPlanID, ParamContractStatus, ParamOffset, ParamLimit, "query"}

// directEvent is a direct invocation's raw values (nil when absent), in
// the order of directKeys: flat fields, or nested under "query".
type directEvent [len(directKeys)][]byte

// readDirect reads a direct invocation's object, the later of two equal
// keys winning.
func readDirect(data []byte) (directEvent, error) {
	var ev directEvent
	r := jsonr.NewReader(data)
	for key := range r.Members() {
		if i := jsonr.Match(key, directKeys[:]...); i >= 0 {
			ev[i] = r.Raw()
		}
	}
	return ev, r.Finish()
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
	r := jsonr.NewReader(trimmed)
	ev, ok := readEvent(r)
	if r.Finish() != nil {
		return Request{}, &EventError{Field: "body", Message: "the event is not valid JSON"}
	}
	if !ok {
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
	req.RouteFound = routeOpenID(req.Params, &ev.PathParameters, ev.Path)
	// API Gateway puts every value of a repeated parameter only in the
	// multi-value map; the single-value map keeps the last one alone.
	if ev.MultiValueQuery.present {
		for _, name := range queryParams {
			for _, v := range ev.MultiValueQuery.values(name) {
				req.Params.Add(name, Value{Text: v})
			}
		}
	} else {
		addSingleValued(req.Params, &ev.Query)
	}
	return req
}

func parseV2(ev *rawEvent) Request {
	shape := ShapeHTTP
	if strings.Contains(ev.RequestContext.DomainName, ".lambda-url.") {
		shape = ShapeURL
	}
	req := Request{Shape: shape, Method: strings.ToUpper(ev.RequestContext.HTTP.Method), Path: ev.RawPath, Params: Params{}}
	req.RouteFound = routeOpenID(req.Params, &ev.PathParameters, ev.RawPath)
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
		addSingleValued(req.Params, &ev.Query)
	}
	return req
}

// addSingleValued reads the query parameters from a map of one value each.
func addSingleValued(p Params, query *paramMap) {
	for _, name := range queryParams {
		if v, ok := query.value(name); ok {
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
func routeOpenID(p Params, pathParams *paramMap, path string) bool {
	if v, ok := pathParams.value(ParamOpenID); ok {
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
	ev, err := readDirect(payload)
	if err != nil {
		return Request{}, &EventError{Field: "body", Message: "the event is not valid JSON"}
	}
	req := Request{Shape: ShapeDirect, Method: "GET", RouteFound: true, Params: Params{}}
	ev.addTo(req.Params)
	if q := ev[len(ev)-1]; len(q) > 0 && string(q) != "null" {
		// A field given both flat and in query counts as given twice. The
		// SDKs put openid beside query; inside it is taken too.
		nested, err := readDirect(q)
		if q[0] != '{' || err != nil {
			return Request{}, &EventError{Field: "query", Message: "query must be a JSON object"}
		}
		nested.addTo(req.Params)
	}
	return req, nil
}

// addTo records the parameters of ev (not its query) in p.
func (ev *directEvent) addTo(p Params) {
	for i, name := range directKeys[:len(directKeys)-1] {
		addJSON(p, name, ev[i])
	}
}

// addJSON records one raw JSON value; absent and null values are not given.
func addJSON(p Params, name string, raw []byte) {
	if len(raw) == 0 || string(raw) == "null" {
		return
	}
	switch raw[0] {
	case '"':
		p.Add(name, Value{Text: jsonr.NewReader(raw).String()})
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		p.Add(name, Value{Text: string(raw), Kind: KindNumber})
	default:
		p.Add(name, Value{Text: string(raw), Kind: KindOther})
	}
}
