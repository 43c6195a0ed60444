package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// ValidateEMF checks one line against the Embedded Metric Format
// specification: a root object with an "_aws" member holding an integer
// Timestamp (epoch ms) and a non-empty CloudWatchMetrics array; each
// directive with a Namespace, Dimensions as arrays of at most 30 names, each
// name a root member whose value is a string, and Metrics whose Names are
// root members holding numbers (or arrays of numbers), with a known Unit.
func ValidateEMF(raw []byte) error {
	var root map[string]json.RawMessage
	if err := json.Unmarshal(raw, &root); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	var aws struct {
		Timestamp         *json.Number `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  *string    `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name string `json:"Name"`
				Unit string `json:"Unit"`
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	}
	if err := json.Unmarshal(root["_aws"], &aws); err != nil {
		return fmt.Errorf("_aws: %w", err)
	}
	if aws.Timestamp == nil {
		return fmt.Errorf("_aws.Timestamp missing")
	}
	if _, err := aws.Timestamp.Int64(); err != nil {
		return fmt.Errorf("_aws.Timestamp is not an integer")
	}
	if len(aws.CloudWatchMetrics) == 0 {
		return fmt.Errorf("_aws.CloudWatchMetrics is empty")
	}
	units := map[string]bool{"": true, "Seconds": true, "Microseconds": true, "Milliseconds": true, "Bytes": true, "Count": true, "Percent": true, "None": true}
	for _, d := range aws.CloudWatchMetrics {
		if d.Namespace == nil || *d.Namespace == "" || len(*d.Namespace) > 1024 {
			return fmt.Errorf("bad Namespace")
		}
		for _, set := range d.Dimensions {
			if len(set) > 30 {
				return fmt.Errorf("dimension set over 30")
			}
			for _, name := range set {
				var v string
				if err := json.Unmarshal(root[name], &v); err != nil || v == "" {
					return fmt.Errorf("dimension %q is not a string member of the root", name)
				}
			}
		}
		if len(d.Metrics) == 0 || len(d.Metrics) > 100 {
			return fmt.Errorf("metrics count %d", len(d.Metrics))
		}
		for _, m := range d.Metrics {
			var f float64
			if err := json.Unmarshal(root[m.Name], &f); err != nil {
				var fs []float64
				if err := json.Unmarshal(root[m.Name], &fs); err != nil {
					return fmt.Errorf("metric %q is not a number member of the root", m.Name)
				}
			}
			if !units[m.Unit] {
				return fmt.Errorf("metric %q unit %q", m.Name, m.Unit)
			}
		}
	}
	return nil
}

