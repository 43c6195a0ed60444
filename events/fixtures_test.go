// Package events_test holds the sample events under events/ to the shapes AWS
// sends. The fixtures feed `sam local invoke ContractsFunction -e events/<name>.json`
// and the end-to-end tests, so a fixture that drifted from what API Gateway or
// Lambda actually delivers would test the function against events it never
// gets. Each one is decoded into the aws-lambda-go type of its source, checked
// field by field, and round-tripped through that type as aws-lambda-go's own
// tests do with their testdata.
package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/campuspay/contracts/internal/config"
)

// The identifiers every fixture uses.
const (
	openID = "oUpF8uMuAJOM2pxb1Q"
	planID = "101164396123311331"
	route  = "GET /users/{openid}/contracts"
)

// apiGatewayTime is the layout of requestTime (REST) and time (HTTP API,
// Function URL).
const apiGatewayTime = "02/Jan/2006:15:04:05 -0700"

// source names the AWS service shape a fixture is in.
type source int

const (
	restV1 source = iota
	httpV2
	functionURL
	direct
)

// fixture is one file under events/ and what it must say.
type fixture struct {
	file   string
	source source
	// method, path (REST: the path; 2.0: rawPath), stage and routeKey
	// (REST: resource) of an HTTP fixture.
	method, path, stage, routeKey string
	// query is the query string as the caller sent it, repeats and all.
	query string
	// direct is the payload of a direct invocation, as JSON values.
	direct map[string]any
}

// fixtures lists every event under events/; TestEveryFixtureIsListed keeps the
// list complete.
func fixtures() []fixture {
	const (
		add      = "plan_id=" + planID + "&contract_status=ADD&offset=0&limit=20"
		path     = "/users/" + openID + "/contracts"
		withRest = "/users/{openid}/contracts"
	)
	return []fixture{
		{file: "rest-v1.json", source: restV1, method: "GET", path: path, stage: "prod", routeKey: withRest, query: add},
		{file: "http-v2.json", source: httpV2, method: "GET", path: path, stage: "$default", routeKey: route, query: add},
		{file: "http-v2-stage.json", source: httpV2, method: "GET", path: "/prod" + path, stage: "prod", routeKey: route,
			query: "plan_id=" + planID + "&contract_status=ALL&offset=10&limit=10"},
		{file: "function-url.json", source: functionURL, method: "GET", path: path, stage: "$default", routeKey: "$default", query: add},
		{file: "direct-flat.json", source: direct, direct: map[string]any{
			"openid": openID, "plan_id": planID, "contract_status": "ADD", "offset": 0.0, "limit": 20.0}},
		{file: "direct-nested.json", source: direct, direct: map[string]any{
			"openid": openID, "query": map[string]any{"plan_id": planID, "contract_status": "ADD", "offset": 0.0, "limit": 20.0}}},

		{file: "invalid-limit-http-v2.json", source: httpV2, method: "GET", path: path, stage: "$default", routeKey: route,
			query: "plan_id=" + planID + "&contract_status=ADD&offset=0&limit=41"},
		{file: "invalid-repeated-rest-v1.json", source: restV1, method: "GET", path: path, stage: "prod", routeKey: withRest,
			query: "plan_id=" + planID + "&plan_id=101164396123311332&contract_status=ADD&offset=0&limit=20"},
		{file: "invalid-repeated-http-v2.json", source: httpV2, method: "GET", path: path, stage: "$default", routeKey: route,
			query: "plan_id=" + planID + "&contract_status=ADD&contract_status=DELETE&offset=0&limit=20"},
		{file: "invalid-offset-direct.json", source: direct, direct: map[string]any{
			"openid": openID, "plan_id": planID, "contract_status": "ADD", "offset": 15.0, "limit": 20.0}},
		{file: "invalid-status-direct.json", source: direct, direct: map[string]any{
			"openid": openID, "plan_id": planID, "contract_status": "SIGNED", "offset": 0.0, "limit": 20.0}},
		{file: "invalid-missing-plan-function-url.json", source: functionURL, method: "GET", path: path, stage: "$default", routeKey: "$default",
			query: "contract_status=ADD&offset=0&limit=20"},
		{file: "method-post-http-v2.json", source: httpV2, method: "POST", path: path, stage: "$default",
			routeKey: "ANY /users/{openid}/contracts", query: add},
		{file: "unknown-path-rest-v1.json", source: restV1, method: "GET", path: "/users/x/orders", stage: "prod", routeKey: "/{proxy+}"},
	}
}

