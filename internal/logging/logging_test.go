package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

func TestLevel(t *testing.T) {
	tests := []struct {
		aws, ours string
		want      slog.Level
	}{
		{"", "", slog.LevelInfo},
		{"", "debug", slog.LevelDebug},
		{"", "warn", slog.LevelWarn},
		{"ERROR", "debug", slog.LevelError}, // Lambda's setting wins
		{"DEBUG", "error", slog.LevelDebug},
		{"TRACE", "", slog.LevelDebug},
		{"FATAL", "", slog.LevelError},
		{"", "nonsense", slog.LevelInfo},
	}
	for _, tt := range tests {
		if got := Level(tt.aws, tt.ours); got != tt.want {
			t.Errorf("Level(%q, %q) = %v, want %v", tt.aws, tt.ours, got, tt.want)
		}
	}
}

func TestNewWritesLambdaJSON(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, slog.LevelInfo)
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	log.DebugContext(ctx, "hidden")
	log.InfoContext(ctx, "invocation", "outcome", "OK")
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("%q: %v", buf.String(), err)
	}
	if m["message"] != "invocation" || m["level"] != "INFO" || m["requestId"] != "req-1" || m["outcome"] != "OK" || m["timestamp"] == nil {
		t.Errorf("line %v", m)
	}
}
