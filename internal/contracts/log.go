package contracts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/campuspay/contracts/internal/metrics"
)

// logSummary writes the one summary line of an invocation.
func (s *Service) logSummary(ctx context.Context, out *outcome, coldStart bool, total time.Duration) {
	level := slog.LevelInfo
	if out.status >= 500 {
		level = slog.LevelError
	} else if out.status >= 400 {
		level = slog.LevelWarn
	}
	if !s.Log.Enabled(ctx, level) {
		return
	}
	// Room for every attribute, so that the slice stays on the stack.
	attrs := append(make([]slog.Attr, 0, 16),
		slog.Bool("cold_start", coldStart),
		slog.String("shape", string(out.shape)),
		slog.String("outcome", out.code),
		slog.Int("status", out.status),
		slog.Float64("duration_ms", ms(total)),
	)
	if out.openid != "" {
		attrs = append(attrs, slog.String("openid", MaskOpenID(out.openid)))
	}
	if out.secretOrigin != "" {
		attrs = append(attrs, slog.String("secret", string(out.secretOrigin)))
	}
	if out.trace.Attempts > 0 {
		attrs = append(attrs,
			slog.Int("upstream_status", out.trace.Status),
			slog.String("upstream_request_id", out.trace.RequestID),
			slog.Int("attempts", out.trace.Attempts),
			slog.String("upstream_host", hostOf(out.trace.BaseURL)),
			slog.Float64("upstream_ms", ms(out.trace.Upstream)),
			slog.Bool("auth_retried", out.authRetried),
		)
	}
	if out.failureMessage != "" {
		attrs = append(attrs, slog.String("error_message", out.failureMessage))
	}
	if out.cause != nil {
		attrs = append(attrs, slog.String("cause", out.cause.Error()))
	}
	// The record goes to the handler itself: Logger.LogAttrs would first
	// unwind the stack for the caller's program counter, which no handler
	// of ours writes, on every invocation.
	r := slog.NewRecord(time.Now(), level, "invocation", 0)
	r.AddAttrs(attrs...)
	_ = s.Log.Handler().Handle(ctx, r)
}

// recordMetrics writes the invocation's EMF line, when metrics are on.
func (s *Service) recordMetrics(ctx context.Context, out *outcome, total time.Duration) {
	if s.Metrics == nil {
		return
	}
	inv := metrics.Invocation{
		Outcome: out.code, Latency: total, UpstreamTime: out.trace.Upstream, Attempts: out.trace.Attempts,
		Secret: string(out.secretOrigin),
		Error:  strings.HasPrefix(out.code, "UPSTREAM_") || out.code == CodeConfiguration,
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		inv.RequestID = lc.AwsRequestID
	}
	if err := s.Metrics.Record(inv); err != nil {
		s.Log.WarnContext(ctx, "writing the metrics line failed", "error", err.Error())
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// hostOf returns the host (and port) of an origin such as
// https://api.mch.weixin.qq.com, the only form config.CheckBaseURL lets
// through, without parsing a URL on every invocation.
func hostOf(origin string) string {
	_, rest, ok := strings.Cut(origin, "://")
	if !ok {
		return ""
	}
	host, _, _ := strings.Cut(rest, "/")
	return host
}

// MaskOpenID keeps a user's requests findable without writing their openid:
// a short prefix and a stable hash.
func MaskOpenID(openid string) string {
	sum := sha256.Sum256([]byte(openid))
	prefix := openid
	if len(prefix) > 4 {
		prefix = prefix[:4]
	}
	return prefix + "…" + hex.EncodeToString(sum[:6])
}
