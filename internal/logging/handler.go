package logging

import (
	"context"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/campuspay/contracts/internal/jsonw"
)

// Handler is the function's slog.Handler. Its lines are, byte for byte,
// those of lambdacontext.NewLogHandler in Lambda's JSON log format:
// slog.JSONHandler's, with lambdacontext.ReplaceAttr's key names and the
// record's Lambda request id last as "requestId".
//
// It writes the records of every invocation (flat attributes of the kinds
// the function logs: strings, integers, floats, booleans, durations) itself,
// because slog.JSONHandler formats each float through encoding/json's
// reflection, which made the summary line a measurable part of a warm
// invocation. Anything else (groups, WithAttrs, values of kind Any or Time,
// a float JSON cannot hold, U+2028 or U+2029 in a string, which
// slog.JSONHandler escapes and jsonw does not) goes to the slog.JSONHandler
// it holds, writing to the same io.Writer. Each line is one Write, and
// the two never write at once.
type Handler struct {
	level slog.Leveler
	json  slog.Handler // slog.JSONHandler with lambdacontext.ReplaceAttr
	out   *output
}

// output is the writer Handler's lines go to, with the buffer it reuses.
type output struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// NewHandler returns a Handler writing to w the records at level or above.
func NewHandler(w io.Writer, level slog.Leveler) *Handler {
	out := &output{w: w}
	return &Handler{
		level: level,
		json:  slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level, ReplaceAttr: lambdacontext.ReplaceAttr}),
		out:   out,
	}
}

// Write writes one line of the slog.JSONHandler, under the lock of
// Handler's own lines.
func (o *output) Write(line []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.w.Write(line)
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.level.Level()
}

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	lc, hasID := lambdacontext.FromContext(ctx)
	if !written(r) {
		if hasID {
			r.AddAttrs(slog.String("requestId", lc.AwsRequestID))
		}
		return h.json.Handle(ctx, r)
	}
	o := h.out
	o.mu.Lock()
	defer o.mu.Unlock()
	b := append(o.buf[:0], '{')
	if !r.Time.IsZero() {
		b = append(b, `"timestamp":"`...)
		b = r.Time.Round(0).AppendFormat(b, time.RFC3339Nano)
		b = append(b, `",`...)
	}
	b = append(b, `"level":"`...)
	b = append(b, r.Level.String()...)
	b = append(b, `","message":`...)
	b = jsonw.AppendString(b, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b = appendAttr(b, a)
		return true
	})
	if hasID {
		b = appendAttr(b, slog.String("requestId", lc.AwsRequestID))
	}
	b = append(b, "}\n"...)
	o.buf = b
	_, err := o.w.Write(b)
	return err
}

// WithAttrs implements slog.Handler: the derived handler is slog's.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.json.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler: the derived handler is slog's.
func (h *Handler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.json.WithGroup(name)}
}

// written says whether Handle writes r itself: see Handler.
func written(r slog.Record) bool {
	if y := r.Time.Year(); y < 0 || y >= 10000 {
		return false // slog writes an error for it
	}
	if !plain(r.Message) {
		return false
	}
	ok := true
	r.Attrs(func(a slog.Attr) bool {
		ok = a.Key != "" && plain(a.Key) && plainValue(a.Value)
		return ok
	})
	return ok
}

func plainValue(v slog.Value) bool {
	switch v.Kind() {
	case slog.KindString:
		return plain(v.String())
	case slog.KindInt64, slog.KindUint64, slog.KindBool, slog.KindDuration:
		return true
	case slog.KindFloat64:
		f := v.Float64()
		return !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return false // Any, Time, Group, LogValuer
}

// plain says whether jsonw escapes s as slog.JSONHandler does: everywhere
// but U+2028 and U+2029.
func plain(s string) bool {
	return !strings.Contains(s, "\u2028") && !strings.Contains(s, "\u2029")
}

// appendAttr appends ,"key":value for an attribute written() let through,
// with lambdacontext.ReplaceAttr's renaming of top-level keys.
func appendAttr(b []byte, a slog.Attr) []byte {
	key := a.Key
	switch key {
	case slog.TimeKey:
		key = "timestamp"
	case slog.MessageKey:
		key = "message"
	}
	b = append(b, ',')
	b = jsonw.AppendString(b, key)
	b = append(b, ':')
	switch v := a.Value; v.Kind() {
	case slog.KindString:
		b = jsonw.AppendString(b, v.String())
	case slog.KindInt64:
		b = strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		b = strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindFloat64:
		b = jsonw.AppendFloat(b, v.Float64())
	case slog.KindBool:
		b = strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		b = strconv.AppendInt(b, int64(v.Duration()), 10)
	}
	return b
}
