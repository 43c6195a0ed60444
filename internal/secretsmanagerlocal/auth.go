package secretsmanagerlocal

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

const (
	sigV4Algorithm = "AWS4-HMAC-SHA256"
	serviceName    = "secretsmanager"
	scopeEnd       = "aws4_request"
	amzDateFormat  = "20060102T150405Z"
)

// checkAuth checks the form of the request's SigV4 Authorization header as
// AWS does before it looks at the signature: the algorithm, a credential
// scoped to this service, signed headers that include host and are present,
// a hex signature, and a request date that matches the scope's. It does not
// verify the signature itself, so any credentials will do; what it catches
// is a client that does not sign, or signs for another service or region
// layout. Its messages never repeat the header, which carries a credential.
func checkAuth(r *http.Request) *apiError {
	h := r.Header.Get("Authorization")
	if h == "" {
		return &apiError{http.StatusBadRequest, ErrMissingAuthToken, "Missing Authentication Token"}
	}
	incomplete := func(format string, args ...any) *apiError {
		return &apiError{http.StatusBadRequest, ErrIncompleteSignature, fmt.Sprintf(format, args...)}
	}
	invalid := func(format string, args ...any) *apiError {
		return &apiError{http.StatusBadRequest, ErrInvalidSignature, fmt.Sprintf(format, args...)}
	}

	alg, rest, _ := strings.Cut(h, " ")
	if alg != sigV4Algorithm {
		return incomplete("Authorization header must use the %s algorithm", sigV4Algorithm)
	}
	params := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" {
			return incomplete("Authorization header is malformed: each part must be key=value")
		}
		params[k] = v
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if params[k] == "" {
			return incomplete("Authorization header requires '%s' parameter", k)
		}
	}

	scope := strings.Split(params["Credential"], "/")
	if len(scope) != 5 || scope[0] == "" || scope[2] == "" {
		return incomplete("Credential must have the form <access key>/<yyyymmdd>/<region>/%s/%s", serviceName, scopeEnd)
	}
	scopeDate, err := time.Parse("20060102", scope[1])
	if err != nil {
		return invalid("Credential scope date must be yyyymmdd")
	}
	if scope[3] != serviceName {
		return invalid("Credential should be scoped to correct service: '%s'", serviceName)
	}
	if scope[4] != scopeEnd {
		return invalid("Credential should be scoped with a valid terminator: '%s'", scopeEnd)
	}

	signedHost := false
	for name := range strings.SplitSeq(params["SignedHeaders"], ";") {
		switch {
		case name == "" || name != strings.ToLower(name):
			return incomplete("SignedHeaders must be lower-case header names separated by ';'")
		case name == "host":
			signedHost = true
		case name == "content-length":
			if r.ContentLength < 0 && r.Header.Get("Content-Length") == "" {
				return invalid("signed header content-length is not in the request")
			}
		case len(r.Header.Values(name)) == 0:
			return invalid("signed header %s is not in the request", name)
		}
	}
	if !signedHost {
		return incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization")
	}

	sig := params["Signature"]
	if len(sig) != 64 || strings.Trim(sig, "0123456789abcdef") != "" {
		return incomplete("Signature must be 64 lower-case hexadecimal characters")
	}

	if d := r.Header.Get("X-Amz-Date"); d != "" {
		t, err := time.Parse(amzDateFormat, d)
		if err != nil {
			return incomplete("X-Amz-Date must be in ISO 8601 basic format (%s)", amzDateFormat)
		}
		if t.Format("20060102") != scopeDate.Format("20060102") {
			return invalid("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP")
		}
	} else if r.Header.Get("Date") == "" {
		return incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header")
	}
	return nil
}
