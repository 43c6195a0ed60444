package invocation

import (
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda/messages"
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
	switch shape {
	case ShapeDirect:
		if resp.Code != "" {
			return nil, messages.InvokeResponse_Error{Type: resp.Code, Message: resp.Message}
		}
		return resp.Body, nil
	case ShapeREST:
		out, err := json.Marshal(events.APIGatewayProxyResponse{
			StatusCode: resp.Status,
			Headers:    resp.Header,
			Body:       string(resp.Body),
		})
		if err != nil {
			return nil, fmt.Errorf("encode REST API response: %w", err)
		}
		return out, nil
	default: // HTTP API and Function URLs share the 2.0 response format.
		out, err := json.Marshal(events.APIGatewayV2HTTPResponse{
			StatusCode: resp.Status,
			Headers:    resp.Header,
			Body:       string(resp.Body),
		})
		if err != nil {
			return nil, fmt.Errorf("encode HTTP API response: %w", err)
		}
		return out, nil
	}
}