func TestFixtures(t *testing.T) {
	for _, f := range fixtures() {
		t.Run(f.file, func(t *testing.T) {
			data := readFixture(t, f.file)
			switch f.source {
			case restV1:
				var ev events.APIGatewayProxyRequest
				roundTrip(t, data, &ev)
				checkREST(t, f, &ev)
			case httpV2:
				var ev events.APIGatewayV2HTTPRequest
				roundTrip(t, data, &ev)
				checkV2(t, f, &ev)
				checkV2Domain(t, &ev.RequestContext, ".execute-api.us-east-1.amazonaws.com")
			case functionURL:
				var ev events.LambdaFunctionURLRequest
				// Lambda sends routeKey and stage ("$default") in Function
				// URL events too, but aws-lambda-go's type does not model them.
				roundTrip(t, data, &ev, "routeKey", "requestContext.routeKey", "requestContext.stage")
				checkFunctionURL(t, f, data, &ev)
				// The same bytes are also an HTTP API 2.0 event, which is how
				// a handler that does not tell the two apart reads them.
				var v2 events.APIGatewayV2HTTPRequest
				roundTrip(t, data, &v2)
				checkV2(t, f, &v2)
			case direct:
				checkDirect(t, f, data)
			}
		})
	}
}

// readFixture reads one file and checks that it is a JSON object with no key
// given twice (encoding/json would silently keep the last one).
func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(data) {
		t.Fatalf("%s is not valid JSON", name)
	}
	if b := bytes.TrimSpace(data); len(b) == 0 || b[0] != '{' {
		t.Fatalf("%s is not a JSON object", name)
	}
	if err := checkNoDuplicateKeys(json.NewDecoder(bytes.NewReader(data)), "$"); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return data
}

// checkNoDuplicateKeys walks one JSON value from dec and reports the first
// object that names a key twice.
func checkNoDuplicateKeys(dec *json.Decoder, at string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			key := k.(string)
			if seen[key] {
				return fmt.Errorf("%s: key %q given twice", at, key)
			}
			seen[key] = true
			if err := checkNoDuplicateKeys(dec, at+"."+key); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
		return err
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := checkNoDuplicateKeys(dec, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	}
	return nil
}

// roundTrip unmarshals data into v, marshals v again and compares the two
// documents leaf by leaf, as aws-lambda-go's tests do with JSONEq. Null, false,
// "" and 0 leaves are left out on both sides: AWS sends null for an absent
// value where the Go types drop it (omitempty) or give "" back, which says
// the same thing. Every other key must survive the trip with its value, so a
// misspelt or unmodelled field shows up. ignore lists leaf paths (or their
// prefixes) AWS sends that the type does not model.
func roundTrip(t *testing.T, data []byte, v any, ignore ...string) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("unmarshal into %T: %v", v, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	in, back := leaves(t, data), leaves(t, out)
	ignored := func(p string) bool {
		for _, ig := range ignore {
			if p == ig || strings.HasPrefix(p, ig+".") || strings.HasPrefix(p, ig+"[") {
				return true
			}
		}
		return false
	}
	var diffs []string
	for p, want := range in {
		if ignored(p) {
			continue
		}
		if got, ok := back[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: lost in %T (was %v)", p, v, want))
		} else if !reflect.DeepEqual(got, want) {
			diffs = append(diffs, fmt.Sprintf("%s: %v became %v", p, want, got))
		}
	}
	for p, got := range back {
		if _, ok := in[p]; !ok && !ignored(p) {
			diffs = append(diffs, fmt.Sprintf("%s: added by %T (%v)", p, v, got))
		}
	}
	sort.Strings(diffs)
	for _, d := range diffs {
		t.Error(d)
	}
}

// leaves flattens a JSON document to its non-zero leaves, keyed by path
// ("requestContext.http.method", "multiValueHeaders.Accept[0]").
func leaves(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", prefix, i), x)
			}
		case nil:
		case bool:
			if v {
				out[prefix] = v
			}
		case string:
			if v != "" {
				out[prefix] = v
			}
		case float64:
			if v != 0 {
				out[prefix] = v
			}
		}
	}
	walk("", doc)
	return out
}

