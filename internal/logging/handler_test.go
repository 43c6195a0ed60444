package logging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// when is the time of the test records: the lines must match to the byte.
var when = time.Date(2026, 12, 4, 20, 30, 1, 123456789, time.UTC)

// logCase is one record, given to a handler, its With* derivations applied.
type logCase struct {
	name   string
	level  slog.Level
	msg    string
	time   time.Time
	attrs  []slog.Attr
	with   []slog.Attr // WithAttrs before the record, when set
	group  string      // WithGroup before the record, when set
	noLCtx bool        // a context without a Lambda request id
}

// logCases cover what Handler writes itself (the first ones, the summary
// line's kinds and the strings that need escaping) and what it hands to
// slog.JSONHandler.
func logCases() []logCase {
	summary := []slog.Attr{
		slog.Bool("cold_start", false), slog.String("shape", "http"), slog.String("outcome", "OK"),
		slog.Int("status", 200), slog.Float64("duration_ms", 1.234), slog.String("openid", "oUpF…0123456789ab"),
		slog.String("secret", "cache"), slog.Int("upstream_status", 200), slog.String("upstream_request_id", "08F1\"\\\n"),
		slog.Int("attempts", 1), slog.String("upstream_host", "api.mch.weixin.qq.com"), slog.Float64("upstream_ms", 0.9),
		slog.Bool("auth_retried", false),
	}
	return []logCase{
		{name: "summary", level: slog.LevelInfo, msg: "invocation", time: when, attrs: summary},
		{name: "no attrs", level: slog.LevelWarn, msg: "", time: when},
		{name: "no time", level: slog.LevelError, msg: "m", attrs: summary[:3]},
		{name: "no request id", level: slog.LevelInfo, msg: "m", time: when, attrs: summary[:2], noLCtx: true},
		{name: "odd levels", level: slog.LevelWarn + 1, msg: "m", time: when},
		{name: "debug-2", level: slog.LevelDebug - 2, msg: "m", time: when},
		{name: "escapes", level: slog.LevelInfo, msg: "a\"b\\c\n\r\t\x00\x1f\x7f<>&é\xff\xfe", time: when,
			attrs: []slog.Attr{slog.String("k\"ey\x01", "\b\f\u00e9\U0001F600\xc3"), slog.String("html", "<a href='x'>&amp;</a>")}},
		{name: "floats", level: slog.LevelInfo, msg: "m", time: when, attrs: []slog.Attr{
			slog.Float64("zero", 0), slog.Float64("neg0", math.Copysign(0, -1)), slog.Float64("tiny", 1e-7),
			slog.Float64("small", 0.000001), slog.Float64("big", 1e21), slog.Float64("almost", 999999999999999999999),
			slog.Float64("neg", -12.5), slog.Float64("third", 1.0/3), slog.Float64("max", math.MaxFloat64),
			slog.Float64("min", math.SmallestNonzeroFloat64)}},
		{name: "integers", level: slog.LevelInfo, msg: "m", time: when, attrs: []slog.Attr{
			slog.Int64("min", math.MinInt64), slog.Uint64("max", math.MaxUint64), slog.Duration("d", 1500*time.Millisecond),
			slog.Bool("t", true)}},
		{name: "renamed keys", level: slog.LevelInfo, msg: "m", time: when, attrs: []slog.Attr{
			slog.String("time", "x"), slog.String("msg", "y"), slog.String("level", "z"), slog.String("requestId", "w")}},
		{name: "local time", level: slog.LevelInfo, msg: "m", time: when.In(time.FixedZone("CST", 8*3600))},
		// What slog.JSONHandler writes.
		{name: "line separator", level: slog.LevelInfo, msg: "a\u2028b", time: when, attrs: []slog.Attr{slog.String("s", "\u2029")}},
		{name: "nan", level: slog.LevelInfo, msg: "m", time: when, attrs: []slog.Attr{slog.Float64("nan", math.NaN()), slog.Float64("inf", math.Inf(-1))}},
		{name: "any and error", level: slog.LevelInfo, msg: "m", time: when, attrs: []slog.Attr{
			slog.Any("err", errors.New("boom")), slog.Any("list", []int{1, 2}), slog.Time("at", when)}},
		{name: "group", level: slog.LevelInfo, msg: "m", time: when, attrs: []slog.Attr{
			slog.Group("g", slog.String("time", "x"), slog.Int("n", 1)), slog.Group("empty")}},
		{name: "empty key", level: slog.LevelInfo, msg: "m", time: when, attrs: []slog.Attr{slog.String("", "v"), {}}},
		{name: "year 10000", level: slog.LevelInfo, msg: "m", time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{name: "with attrs", level: slog.LevelInfo, msg: "m", time: when, attrs: summary[:2], with: []slog.Attr{slog.String("a", "b")}},
		{name: "with group", level: slog.LevelInfo, msg: "m", time: when, attrs: summary[:2], group: "grp"},
	}
}

// writeCases writes every case through h, one line each.
func writeCases(h slog.Handler) error {
	lctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "c0ffee-\"1\""})
	for _, c := range logCases() {
		hh := h
		if c.with != nil {
			hh = hh.WithAttrs(c.with)
		}
		if c.group != "" {
			hh = hh.WithGroup(c.group)
		}
		ctx := lctx
		if c.noLCtx {
			ctx = context.Background()
		}
		r := slog.NewRecord(c.time, c.level, c.msg, 0)
		r.AddAttrs(c.attrs...)
		if err := hh.Handle(ctx, r); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	return nil
}

