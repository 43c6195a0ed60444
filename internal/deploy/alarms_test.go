package deploy

import (
	"strings"
	"testing"

	"github.com/campuspay/contracts/internal/metrics"
)

var emitted = []string{metrics.MetricErrors, metrics.MetricLatency, metrics.MetricUpstreamLatency, metrics.MetricInvocations}

func TestAlarmsReadEmittedMetrics(t *testing.T) {
	tpl, err := Load("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if errs := CheckAlarms(tpl, "MetricsNamespace", emitted, metrics.DimensionFunction); len(errs) > 0 {
		t.Fatalf("%v", errs)
	}
	// A drifted metric name is caught.
	broken := tpl.Clone()
	broken.Section("Resources")["ErrorRateAlarm"].(map[string]any)["Properties"].(map[string]any)["MetricName"] = "ErrorCount"
	errs := CheckAlarms(broken, "MetricsNamespace", emitted, metrics.DimensionFunction)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "ErrorCount") {
		t.Errorf("drift not caught: %v", errs)
	}
}