// checkREST holds a REST API (payload 1.0) proxy event to what API Gateway
// sends for the fixture's request.
func checkREST(t *testing.T, f fixture, ev *events.APIGatewayProxyRequest) {
	t.Helper()
	rc := &ev.RequestContext
	eq(t, "resource", ev.Resource, f.routeKey)
	eq(t, "requestContext.resourcePath", rc.ResourcePath, f.routeKey)
	eq(t, "path", ev.Path, f.path)
	eq(t, "httpMethod", ev.HTTPMethod, f.method)
	eq(t, "requestContext.httpMethod", rc.HTTPMethod, f.method)
	eq(t, "requestContext.stage", rc.Stage, f.stage)
	// On the execute-api domain the request path carries the stage.
	eq(t, "requestContext.path", rc.Path, "/"+f.stage+f.path)
	nonEmpty(t, "requestContext.requestId", rc.RequestID)
	nonEmpty(t, "requestContext.extendedRequestId", rc.ExtendedRequestID)
	nonEmpty(t, "requestContext.identity.sourceIp", rc.Identity.SourceIP)
	nonEmpty(t, "requestContext.identity.userAgent", rc.Identity.UserAgent)
	eq(t, "requestContext.protocol", rc.Protocol, "HTTP/1.1")
	eq(t, "requestContext.domainName", rc.DomainName, rc.APIID+".execute-api.us-east-1.amazonaws.com")
	eq(t, "requestContext.domainPrefix", rc.DomainPrefix, rc.APIID)
	checkTime(t, "requestContext.requestTime", rc.RequestTime, rc.RequestTimeEpoch)

	switch f.routeKey {
	case "/users/{openid}/contracts":
		eqMap(t, "pathParameters", ev.PathParameters, map[string]string{"openid": openID})
	case "/{proxy+}":
		eqMap(t, "pathParameters", ev.PathParameters, map[string]string{"proxy": strings.TrimPrefix(f.path, "/")})
	}

	// Query: every value, repeats included, only in the multi-value map;
	// the single-value map keeps the last value of each name.
	multi := map[string][]string(parseQuery(t, f.query))
	if len(multi) == 0 {
		multi = nil
	}
	if !reflect.DeepEqual(ev.MultiValueQueryStringParameters, multi) {
		t.Errorf("multiValueQueryStringParameters = %v, want %v", ev.MultiValueQueryStringParameters, multi)
	}
	var single map[string]string
	for k, vs := range multi {
		if single == nil {
			single = map[string]string{}
		}
		single[k] = vs[len(vs)-1]
	}
	eqMap(t, "queryStringParameters", ev.QueryStringParameters, single)

	// Headers: as sent (not lower-cased), each in both maps, the single one
	// holding the last value.
	if len(ev.Headers) == 0 || len(ev.Headers) != len(ev.MultiValueHeaders) {
		t.Errorf("headers (%d) and multiValueHeaders (%d) must name the same headers", len(ev.Headers), len(ev.MultiValueHeaders))
	}
	for k, v := range ev.Headers {
		if vs := ev.MultiValueHeaders[k]; len(vs) == 0 || vs[len(vs)-1] != v {
			t.Errorf("header %s: headers has %q, multiValueHeaders %q", k, v, vs)
		}
	}
	eq(t, "headers.Host", ev.Headers["Host"], rc.DomainName)
	eq(t, "body", ev.Body, "")
	if ev.IsBase64Encoded {
		t.Error("isBase64Encoded is true for an empty body")
	}
}