// TestMain lets TestHandlerMatchesLambdacontext run this binary as a child
// in Lambda's environment, where lambdacontext's handler writes JSON.
func TestMain(m *testing.M) {
	if os.Getenv("LOGGING_TEST_CHILD") == "lambdacontext" {
		if err := writeCases(lambdacontext.NewLogHandler()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestHandlerMatchesLambdacontext holds Handler to the lines of the handler
// deployed functions would otherwise use: lambdacontext.NewLogHandler, in a
// process started with Lambda's JSON log format (it reads the format when
// its package loads, and writes to os.Stdout).
func TestHandlerMatchesLambdacontext(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run", "^$")
	cmd.Env = append(os.Environ(), "LOGGING_TEST_CHILD=lambdacontext",
		"AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_LAMBDA_LOG_LEVEL=DEBUG")
	want, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	var got bytes.Buffer
	if err := writeCases(NewHandler(&got, slog.LevelDebug)); err != nil {
		t.Fatal(err)
	}
	wantLines, gotLines := strings.SplitAfter(string(want), "\n"), strings.SplitAfter(got.String(), "\n")
	if len(wantLines) != len(logCases())+1 { // the last is empty
		t.Fatalf("lambdacontext wrote %d lines for %d records:\n%s", len(wantLines)-1, len(logCases()), want)
	}
	for i, c := range logCases() {
		if i >= len(gotLines) || gotLines[i] != wantLines[i] {
			t.Errorf("%s:\n got %q\nwant %q", c.name, gotLines[i], wantLines[i])
		}
	}
}

// reference is lambdacontext's handler rebuilt on w: slog.JSONHandler with
// its ReplaceAttr, and the request id added as its Handle adds it.
func reference(w *bytes.Buffer, level slog.Level) slog.Handler {
	return requestIDHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: lambdacontext.ReplaceAttr})}
}

// FuzzHandler holds Handler to the reference on records made of the
// fuzzer's strings and numbers, in every kind Handler writes itself.
func FuzzHandler(f *testing.F) {
	f.Add("invocation", "outcome", "OK", int64(200), 1.25, true, uint8(0))
	f.Add("a\u2028b", "time", "\xff\x00\"\\", int64(-1), 1e-7, false, uint8(7))
	f.Add("", "msg", "<&>", int64(math.MaxInt64), 1e21, true, uint8(255))
	f.Fuzz(func(t *testing.T, msg, key, s string, n int64, x float64, yes bool, kinds uint8) {
		attrs := []slog.Attr{slog.String(key, s)}
		for i := range 6 {
			if kinds&(1<<i) == 0 {
				continue
			}
			k := key + string(rune('a'+i))
			attrs = append(attrs, [...]slog.Attr{
				slog.Int64(k, n), slog.Uint64(k, uint64(n)), slog.Float64(k, x), slog.Bool(k, yes),
				slog.Duration(k, time.Duration(n)), slog.String(k, msg),
			}[i])
		}
		ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: s})
		if kinds&(1<<6) != 0 {
			ctx = context.Background()
		}
		tm := time.Unix(n%(1<<40), int64(x)%1e9).UTC()
		if kinds&(1<<7) != 0 {
			tm = time.Time{}
		}
		var got, want bytes.Buffer
		for _, w := range []struct {
			h   slog.Handler
			buf *bytes.Buffer
		}{{NewHandler(&got, slog.LevelDebug), &got}, {reference(&want, slog.LevelDebug), &want}} {
			r := slog.NewRecord(tm, slog.Level(n%16), msg, 0)
			r.AddAttrs(attrs...)
			if err := w.h.Handle(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if got.String() != want.String() {
			t.Errorf("\n got %q\nwant %q", got.String(), want.String())
		}
	})
}

func TestHandlerLevels(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(&buf, slog.LevelWarn))
	log.Info("hidden")
	log.Warn("shown")
	log.With("a", 1).Info("hidden too")
	if n := strings.Count(buf.String(), "\n"); n != 1 || !strings.Contains(buf.String(), `"message":"shown"`) {
		t.Errorf("at WARN: %q", buf.String())
	}
}

// TestHandlerWritesFlatRecordsItself checks that a summary line takes the
// path that is the reason for Handler: no allocation once its buffer has
// grown (slog.JSONHandler allocates for each float through encoding/json).
func TestHandlerWritesFlatRecordsItself(t *testing.T) {
	h := NewHandler(discard{}, slog.LevelInfo)
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "id"})
	attrs := logCases()[0].attrs
	r := slog.NewRecord(when, slog.LevelInfo, "invocation", 0)
	r.AddAttrs(attrs...)
	if allocs := testing.AllocsPerRun(100, func() { _ = h.Handle(ctx, r) }); allocs != 0 {
		t.Errorf("%v allocations a summary line, want 0", allocs)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkHandler compares Handler with the slog.JSONHandler it replaces
// on the summary line of a warm invocation.
func BenchmarkHandler(b *testing.B) {
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "8476a536-e9f4-11e8-9739-2dfe598c3fcd"})
	attrs := logCases()[0].attrs
	for _, tc := range []struct {
		name string
		h    slog.Handler
	}{
		{"Handler", NewHandler(discard{}, slog.LevelInfo)},
		{"slog.JSONHandler", requestIDHandler{slog.NewJSONHandler(discard{}, &slog.HandlerOptions{ReplaceAttr: lambdacontext.ReplaceAttr})}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			log := slog.New(tc.h)
			b.ReportAllocs()
			for b.Loop() {
				log.LogAttrs(ctx, slog.LevelInfo, "invocation", attrs...)
			}
		})
	}
}
