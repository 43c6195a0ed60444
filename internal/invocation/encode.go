package invocation

import (
	"slices"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/campuspay/contracts/internal/jsonw"
)

// Response is the function's answer before it is shaped for its caller.
type Response struct {
	Status int
	Header map[string]string
	Body   []byte // JSON
	// Page, when set, is the body instead of Body: it writes itself, in
	// one pass, as it is or already escaped for the proxy envelope.
	Page JSONBody
	// Code and Message are set on an error. A direct invocation gets them as
	// the function error's errorType and errorMessage.
	Code    string
	Message string
}

// JSONBody is a body that writes its own JSON, on every warm invocation's
// path: written escaped straight into a proxy envelope's "body" string,
// it is not written once and then copied again escaped.
type JSONBody interface {
	// AppendJSON appends the body's JSON to b; with escaped, as the
	// contents of a JSON string (jsonw.AppendStringContents' form).
	AppendJSON(b []byte, escaped bool) []byte
	// EncodedSize is about the length of the unescaped JSON.
	EncodedSize() int
}

// Encode shapes resp for the caller of shape: a proxy response object for
// API Gateway and Function URLs; for a direct invocation, the body itself,
// or on an error a function error whose errorType is the error code.
//
// The function error is a messages.InvokeResponse_Error value because that is
// the one error type whose errorType aws-lambda-go passes through as it is;
// for any other error it reports the Go type's name.
func Encode(shape Shape, resp Response) ([]byte, error) {
	if shape == ShapeDirect {
		if resp.Code != "" {
			return nil, messages.InvokeResponse_Error{Type: resp.Code, Message: resp.Message}
		}
		if resp.Page != nil {
			return resp.Page.AppendJSON(make([]byte, 0, resp.Page.EncodedSize()), false), nil
		}
		return resp.Body, nil
	}
	n := len(resp.Body)
	if resp.Page != nil {
		n = resp.Page.EncodedSize()
	}
	return appendProxyResponse(make([]byte, 0, n+n/4+256), resp), nil
}

// appendProxyResponse writes the response object that REST APIs (payload
// 1.0), HTTP APIs (2.0) and Function URLs all read: statusCode, headers,
// body and isBase64Encoded, as events.APIGatewayProxyResponse and
// events.APIGatewayV2HTTPResponse marshal them. It is written by hand, in
// one pass with no copy of the body, because it is on every warm
// invocation's path.
func appendProxyResponse(b []byte, resp Response) []byte {
	b = append(b, `{"statusCode":`...)
	b = strconv.AppendInt(b, int64(resp.Status), 10)
	b = append(b, `,"headers":{`...)
	names := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	for i, k := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, k)
		b = append(b, ':')
		b = jsonw.AppendString(b, resp.Header[k])
	}
	b = append(b, `},"body":"`...)
	if resp.Page != nil {
		b = resp.Page.AppendJSON(b, true)
	} else {
		b = jsonw.AppendStringContents(b, resp.Body)
	}
	return append(b, `","isBase64Encoded":false}`...)
}
