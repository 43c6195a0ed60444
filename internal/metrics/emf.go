// Package metrics writes CloudWatch metrics as Embedded Metric Format (EMF)
// log lines: one JSON object on a line of its own, which CloudWatch Logs
// turns into metrics with no API call and no SDK.
//
// Lambda's JSON log-level filter reads a line's "level" and takes a line
// without one for INFO, so at ApplicationLogLevel WARN or ERROR it would drop
// an EMF line that has none. Each line therefore carries "level":"FATAL",
// the one level no filter setting drops; the metrics are not fatal, and the
// queries in the README select metric lines by their "_aws" member.
package metrics

import (
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/campuspay/contracts/internal/jsonw"
)

// Invocation is what one invocation measured.
type Invocation struct {
	RequestID    string
	Outcome      string // the contract's code, or OK
	Latency      time.Duration
	UpstreamTime time.Duration
	Attempts     int
	// Secret is where the merchant secret came from: "cache", "fetch",
	// "stale", "limited", or "" when none was needed (bad input).
	Secret string
	// Error is true for the outcomes the error-rate alarm counts:
	// UPSTREAM_* and CONFIGURATION_ERROR.
	Error bool
}

// Names of the metrics and dimensions, as the template's alarms use them.
const (
	MetricInvocations     = "Invocations"
	MetricErrors          = "Errors"
	MetricLatency         = "Latency"
	MetricUpstreamLatency = "UpstreamLatency"
	MetricAttempts        = "UpstreamAttempts"
	MetricSecretCacheHit  = "SecretCacheHit"
	MetricSecretCacheMiss = "SecretCacheMiss"
	DimensionFunction     = "FunctionName"
	DimensionOutcome      = "Outcome"
)

// Emitter writes one EMF line per invocation to W.
type Emitter struct {
	W            io.Writer
	Namespace    string
	FunctionName string
	Now          func() time.Time // time.Now when nil

	mu          sync.Mutex // one Write per line, never interleaved
	buf         []byte     // the line, reused (an io.Writer does not retain it)
	directive   []byte     // appendDirective's, for directiveOf
	directiveOf string
}

// definitions are the metrics of every line, with their units.
var definitions = [...]struct{ Name, Unit string }{
	{MetricInvocations, "Count"},
	{MetricErrors, "Count"},
	{MetricLatency, "Milliseconds"},
	{MetricUpstreamLatency, "Milliseconds"},
	{MetricAttempts, "Count"},
	{MetricSecretCacheHit, "Count"},
	{MetricSecretCacheMiss, "Count"},
}

// appendDirective appends the part of "_aws" after its Timestamp, the same
// on every line of a namespace: the one directive, every metric published
// per function and per function and outcome.
func appendDirective(b []byte, namespace string) []byte {
	b = append(b, `,"CloudWatchMetrics":[{"Namespace":`...)
	b = jsonw.AppendString(b, namespace)
	b = append(b, `,"Dimensions":[["`+DimensionFunction+`"],["`+DimensionFunction+`","`+DimensionOutcome+`"]],"Metrics":[`...)
	for i, d := range definitions {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Name":"`+d.Name+`","Unit":"`+d.Unit+`"}`...)
	}
	return append(b, "]}]}"...)
}

// Record writes the EMF line of one invocation. Every metric is published
// per function and per function and outcome, so "count by outcome" is the
// Invocations metric split by Outcome, and the error rate is the Average of
// Errors (each invocation counts 0 or 1).
//
// The line is the EMF document: the metadata under "_aws", and the
// dimension and metric values as members of the root, as the specification
// requires. It is written by hand, like the page, because it is on every
// invocation's path; the directive, the same on every line, is rendered
// once.
func (e *Emitter) Record(inv Invocation) error {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	hit, miss := 0, 0
	switch inv.Secret {
	case "":
	case "cache", "limited":
		hit = 1
	default: // fetched, or tried to and served the stale value
		miss = 1
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.directive == nil || e.directiveOf != e.Namespace {
		e.directive, e.directiveOf = appendDirective(nil, e.Namespace), e.Namespace
	}
	b := append(e.buf[:0], `{"_aws":{"Timestamp":`...)
	b = strconv.AppendInt(b, now().UnixMilli(), 10)
	b = append(b, e.directive...)
	b = append(b, `,"level":"FATAL","message":"metrics"`...)
	if inv.RequestID != "" {
		b = append(b, `,"requestId":`...)
		b = jsonw.AppendString(b, inv.RequestID)
	}
	b = append(b, `,"`+DimensionFunction+`":`...)
	b = jsonw.AppendString(b, e.FunctionName)
	b = append(b, `,"`+DimensionOutcome+`":`...)
	b = jsonw.AppendString(b, inv.Outcome)
	b = append(b, `,"`+MetricInvocations+`":1,"`+MetricErrors+`":`...)
	b = strconv.AppendInt(b, int64(b2i(inv.Error)), 10)
	b = append(b, `,"`+MetricLatency+`":`...)
	b = jsonw.AppendFloat(b, ms(inv.Latency))
	b = append(b, `,"`+MetricUpstreamLatency+`":`...)
	b = jsonw.AppendFloat(b, ms(inv.UpstreamTime))
	b = append(b, `,"`+MetricAttempts+`":`...)
	b = strconv.AppendInt(b, int64(inv.Attempts), 10)
	b = append(b, `,"`+MetricSecretCacheHit+`":`...)
	b = strconv.AppendInt(b, int64(hit), 10)
	b = append(b, `,"`+MetricSecretCacheMiss+`":`...)
	b = strconv.AppendInt(b, int64(miss), 10)
	b = append(b, "}\n"...)
	e.buf = b
	_, err := e.W.Write(b)
	return err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