// checkV2 holds a payload 2.0 event (HTTP API or Function URL) to what AWS
// sends for the fixture's request.
func checkV2(t *testing.T, f fixture, ev *events.APIGatewayV2HTTPRequest) {
	t.Helper()
	rc := &ev.RequestContext
	eq(t, "version", ev.Version, "2.0")
	eq(t, "routeKey", ev.RouteKey, f.routeKey)
	eq(t, "requestContext.routeKey", rc.RouteKey, f.routeKey)
	eq(t, "rawPath", ev.RawPath, f.path)
	eq(t, "requestContext.http.path", rc.HTTP.Path, f.path)
	eq(t, "requestContext.http.method", rc.HTTP.Method, f.method)
	eq(t, "requestContext.http.protocol", rc.HTTP.Protocol, "HTTP/1.1")
	nonEmpty(t, "requestContext.http.sourceIp", rc.HTTP.SourceIP)
	eq(t, "requestContext.http.userAgent", rc.HTTP.UserAgent, ev.Headers["user-agent"])
	eq(t, "requestContext.stage", rc.Stage, f.stage)
	eq(t, "requestContext.accountId", rc.AccountID, "123456789012")
	nonEmpty(t, "requestContext.requestId", rc.RequestID)
	eq(t, "requestContext.domainPrefix", rc.DomainPrefix, rc.APIID)
	eq(t, "headers.host", ev.Headers["host"], rc.DomainName)
	checkTime(t, "requestContext.time", rc.Time, rc.TimeEpoch)
	for k := range ev.Headers {
		if k != strings.ToLower(k) {
			t.Errorf("header %q: payload 2.0 lower-cases header names", k)
		}
	}

	// Path parameters exist only when a route with them matched.
	if f.routeKey == "$default" {
		if ev.PathParameters != nil {
			t.Errorf("pathParameters = %v on the $default route", ev.PathParameters)
		}
	} else {
		eqMap(t, "pathParameters", ev.PathParameters, map[string]string{"openid": openID})
	}

	// Query: rawQueryString exactly as sent; queryStringParameters
	// comma-joins the values of a repeated name.
	eq(t, "rawQueryString", ev.RawQueryString, f.query)
	var joined map[string]string
	for k, vs := range parseQuery(t, f.query) {
		if joined == nil {
			joined = map[string]string{}
		}
		joined[k] = strings.Join(vs, ",")
	}
	eqMap(t, "queryStringParameters", ev.QueryStringParameters, joined)

	switch {
	case f.method == "GET":
		if ev.Body != "" || ev.IsBase64Encoded {
			t.Errorf("GET has body %q (base64 %v); payload 2.0 leaves it out", ev.Body, ev.IsBase64Encoded)
		}
	case !ev.IsBase64Encoded:
		eq(t, "headers.content-length", ev.Headers["content-length"], fmt.Sprint(len(ev.Body)))
	}
}

// checkV2Domain checks the API Gateway side of a payload 2.0 event: an
// execute-api host, and the IAM authorizer (when there is one) filled in.
func checkV2Domain(t *testing.T, rc *events.APIGatewayV2HTTPRequestContext, suffix string) {
	t.Helper()
	eq(t, "requestContext.domainName", rc.DomainName, rc.APIID+suffix)
	if rc.Authorizer != nil {
		if rc.Authorizer.IAM == nil {
			t.Fatal("requestContext.authorizer without iam")
		}
		nonEmpty(t, "requestContext.authorizer.iam.userArn", rc.Authorizer.IAM.UserARN)
		nonEmpty(t, "requestContext.authorizer.iam.accessKey", rc.Authorizer.IAM.AccessKey)
	}
}