func TestRecordWritesValidEMF(t *testing.T) {
	var buf bytes.Buffer
	e := &Emitter{W: &buf, Namespace: "CampusPay/Contracts", FunctionName: "contracts-prod",
		Now: func() time.Time { return time.UnixMilli(1_733_300_000_123) }}
	if err := e.Record(Invocation{RequestID: "r1", Outcome: "OK", Latency: 4200 * time.Microsecond, UpstreamTime: 2900 * time.Microsecond, Attempts: 1, Secret: "cache"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Record(Invocation{RequestID: "r2", Outcome: "UPSTREAM_UNAVAILABLE", Error: true, Attempts: 3, Secret: "fetch"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Record(Invocation{RequestID: "r3", Outcome: "INVALID_PARAMETER"}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines", len(lines))
	}
	want := []map[string]any{
		{"Outcome": "OK", "Errors": 0.0, "Latency": 4.2, "UpstreamLatency": 2.9, "SecretCacheHit": 1.0, "SecretCacheMiss": 0.0},
		{"Outcome": "UPSTREAM_UNAVAILABLE", "Errors": 1.0, "UpstreamAttempts": 3.0, "SecretCacheHit": 0.0, "SecretCacheMiss": 1.0},
		{"Outcome": "INVALID_PARAMETER", "Errors": 0.0, "SecretCacheHit": 0.0, "SecretCacheMiss": 0.0},
	}
	for i, l := range lines {
		if err := ValidateEMF([]byte(l)); err != nil {
			t.Errorf("line %d: %v\n%s", i, err, l)
		}
		var m map[string]any
		json.Unmarshal([]byte(l), &m)
		for k, v := range want[i] {
			if m[k] != v {
				t.Errorf("line %d: %s = %v, want %v", i, k, m[k], v)
			}
		}
		if m["level"] != "FATAL" || m["FunctionName"] != "contracts-prod" || m["Invocations"] != 1.0 {
			t.Errorf("line %d: %s", i, l)
		}
	}
	if !strings.Contains(lines[0], `"Timestamp":1733300000123`) || !strings.Contains(lines[0], `"Namespace":"CampusPay/Contracts"`) {
		t.Errorf("metadata: %s", lines[0])
	}
}

func TestValidateEMFRejects(t *testing.T) {
	for _, bad := range []string{
		`{}`,
		`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]}}`,
		`{"_aws":{"Timestamp":1.5,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[],"Metrics":[{"Name":"A"}]}]},"A":1}`,
		`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["D"]],"Metrics":[{"Name":"A"}]}]},"A":1}`,
		`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[],"Metrics":[{"Name":"A"}]}]},"A":"x"}`,
		`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[],"Metrics":[{"Name":"A","Unit":"Parsecs"}]}]},"A":1}`,
	} {
		if ValidateEMF([]byte(bad)) == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// referenceLine is the EMF line as encoding/json writes it from a struct,
// the form Record's hand-written line must equal.
type referenceLine struct {
	AWS struct {
		Timestamp         int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string     `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name string `json:"Name"`
				Unit string `json:"Unit"`
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	} `json:"_aws"`
	Level           string  `json:"level"`
	Message         string  `json:"message"`
	RequestID       string  `json:"requestId,omitempty"`
	FunctionName    string  `json:"FunctionName"`
	Outcome         string  `json:"Outcome"`
	Invocations     int     `json:"Invocations"`
	Errors          int     `json:"Errors"`
	Latency         float64 `json:"Latency"`
	UpstreamLatency float64 `json:"UpstreamLatency"`
	Attempts        int     `json:"UpstreamAttempts"`
	SecretCacheHit  int     `json:"SecretCacheHit"`
	SecretCacheMiss int     `json:"SecretCacheMiss"`
}

func reference(e *Emitter, inv Invocation, now time.Time) []byte {
	var l referenceLine
	l.AWS.Timestamp = now.UnixMilli()
	l.AWS.CloudWatchMetrics = make([]struct {
		Namespace  string     `json:"Namespace"`
		Dimensions [][]string `json:"Dimensions"`
		Metrics    []struct {
			Name string `json:"Name"`
			Unit string `json:"Unit"`
		} `json:"Metrics"`
	}, 1)
	d := &l.AWS.CloudWatchMetrics[0]
	d.Namespace = e.Namespace
	d.Dimensions = [][]string{{DimensionFunction}, {DimensionFunction, DimensionOutcome}}
	for _, m := range definitions {
		d.Metrics = append(d.Metrics, struct {
			Name string `json:"Name"`
			Unit string `json:"Unit"`
		}{m.Name, m.Unit})
	}
	l.Level, l.Message, l.RequestID = "FATAL", "metrics", inv.RequestID
	l.FunctionName, l.Outcome, l.Invocations = e.FunctionName, inv.Outcome, 1
	l.Errors = b2i(inv.Error)
	l.Latency, l.UpstreamLatency, l.Attempts = ms(inv.Latency), ms(inv.UpstreamTime), inv.Attempts
	switch inv.Secret {
	case "":
	case "cache", "limited":
		l.SecretCacheHit = 1
	default:
		l.SecretCacheMiss = 1
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&l); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// checkRecordAgainstEncodingJSON: Record writes, byte for byte, what
// encoding/json writes for the same line (HTML escaping off; for names
// with U+2028 or U+2029, which encoding/json always escapes, the same
// decoded values), and a valid EMF line.
func checkRecordAgainstEncodingJSON(t *testing.T, e *Emitter, inv Invocation) {
	t.Helper()
	now := time.UnixMilli(1_733_300_000_123)
	e.Now = func() time.Time { return now }
	var buf bytes.Buffer
	e.W = &buf
	if err := e.Record(inv); err != nil {
		t.Fatal(err)
	}
	got, want := buf.Bytes(), reference(e, inv, now)
	if !bytes.Equal(got, want) {
		var g, w any
		if json.Unmarshal(got, &g) != nil || json.Unmarshal(want, &w) != nil || fmt.Sprint(g) != fmt.Sprint(w) {
			t.Fatalf("Record wrote\n%s\nencoding/json writes\n%s", got, want)
		}
	}
	if err := ValidateEMF(bytes.TrimSuffix(got, []byte("\n"))); err != nil && e.Namespace != "" && e.FunctionName != "" && inv.Outcome != "" {
		t.Fatalf("invalid EMF: %v\n%s", err, got)
	}
}

func TestRecordIsEncodingJSONsLine(t *testing.T) {
	e := &Emitter{Namespace: "CampusPay/Contracts", FunctionName: "contracts-prod"}
	for _, inv := range []Invocation{
		{RequestID: "r1", Outcome: "OK", Latency: 4200 * time.Microsecond, UpstreamTime: 2900 * time.Microsecond, Attempts: 1, Secret: "cache"},
		{Outcome: "UPSTREAM_UNAVAILABLE", Error: true, Attempts: 3, Secret: "stale", Latency: 9 * time.Second},
		{RequestID: `a"b\c`, Outcome: "INVALID_PARAMETER", Secret: "limited"},
	} {
		checkRecordAgainstEncodingJSON(t, e, inv)
	}
	// Another namespace on the same Emitter renders its own directive.
	e.Namespace = "Other/Ns"
	checkRecordAgainstEncodingJSON(t, e, Invocation{Outcome: "OK"})
}

func FuzzRecord(f *testing.F) {
	f.Add("CampusPay/Contracts", "fn", "req", "OK", int64(4200), int64(2900), 1, "cache", false)
	f.Add("n<&>\u2028", "", "", "", int64(0), int64(-1), -5, "fetch", true)
	f.Fuzz(func(t *testing.T, namespace, function, requestID, outcome string, latencyUs, upstreamUs int64, attempts int, secret string, isErr bool) {
		e := &Emitter{Namespace: namespace, FunctionName: function}
		checkRecordAgainstEncodingJSON(t, e, Invocation{RequestID: requestID, Outcome: outcome,
			Latency: time.Duration(latencyUs) * time.Microsecond, UpstreamTime: time.Duration(upstreamUs) * time.Microsecond,
			Attempts: attempts, Secret: secret, Error: isErr})
	})
}
