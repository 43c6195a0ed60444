package invocation

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/campuspay/contracts/internal/jsonw"
)

// sample reads one of aws-lambda-go's own event samples (events/testdata)
// and applies edits to its top-level fields, so tests start from the exact
// shapes AWS sends.
func sample(t *testing.T, name string, edit func(m map[string]any)) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func setHTTPMethod(m map[string]any, method string) {
	m["requestContext"].(map[string]any)["http"].(map[string]any)["method"] = method
}

func str(vs ...string) []Value {
	out := make([]Value, len(vs))
	for i, v := range vs {
		out[i] = Value{Text: v}
	}
	return out
}

func TestParseShapes(t *testing.T) {
	tests := []struct {
		name       string
		payload    []byte
		shape      Shape
		method     string
		path       string
		routeFound bool
		params     Params
	}{
		{
			name:    "REST v1 sample as sent",
			payload: sample(t, "apigw-request.json", nil),
			shape:   ShapeREST, method: "POST", path: "/hello/world", routeFound: false,
			params: Params{},
		},
		{
			name: "REST v1 on our route with path parameter",
			payload: sample(t, "apigw-request.json", func(m map[string]any) {
				m["httpMethod"] = "GET"
				m["resource"] = "/users/{openid}/contracts"
				m["path"] = "/users/oUpF8uMuAJOM2pxb1Q/contracts"
				m["pathParameters"] = map[string]any{"openid": "oUpF8uMuAJOM2pxb1Q"}
				m["queryStringParameters"] = map[string]any{"plan_id": "p1", "limit": "10", "other": "x"}
				m["multiValueQueryStringParameters"] = map[string]any{"plan_id": []string{"p1"}, "limit": []string{"10"}, "other": []string{"x"}}
			}),
			shape: ShapeREST, method: "GET", path: "/users/oUpF8uMuAJOM2pxb1Q/contracts", routeFound: true,
			params: Params{"openid": str("oUpF8uMuAJOM2pxb1Q"), "plan_id": str("p1"), "limit": str("10")},
		},
		{
			name: "REST v1 repeated parameter shows only in the multi-value map",
			payload: sample(t, "apigw-request.json", func(m map[string]any) {
				m["httpMethod"] = "GET"
				m["path"] = "/prod/users/abc/contracts"
				m["pathParameters"] = nil
				m["queryStringParameters"] = map[string]any{"plan_id": "p2"}
				m["multiValueQueryStringParameters"] = map[string]any{"plan_id": []string{"p1", "p2"}}
			}),
			shape: ShapeREST, method: "GET", path: "/prod/users/abc/contracts", routeFound: true,
			params: Params{"openid": str("abc"), "plan_id": str("p1", "p2")},
		},
		{
			name: "REST v1 without the multi-value map falls back to the single one",
			payload: sample(t, "apigw-request.json", func(m map[string]any) {
				m["httpMethod"] = "GET"
				m["path"] = "/users/abc/contracts"
				m["pathParameters"] = nil
				delete(m, "multiValueQueryStringParameters")
				m["queryStringParameters"] = map[string]any{"contract_status": "add"}
			}),
			shape: ShapeREST, method: "GET", path: "/users/abc/contracts", routeFound: true,
			params: Params{"openid": str("abc"), "contract_status": str("add")},
		},
		{
			name:    "HTTP API v2 sample as sent",
			payload: sample(t, "apigw-v2-request-iam.json", nil),
			shape:   ShapeHTTP, method: "GET", path: "/my/path", routeFound: false,
			params: Params{},
		},
		{
			name: "HTTP API v2 repeats told apart by rawQueryString",
			payload: sample(t, "apigw-v2-request-iam.json", func(m map[string]any) {
				m["rawPath"] = "/prod/users/abc/contracts"
				m["rawQueryString"] = "contract_status=ADD&contract_status=DELETE&plan_id=a%2Db"
				m["queryStringParameters"] = map[string]any{"contract_status": "ADD,DELETE", "plan_id": "a-b"}
				m["pathParameters"] = map[string]any{"openid": "abc"}
				setHTTPMethod(m, "GET")
			}),
			shape: ShapeHTTP, method: "GET", path: "/prod/users/abc/contracts", routeFound: true,
			params: Params{"openid": str("abc"), "contract_status": str("ADD", "DELETE"), "plan_id": str("a-b")},
		},
		{
			name: "HTTP API v2 comma in one value is one value",
			payload: sample(t, "apigw-v2-request-no-authorizer.json", func(m map[string]any) {
				m["rawPath"] = "/users/abc/contracts"
				m["rawQueryString"] = "plan_id=a%2Cb"
				m["queryStringParameters"] = map[string]any{"plan_id": "a,b"}
				setHTTPMethod(m, "GET")
			}),
			shape: ShapeHTTP, method: "GET", path: "/users/abc/contracts", routeFound: true,
			params: Params{"openid": str("abc"), "plan_id": str("a,b")},
		},
		{
			name: "Function URL: no path parameters, openid from the raw path",
			payload: sample(t, "lambda-urls-request.json", func(m map[string]any) {
				m["rawPath"] = "/users/o%2DX_1/contracts/"
				m["rawQueryString"] = "limit=5&offset=10"
				m["queryStringParameters"] = map[string]any{"limit": "5", "offset": "10"}
				setHTTPMethod(m, "GET")
			}),
			shape: ShapeURL, method: "GET", path: "/users/o%2DX_1/contracts/", routeFound: true,
			params: Params{"openid": str("o-X_1"), "limit": str("5"), "offset": str("10")},
		},
		{
			name: "Function URL: other path",
			payload: sample(t, "lambda-urls-request.json", func(m map[string]any) {
				m["rawPath"] = "/users/abc/orders"
			}),
			shape: ShapeURL, method: "POST", path: "/users/abc/orders", routeFound: false,
			params: Params{},
		},
		{
			name:    "direct flat with numbers",
			payload: []byte(`{"openid":"oUpF8uMuAJOM2pxb1Q","plan_id":"101164396123311331","contract_status":"ADD","offset":0,"limit":20}`),
			shape:   ShapeDirect, method: "GET", routeFound: true,
			params: Params{"openid": str("oUpF8uMuAJOM2pxb1Q"), "plan_id": str("101164396123311331"), "contract_status": str("ADD"),
				"offset": {{Text: "0", Kind: KindNumber}}, "limit": {{Text: "20", Kind: KindNumber}}},
		},
		{
			name:    "direct nested query, numbers as strings",
			payload: []byte(` {"openid":"o1","query":{"plan_id":"p","contract_status":"ALL","offset":"40","limit":"20"}}`),
			shape:   ShapeDirect, method: "GET", routeFound: true,
			params: Params{"openid": str("o1"), "plan_id": str("p"), "contract_status": str("ALL"), "offset": str("40"), "limit": str("20")},
		},
		{
			name:    "direct: openid inside query",
			payload: []byte(`{"query":{"openid":"o2","plan_id":"p"}}`),
			shape:   ShapeDirect, method: "GET", routeFound: true,
			params: Params{"openid": str("o2"), "plan_id": str("p")},
		},
		{
			name:    "direct: flat and nested both given counts twice",
			payload: []byte(`{"openid":"o1","limit":10,"query":{"limit":20}}`),
			shape:   ShapeDirect, method: "GET", routeFound: true,
			params: Params{"openid": str("o1"), "limit": {{Text: "10", Kind: KindNumber}, {Text: "20", Kind: KindNumber}}},
		},
		{
			name:    "direct: null is absent, wrong types are kept as such",
			payload: []byte(`{"openid":null,"plan_id":true,"limit":[1],"offset":1.5}`),
			shape:   ShapeDirect, method: "GET", routeFound: true,
			params: Params{"plan_id": {{Text: "true", Kind: KindOther}}, "limit": {{Text: "[1]", Kind: KindOther}},
				"offset": {{Text: "1.5", Kind: KindNumber}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := Parse(tt.payload)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if req.Shape != tt.shape || req.Method != tt.method || req.Path != tt.path || req.RouteFound != tt.routeFound {
				t.Errorf("got shape %q method %q path %q route %v; want %q %q %q %v",
					req.Shape, req.Method, req.Path, req.RouteFound, tt.shape, tt.method, tt.path, tt.routeFound)
			}
			if !reflect.DeepEqual(req.Params, tt.params) {
				t.Errorf("params = %#v\nwant %#v", req.Params, tt.params)
			}
		})
	}
}

func TestParseRejectsWhatIsNotAnEvent(t *testing.T) {
	tests := []struct {
		payload string
		field   string
	}{
		{`not json`, "body"},
		{``, "body"},
		{`[1,2]`, "body"},
		{`"openid"`, "body"},
		{`{"openid": "a",`, "body"},
		{`{"openid":"a","query":"plan_id=1"}`, "query"},
		{`{"openid":"a","query":[1]}`, "query"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.payload))
		var ee *EventError
		if !errors.As(err, &ee) || ee.Field != tt.field {
			t.Errorf("Parse(%q) = %v; want an EventError on %q", tt.payload, err, tt.field)
		}
	}
}

