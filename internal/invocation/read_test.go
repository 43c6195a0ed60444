package invocation

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/campuspay/contracts/internal/jsonr"
)

// referenceEvent is rawEvent as encoding/json reads it, the outcome
// readEvent must reproduce.
type referenceEvent struct {
	HTTPMethod      string              `json:"httpMethod"`
	Path            string              `json:"path"`
	Query           map[string]string   `json:"queryStringParameters"`
	MultiValueQuery map[string][]string `json:"multiValueQueryStringParameters"`
	PathParameters  map[string]string   `json:"pathParameters"`
	Version         string              `json:"version"`
	RawPath         string              `json:"rawPath"`
	RawQueryString  string              `json:"rawQueryString"`
	RequestContext  struct {
		DomainName string `json:"domainName"`
		HTTP       struct {
			Method string `json:"method"`
		} `json:"http"`
	} `json:"requestContext"`
}

// read is what readEvent must make of the event encoding/json read: the
// same fields, and of each map what it holds for the parameters read.
func (ref referenceEvent) read() rawEvent {
	ev := rawEvent{HTTPMethod: ref.HTTPMethod, Path: ref.Path, Version: ref.Version, RawPath: ref.RawPath, RawQueryString: ref.RawQueryString,
		Query: singleValued(ref.Query), MultiValueQuery: multiValued(ref.MultiValueQuery), PathParameters: singleValued(ref.PathParameters)}
	ev.RequestContext.DomainName = ref.RequestContext.DomainName
	ev.RequestContext.HTTP.Method = ref.RequestContext.HTTP.Method
	return ev
}

func singleValued(m map[string]string) paramMap {
	if m == nil {
		return paramMap{}
	}
	p := paramMap{present: true}
	for i, name := range mapParams {
		p.one[i], p.set[i] = m[name]
	}
	return p
}

func multiValued(m map[string][]string) paramMap {
	if m == nil {
		return paramMap{}
	}
	p := paramMap{present: true}
	for i, name := range mapParams {
		p.many[i], p.set[i] = m[name]
	}
	return p
}

// referenceDirect is a direct invocation as encoding/json reads it.
type referenceDirect struct {
	OpenID         json.RawMessage `json:"openid"`
	PlanID         json.RawMessage `json:"plan_id"`
	ContractStatus json.RawMessage `json:"contract_status"`
	Offset         json.RawMessage `json:"offset"`
	Limit          json.RawMessage `json:"limit"`
	Query          json.RawMessage `json:"query"`
}

// checkReadersAgainstEncodingJSON holds readEvent and readDirect to
// encoding/json on an object payload: the same verdict (invalid JSON,
// mistyped fields, or read) and the same values.
func checkReadersAgainstEncodingJSON(t testing.TB, payload []byte) {
	t.Helper()
	if p := bytes.TrimSpace(payload); len(p) == 0 || p[0] != '{' {
		return // Parse does not read these
	}
	r := jsonr.NewReader(payload)
	got, ok := readEvent(r)
	syntaxErr := r.Finish()
	valid := json.Valid(payload)
	if valid != (syntaxErr == nil) {
		t.Fatalf("json.Valid says %v, readEvent %v, for %q", valid, syntaxErr, payload)
	}
	if !valid {
		return
	}
	var want referenceEvent
	typeErr := json.Unmarshal(payload, &want)
	if ok != (typeErr == nil) {
		t.Fatalf("encoding/json: %v; readEvent ok=%v; for %q", typeErr, ok, payload)
	}
	if ok && !reflect.DeepEqual(got, want.read()) {
		t.Fatalf("readEvent read %+v, encoding/json %+v, from %q", got, want, payload)
	}

	d, err := readDirect(payload)
	if err != nil {
		t.Fatalf("readDirect refused valid JSON %q: %v", payload, err)
	}
	var wd referenceDirect
	if err := json.Unmarshal(payload, &wd); err != nil {
		t.Fatalf("encoding/json refused a direct invocation: %v", err)
	}
	for i, w := range [...]json.RawMessage{wd.OpenID, wd.PlanID, wd.ContractStatus, wd.Offset, wd.Limit, wd.Query} {
		if !bytes.Equal(d[i], w) || (d[i] == nil) != (w == nil) {
			t.Fatalf("%s: readDirect %q, encoding/json %q, from %q", directKeys[i], d[i], w, payload)
		}
	}
}

var readerPayloads = []string{
	`{}`, `{"httpMethod":"GET","httpMethod":null}`, `{"HTTPMETHOD":"get","Path":"/p"}`,
	`{"queryStringParameters":{"a":"1"},"queryStringParameters":{"b":null}}`, `{"queryStringParameters":{"a":"1"},"queryStringParameters":null}`,
	`{"multiValueQueryStringParameters":{"a":["1",null,"2"],"b":[],"c":null}}`, `{"multiValueQueryStringParameters":{"a":["1"]},"multiValueQueryStringParameters":{"a":["2"]}}`,
	`{"requestContext":{"domainName":"x.lambda-url.us-east-1.on.aws","http":{"method":"GET","Method":"POST"}}}`,
	`{"requestContext":null,"pathParameters":{"openid":"o\u00e9"}}`, `{"requestContext":{"http":null}}`,
	`{"ver\u0073ion":"2.0","rawPath":"/users/o/contracts"}`, `{"openid":"o","OpenID":"p","query":{"limit":5}}`,
	`{"plan_id":1e400,"offset":-0,"limit":[1],"contract_status":{"a":1}}`, "{\"openid\":\"\xff\"}",
	`{"pathParameters":{"openid":null}}`, `{"queryStringParameters":{"x":"1","limit":"5","limit":"6"},"queryStringParameters":{"offset":"0"}}`,
	`{"multiValueQueryStringParameters":{"x":["a",null],"limit":["1","2"]},"multiValueQueryStringParameters":{"x":null}}`,
	// mistyped
	`{"httpMethod":1}`, `{"path":true}`, `{"queryStringParameters":[]}`, `{"queryStringParameters":{"a":1}}`,
	`{"multiValueQueryStringParameters":{"a":"1"}}`, `{"multiValueQueryStringParameters":{"a":[1]}}`,
	`{"requestContext":"x"}`, `{"requestContext":{"http":[]}}`, `{"requestContext":{"http":{"method":{}}}}`,
	`{"rawQueryString":["a"]}`, `{"queryStringParameters":{"x":1}}`, `{"multiValueQueryStringParameters":{"x":[1]}}`,
	`{"multiValueQueryStringParameters":{"x":"1"}}`, `{"pathParameters":{"x":{}}}`,
	// invalid
	`{`, `{"a":}`, `{"httpMethod":"GET",}`, `{"a":1}x`,
}

func TestReadersAgreeWithEncodingJSON(t *testing.T) {
	fixtures, _ := filepath.Glob("../../events/*.json")
	for _, name := range fixtures {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		checkReadersAgainstEncodingJSON(t, b)
	}
	for _, p := range readerPayloads {
		checkReadersAgainstEncodingJSON(t, []byte(p))
	}
}

// FuzzReaders: readEvent and readDirect read every payload as
// encoding/json would.
func FuzzReaders(f *testing.F) {
	fixtures, _ := filepath.Glob("../../events/*.json")
	for _, name := range fixtures {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	for _, p := range readerPayloads {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		checkReadersAgainstEncodingJSON(t, payload)
	})
}
