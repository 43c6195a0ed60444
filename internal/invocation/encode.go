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
	// Code and Message are set on an error. A direct invocation gets them as
	// the function error's errorType and errorMessage.
	Code    string
	Message string
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
		return resp.Body, nil
	}
	return appendProxyResponse(make([]byte, 0, len(resp.Body)+len(resp.Body)/4+256), resp), nil
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
	b = append(b, `},"body":`...)
	b = jsonw.AppendString(b, resp.Body)
	return append(b, `,"isBase64Encoded":false}`...)
}