func TestParseBadEscapeInRawQuery(t *testing.T) {
	payload := sample(t, "apigw-v2-request-iam.json", func(m map[string]any) {
		m["rawPath"] = "/users/abc/contracts"
		m["rawQueryString"] = "plan_id=%zz&limit=5"
		setHTTPMethod(m, "GET")
	})
	req, err := Parse(payload)
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Params["plan_id"]; len(got) != 1 || got[0].Kind != KindOther {
		t.Errorf("plan_id = %#v; want one unusable value", got)
	}
	if got := req.Params["limit"]; !reflect.DeepEqual(got, str("5")) {
		t.Errorf("limit = %#v", got)
	}
}

func TestEncode(t *testing.T) {
	resp := Response{Status: 400, Header: map[string]string{"Content-Type": "application/json; charset=utf-8"},
		Body: []byte(`{"a":"x&y"}`), Code: "INVALID_PARAMETER", Message: "limit must be an integer from 1 to 40"}

	for _, shape := range []Shape{ShapeREST, ShapeHTTP, ShapeURL} {
		out, err := Encode(shape, resp)
		if err != nil {
			t.Fatalf("%s: %v", shape, err)
		}
		var got struct {
			StatusCode int               `json:"statusCode"`
			Headers    map[string]string `json:"headers"`
			Body       string            `json:"body"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if got.StatusCode != 400 || got.Body != `{"a":"x&y"}` || got.Headers["Content-Type"] != "application/json; charset=utf-8" {
			t.Errorf("%s: %+v", shape, got)
		}
	}

	_, err := Encode(ShapeDirect, resp)
	var fe messages.InvokeResponse_Error
	if !errors.As(err, &fe) || fe.Type != "INVALID_PARAMETER" || fe.Message != resp.Message {
		t.Errorf("direct error = %#v; want InvokeResponse_Error with the code as Type", err)
	}
	ok := Response{Status: 200, Body: []byte(`{"data":[]}`)}
	out, err := Encode(ShapeDirect, ok)
	if err != nil || string(out) != `{"data":[]}` {
		t.Errorf("direct success = %q, %v", out, err)
	}
}

// TestEncodeMatchesAWSLambdaGoTypes: the hand-written envelope reads back
// into aws-lambda-go's response types exactly as their own marshalling does.
func TestEncodeMatchesAWSLambdaGoTypes(t *testing.T) {
	resp := Response{Status: 429, Header: map[string]string{"Retry-After": "2", "Content-Type": "application/json; charset=utf-8", "X-Upstream-Request-Id": "R\"1"},
		Body: []byte("{\"a\":\"x&y<z>\",\"b\":\"\\u0000\",\"c\":\"用户\\n\"}\n\t")}
	for _, shape := range []Shape{ShapeREST, ShapeHTTP, ShapeURL} {
		out, err := Encode(shape, resp)
		if err != nil {
			t.Fatal(err)
		}
		var v1 events.APIGatewayProxyResponse
		var v2 events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out, &v1); err != nil {
			t.Fatalf("%s: %q: %v", shape, out, err)
		}
		if err := json.Unmarshal(out, &v2); err != nil {
			t.Fatal(err)
		}
		want1 := events.APIGatewayProxyResponse{StatusCode: resp.Status, Headers: resp.Header, Body: string(resp.Body)}
		want2 := events.APIGatewayV2HTTPResponse{StatusCode: resp.Status, Headers: resp.Header, Body: string(resp.Body)}
		if !reflect.DeepEqual(v1, want1) || !reflect.DeepEqual(v2, want2) {
			t.Errorf("%s: read back %+v / %+v", shape, v1, v2)
		}
	}
}

// jsonDoc is a JSONBody over a fixed document, escaping it as
// jsonw.AppendStringContents does.
type jsonDoc string

func (d jsonDoc) AppendJSON(b []byte, escaped bool) []byte {
	if escaped {
		return jsonw.AppendStringContents(b, string(d))
	}
	return append(b, d...)
}

func (d jsonDoc) EncodedSize() int { return len(d) }

// TestEncodePage: a Page body is the direct answer as it writes itself, and
// the proxy envelope's body string holds exactly the same JSON.
func TestEncodePage(t *testing.T) {
	doc := jsonDoc("{\"a\":\"x&y<z>\",\"b\":\"\\u0000 \\\"q\\\"\",\"c\":\"用户\\n\"}")
	resp := Response{Status: 200, Header: map[string]string{"Content-Type": "application/json; charset=utf-8"}, Page: doc}
	out, err := Encode(ShapeDirect, resp)
	if err != nil || string(out) != string(doc) {
		t.Fatalf("direct: %q, %v", out, err)
	}
	for _, shape := range []Shape{ShapeREST, ShapeHTTP, ShapeURL} {
		out, err := Encode(shape, resp)
		if err != nil {
			t.Fatal(err)
		}
		var v2 events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out, &v2); err != nil {
			t.Fatalf("%s: %q: %v", shape, out, err)
		}
		if v2.StatusCode != 200 || v2.Body != string(doc) {
			t.Errorf("%s: read back %+v", shape, v2)
		}
	}
}
