// Package logging builds the function's slog logger: one JSON object a line
// on stdout, in the form Lambda's JSON log format and its application log
// level filter read ("timestamp", "level", "message", "requestId").
package logging

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Level picks the log level: Lambda's AWS_LAMBDA_LOG_LEVEL (set from the
// template's ApplicationLogLevel) wins when set; else LOG_LEVEL; else info.
func Level(awsLambdaLogLevel, logLevel string) slog.Level {
	v := awsLambdaLogLevel
	if v == "" {
		v = logLevel
	}
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "DEBUG", "TRACE":
		return slog.LevelDebug
	case "WARN":
		return slog.LevelWarn
	case "ERROR", "FATAL":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// New returns a JSON logger writing to w at level. Lambda's own handler
// (lambdacontext.NewLogHandler) reads the level only from
// AWS_LAMBDA_LOG_LEVEL and writes text unless AWS_LAMBDA_LOG_FORMAT is JSON;
// this one takes its key names (lambdacontext.ReplaceAttr) and its requestId
// field, and is JSON everywhere, so local runs read like CloudWatch.
func New(w io.Writer, level slog.Level) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: lambdacontext.ReplaceAttr})
	return slog.New(requestIDHandler{h})
}

// requestIDHandler adds the Lambda request id of the record's context.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		r.AddAttrs(slog.String("requestId", lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