// checkFunctionURL holds a Function URL event to what Lambda sends: a
// lambda-url host, the IAM authorizer of an AWS_IAM URL, routeKey "$default"
// and no pathParameters (a Function URL has no routes).
func checkFunctionURL(t *testing.T, f fixture, data []byte, ev *events.LambdaFunctionURLRequest) {
	t.Helper()
	rc := &ev.RequestContext
	eq(t, "version", ev.Version, "2.0")
	eq(t, "rawPath", ev.RawPath, f.path)
	eq(t, "rawQueryString", ev.RawQueryString, f.query)
	eq(t, "requestContext.http.method", rc.HTTP.Method, f.method)
	eq(t, "requestContext.domainName", rc.DomainName, rc.APIID+".lambda-url.us-east-1.on.aws")
	eq(t, "requestContext.domainPrefix", rc.DomainPrefix, rc.APIID)
	if len(rc.APIID) != 32 {
		t.Errorf("requestContext.apiId %q: a Function URL id has 32 characters", rc.APIID)
	}
	if rc.Authorizer == nil || rc.Authorizer.IAM == nil {
		t.Fatal("requestContext.authorizer.iam missing: the URL is AWS_IAM-authorized")
	}
	nonEmpty(t, "requestContext.authorizer.iam.userArn", rc.Authorizer.IAM.UserARN)

	var raw struct {
		RouteKey       *string          `json:"routeKey"`
		PathParameters *json.RawMessage `json:"pathParameters"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if raw.RouteKey == nil || *raw.RouteKey != "$default" {
		t.Errorf("routeKey must be \"$default\"")
	}
	if raw.PathParameters != nil {
		t.Errorf("pathParameters present; Function URLs have none")
	}
}

// checkDirect holds a direct-invocation payload to the fixture's fields,
// with JSON numbers kept as numbers.
func checkDirect(t *testing.T, f fixture, data []byte) {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, f.direct) {
		t.Errorf("payload = %v, want %v", got, f.direct)
	}
	// A direct payload must not look like a proxy event to a handler that
	// sorts events by their fields.
	for _, k := range []string{"httpMethod", "version", "rawPath", "requestContext"} {
		if _, ok := got[k]; ok {
			t.Errorf("direct payload has proxy-event key %q", k)
		}
	}
}

// parseQuery splits a raw query string the way API Gateway does: every pair
// in order, repeats kept.
func parseQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("query %q: %v", raw, err)
	}
	return v
}

// checkTime checks an API Gateway time string against its epoch milliseconds.
func checkTime(t *testing.T, name, s string, epochMs int64) {
	t.Helper()
	ts, err := time.Parse(apiGatewayTime, s)
	if err != nil {
		t.Errorf("%s %q is not in API Gateway's format %q: %v", name, s, apiGatewayTime, err)
		return
	}
	if got := time.UnixMilli(epochMs).Truncate(time.Second); !got.Equal(ts) {
		t.Errorf("%s %q does not match its epoch %d (%s)", name, s, epochMs, got.UTC())
	}
}

func eq(t *testing.T, name, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", name, got, want)
	}
}

func nonEmpty(t *testing.T, name, got string) {
	t.Helper()
	if got == "" {
		t.Errorf("%s is empty", name)
	}
}

func eqMap(t *testing.T, name string, got, want map[string]string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

// TestEveryFixtureIsListed keeps fixtures() and README.md in step with the
// directory: a new event file must be checked here and described there.
func TestEveryFixtureIsListed(t *testing.T) {
	files, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, f := range fixtures() {
		listed = append(listed, f.file)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if name != "env.json" && !slices.Contains(listed, name) {
			t.Errorf("%s is not checked by fixtures()", name)
		}
		if !bytes.Contains(readme, []byte("`"+name+"`")) {
			t.Errorf("%s is not described in README.md", name)
		}
	}
	for _, name := range listed {
		if !slices.Contains(files, name) {
			t.Errorf("fixtures() lists %s, which does not exist", name)
		}
	}
}

// TestEnvVars checks env.json, the --env-vars file of sam local invoke: the
// function's configuration must load from it, pointed at the local stack on
// loopback (the only hosts the function accepts plain http for).
func TestEnvVars(t *testing.T) {
	data := readFixture(t, "env.json")
	var file map[string]map[string]string
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("env.json must map function names to string variables: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatal("env.json has data after its object")
	}
	vars, ok := file["ContractsFunction"]
	if !ok {
		t.Fatal("env.json has no ContractsFunction entry (the template's logical id)")
	}
	for name := range vars {
		if !slices.Contains(config.Variables, name) && !strings.HasPrefix(name, "AWS_") {
			t.Errorf("%s is not a variable the function reads", name)
		}
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatalf("the function's configuration does not load from env.json: %v", err)
	}
	eq(t, "BaseURL", cfg.BaseURL, "http://127.0.0.1:8081")
	eq(t, "BackupBaseURL", cfg.BackupBaseURL, "")
	eq(t, "LogLevel", cfg.LogLevel, "debug")
	eq(t, "AWS_REGION", vars["AWS_REGION"], "us-east-1")
	sm, err := url.Parse(vars["AWS_ENDPOINT_URL_SECRETS_MANAGER"])
	if err != nil || sm.Scheme != "http" || !config.IsLoopback(sm.Hostname()) {
		t.Errorf("AWS_ENDPOINT_URL_SECRETS_MANAGER %q must be a loopback http URL", vars["AWS_ENDPOINT_URL_SECRETS_MANAGER"])
	}
}
