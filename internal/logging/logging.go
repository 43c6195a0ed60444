// Package logging builds the function's slog logger: one JSON object a line
// on stdout, in the form Lambda's JSON log format and its application log
// level filter read ("timestamp", "level", "message", "requestId").
package logging

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/campuspay/contracts/internal/config"
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

// ForLambda returns the function's logger. Deployed with the template's
// JSON log format, Lambda sets AWS_LAMBDA_LOG_FORMAT=JSON and
// AWS_LAMBDA_LOG_LEVEL; anywhere else (the emulator, make run, tests) the
// level comes from LOG_LEVEL. Either way the lines are those of
// aws-lambda-go's lambdacontext.NewLogHandler in the JSON format (see
// Handler), so local runs read like CloudWatch.
func ForLambda(getenv func(string) string) *slog.Logger {
	return New(os.Stdout, Level(getenv("AWS_LAMBDA_LOG_LEVEL"), getenv(config.EnvLogLevel)))
}

// New returns a JSON logger writing to w at level, in the form of
// lambdacontext.NewLogHandler's JSON output.
func New(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(NewHandler(w, level))
}

// requestIDHandler adds the Lambda request id of the record's context, as
// lambdacontext's handler does: Handler's derived handlers are these.
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
