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
	"encoding/json"
	"io"
	"sync"
	"time"
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

	mu sync.Mutex // one Write per line, never interleaved
}

type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// line is the EMF document: the metadata, the dimension values and the
// metric values as members of the root, as the specification requires.
type line struct {
	AWS             metadata `json:"_aws"`
	Level           string   `json:"level"`
	Message         string   `json:"message"`
	RequestID       string   `json:"requestId,omitempty"`
	FunctionName    string   `json:"FunctionName"`
	Outcome         string   `json:"Outcome"`
	Invocations     int      `json:"Invocations"`
	Errors          int      `json:"Errors"`
	Latency         float64  `json:"Latency"`
	UpstreamLatency float64  `json:"UpstreamLatency"`
	Attempts        int      `json:"UpstreamAttempts"`
	SecretCacheHit  int      `json:"SecretCacheHit"`
	SecretCacheMiss int      `json:"SecretCacheMiss"`
}

var definitions = []metricDef{
	{MetricInvocations, "Count"},
	{MetricErrors, "Count"},
	{MetricLatency, "Milliseconds"},
	{MetricUpstreamLatency, "Milliseconds"},
	{MetricAttempts, "Count"},
	{MetricSecretCacheHit, "Count"},
	{MetricSecretCacheMiss, "Count"},
}

// Record writes the EMF line of one invocation. Every metric is published
// per function and per function and outcome, so "count by outcome" is the
// Invocations metric split by Outcome, and the error rate is the Average of
// Errors (each invocation counts 0 or 1).
func (e *Emitter) Record(inv Invocation) error {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	l := line{
		AWS: metadata{Timestamp: now().UnixMilli(), CloudWatchMetrics: []directive{{
			Namespace:  e.Namespace,
			Dimensions: [][]string{{DimensionFunction}, {DimensionFunction, DimensionOutcome}},
			Metrics:    definitions,
		}}},
		Level: "FATAL", Message: "metrics", RequestID: inv.RequestID,
		FunctionName: e.FunctionName, Outcome: inv.Outcome,
		Invocations: 1, Errors: b2i(inv.Error),
		Latency: ms(inv.Latency), UpstreamLatency: ms(inv.UpstreamTime), Attempts: inv.Attempts,
	}
	switch inv.Secret {
	case "":
	case "cache", "limited":
		l.SecretCacheHit = 1
	default: // fetched, or tried to and served the stale value
		l.SecretCacheMiss = 1
	}
	b, err := json.Marshal(&l)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	_, err = e.W.Write(b)
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
