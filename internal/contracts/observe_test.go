package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/campuspay/contracts/internal/logging"
	"github.com/campuspay/contracts/internal/metrics"
	"github.com/campuspay/contracts/internal/secrets"
	"github.com/campuspay/contracts/internal/wechatpay"
)

// TestEveryOutcomeWritesOneSummaryAndOneMetricsLine captures what an
// invocation writes for success and for each code of the error table.
func TestEveryOutcomeWritesOneSummaryAndOneMetricsLine(t *testing.T) {
	good := v2Event("GET", "/users/oUpF8uMuAJOM2pxb1Q/contracts", "plan_id=p&contract_status=ADD")
	apiErr := func(status int) func() (*wechatpay.Response, error) {
		return fail(&wechatpay.APIError{Status: status, Code: "X", Message: "m", RequestID: "RID-9", Signed: true})
	}
	tests := []struct {
		name     string
		payload  []byte
		result   func() (*wechatpay.Response, error)
		secret   error
		outcome  string
		status   int
		upstream bool // the line names WeChat Pay's status and Request-ID
		isError  bool // counted by the error-rate alarm
	}{
		{"success", good, ok(upstreamTwo), nil, CodeOK, 200, true, false},
		{"invalid", v2Event("GET", "/users/oUpF8uMuAJOM2pxb1Q/contracts", "plan_id=p"), ok(upstreamTwo), nil, CodeInvalidParameter, 400, false, false},
		{"not found", v2Event("GET", "/x", ""), ok(upstreamTwo), nil, CodeNotFound, 404, false, false},
		{"method", v2Event("PUT", "/users/o/contracts", ""), ok(upstreamTwo), nil, CodeMethodNotAllowed, 405, false, false},
		{"rejected", good, apiErr(400), nil, CodeUpstreamRejected, 400, true, true},
		{"auth", good, apiErr(401), nil, CodeUpstreamAuthFailed, 502, true, true},
		{"rate", good, apiErr(429), nil, CodeRateLimited, 429, true, false},
		{"signature", good, fail(&wechatpay.SignatureError{Status: 200, RequestID: "RID-9", Reason: "bad"}), nil, CodeSignatureInvalid, 502, true, true},
		{"unavailable", good, apiErr(503), nil, CodeUpstreamUnavail, 503, true, true},
		{"configuration", good, ok(upstreamTwo), &secrets.Error{Reason: secrets.ReasonNotFound, Err: errors.New("gone")}, CodeConfiguration, 500, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(tt.result)
			var out bytes.Buffer
			r.svc.Log = logging.New(&out, slog.LevelInfo)
			r.svc.Metrics = &metrics.Emitter{W: &out, Namespace: "CampusPay/Contracts", FunctionName: "fn"}
			r.merchant.err = tt.secret
			r.invokeHTTP(t, tt.payload)

			var summaries, emf []map[string]any
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("not one JSON object a line: %q", line)
				}
				switch {
				case m["_aws"] != nil:
					emf = append(emf, m)
				case m["message"] == "invocation":
					summaries = append(summaries, m)
				}
			}
			if len(summaries) != 1 || len(emf) != 1 {
				t.Fatalf("%d summary and %d metrics lines:\n%s", len(summaries), len(emf), out.String())
			}
			s := summaries[0]
			for _, k := range []string{"requestId", "cold_start", "shape", "outcome", "status", "duration_ms"} {
				if _, ok := s[k]; !ok {
					t.Errorf("summary lacks %q: %v", k, s)
				}
			}
			if s["outcome"] != tt.outcome || s["status"] != float64(tt.status) || s["shape"] != "http" || s["requestId"] != "c6af9ac6-7b61-11e6-9a41-93e8deadbeef" {
				t.Errorf("summary %v", s)
			}
			if tt.upstream {
				for _, k := range []string{"upstream_status", "upstream_request_id", "attempts", "upstream_host", "upstream_ms", "secret"} {
					if _, ok := s[k]; !ok {
						t.Errorf("summary lacks %q: %v", k, s)
					}
				}
			}
			m := emf[0]
			if m["Outcome"] != tt.outcome || m["Errors"] != map[bool]float64{true: 1, false: 0}[tt.isError] || m["level"] != "FATAL" {
				t.Errorf("metrics line %v", m)
			}
			if strings.Contains(out.String(), "oUpF8uMuAJOM2pxb1Q") {
				t.Errorf("the full openid was written: %s", out.String())
			}
		})
	}
}

func TestWarningsAndDebugLines(t *testing.T) {
	good := v2Event("GET", "/users/o1/contracts", "plan_id=p&contract_status=ADD")
	run := func(level slog.Level, failedOver bool, result func() (*wechatpay.Response, error)) string {
		r := newRig(result)
		r.up.failedOver = failedOver
		var out bytes.Buffer
		r.svc.Log = logging.New(&out, level)
		r.invokeHTTP(t, good)
		return out.String()
	}
	if out := run(slog.LevelInfo, true, ok(upstreamTwo)); !strings.Contains(out, `"level":"WARN","message":"failed over to the backup WeChat Pay domain"`) {
		t.Errorf("no failover warning:\n%s", out)
	}
	if out := run(slog.LevelInfo, false, fail(&wechatpay.SignatureError{Reason: "stale"})); !strings.Contains(out, `"message":"refused a WeChat Pay answer that did not verify"`) {
		t.Errorf("no signature warning:\n%s", out)
	}
	if out := run(slog.LevelInfo, false, ok(upstreamTwo)); strings.Contains(out, "DEBUG") {
		t.Errorf("a debug line at info:\n%s", out)
	}
	if out := run(slog.LevelDebug, false, ok(upstreamTwo)); !strings.Contains(out, `"level":"DEBUG","message":"WeChat Pay answered"`) {
		t.Errorf("no debug line at debug:\n%s", out)
	}
}

func TestHostOf(t *testing.T) {
	for origin, want := range map[string]string{
		"https://api.mch.weixin.qq.com":   "api.mch.weixin.qq.com",
		"https://api2.mch.weixin.qq.com/": "api2.mch.weixin.qq.com",
		"http://127.0.0.1:8081":           "127.0.0.1:8081",
		"http://[::1]:8081/":              "[::1]:8081",
		"":                                "",
	} {
		if got := hostOf(origin); got != want {
			t.Errorf("hostOf(%q) = %q, want %q", origin, got, want)
		}
	}
}
