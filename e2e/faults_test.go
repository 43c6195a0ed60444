package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/campuspay/contracts/internal/devkeys"
	"github.com/campuspay/contracts/internal/wechatpaysim"
)

const goodQuery = "plan_id=101164396123311331&contract_status=ADD&offset=0&limit=20"

// TestErrorTable drives every upstream row of the contract's error table
// through the emulator, with the simulator misbehaving.
func TestErrorTable(t *testing.T) {
	tests := []struct {
		name     string
		faults   []wechatpaysim.Fault
		status   int
		code     string
		upstream int // WeChat Pay's status in error.upstream; 0: no upstream object
		attempts int
	}{
		{"param error", []wechatpaysim.Fault{{Status: 400, Code: "PARAM_ERROR", Message: "plan_id invalid"}}, 400, "UPSTREAM_REJECTED", 400, 1},
		{"unsigned 404 from a gateway", []wechatpaysim.Fault{{Status: 404, Unsigned: true}}, 404, "UPSTREAM_REJECTED", 404, 1},
		{"rate limited after retries", []wechatpaysim.Fault{{Status: 429}, {Status: 429}, {Status: 429}}, 429, "RATE_LIMITED", 429, 3},
		{"5xx after retries", []wechatpaysim.Fault{{Status: 500}, {Status: 500}, {Status: 500}}, 503, "UPSTREAM_UNAVAILABLE", 500, 3},
		{"5xx then recovered", []wechatpaysim.Fault{{Status: 502, Unsigned: true}}, 200, "", 0, 2},
		{"bad signature", []wechatpaysim.Fault{{BadSignature: true}}, 502, "UPSTREAM_SIGNATURE_INVALID", 0, 1},
		{"stale timestamp", []wechatpaysim.Fault{{StaleTimestamp: true}}, 502, "UPSTREAM_SIGNATURE_INVALID", 0, 1},
		{"unknown serial", []wechatpaysim.Fault{{UnknownSerial: true}}, 502, "UPSTREAM_SIGNATURE_INVALID", 0, 1},
		{"signature-test probe", []wechatpaysim.Fault{{SignTestProbe: true}}, 502, "UPSTREAM_SIGNATURE_INVALID", 0, 1},
		{"unsigned 200", []wechatpaysim.Fault{{Unsigned: true}}, 502, "UPSTREAM_SIGNATURE_INVALID", 0, 1},
		{"signed but malformed JSON", []wechatpaysim.Fault{{Body: []byte(`{"data":[{`)}}, 503, "UPSTREAM_UNAVAILABLE", 0, 1},
		{"forged error answer", []wechatpaysim.Fault{{Status: 400, BadSignature: true}}, 502, "UPSTREAM_SIGNATURE_INVALID", 0, 1},
	}
	s := newStack(t, options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.sim.Reset()
			s.sim.Push(tt.faults...)
			a := s.callHTTP(httpV2(t, goodQuery))
			if got := len(s.sim.Requests()); got != tt.attempts {
				t.Errorf("WeChat Pay saw %d attempts; want %d", got, tt.attempts)
			}
			if tt.code == "" {
				if a.StatusCode != 200 {
					t.Fatalf("got %d %s", a.StatusCode, a.Body)
				}
				return
			}
			b := decodeError(t, a.Body)
			if a.StatusCode != tt.status || b.Error.Code != tt.code {
				t.Fatalf("got %d %s; want %d %s", a.StatusCode, a.Body, tt.status, tt.code)
			}
			if (b.Error.Upstream != nil) != (tt.upstream != 0) {
				t.Fatalf("upstream = %+v", b.Error.Upstream)
			}
			if tt.upstream != 0 && (b.Error.Upstream.Status != tt.upstream || b.Error.Upstream.Code == "" || b.Error.Upstream.RequestID == "") {
				t.Errorf("upstream = %+v", b.Error.Upstream)
			}
			if tt.code == "RATE_LIMITED" && a.Headers["Retry-After"] == "" {
				t.Error("RATE_LIMITED without Retry-After")
			}
			if tt.code == "UPSTREAM_SIGNATURE_INVALID" && strings.Contains(a.Body, "wxcontract") {
				t.Error("an unverified body was passed on")
			}
		})
	}
}

func TestDirectInvocationUpstreamError(t *testing.T) {
	s := newStack(t, options{})
	s.sim.Push(wechatpaysim.Fault{Status: 429}, wechatpaysim.Fault{Status: 429}, wechatpaysim.Fault{Status: 429})
	status, raw := s.call(fixture(t, "direct-flat.json"))
	var fe functionError
	if err := json.Unmarshal(raw, &fe); err != nil || status != 200 || fe.ErrorType != "RATE_LIMITED" || fe.ErrorMessage == "" {
		t.Fatalf("got %d %s", status, raw)
	}
}

func TestFailoverToBackup(t *testing.T) {
	s := newStack(t, options{backup: true})
	s.sim.Push(wechatpaysim.Fault{Status: 503})
	a := s.callHTTP(httpV2(t, goodQuery))
	if a.StatusCode != 200 {
		t.Fatalf("got %d %s", a.StatusCode, a.Body)
	}
	if len(s.sim.Requests()) != 1 || len(s.backup.Requests()) != 1 {
		t.Errorf("primary %d, backup %d requests", len(s.sim.Requests()), len(s.backup.Requests()))
	}

	// A dropped connection fails over too.
	s.sim.Reset()
	s.backup.Reset()
	s.sim.Push(wechatpaysim.Fault{DropConnection: true}, wechatpaysim.Fault{DropConnection: true})
	if a := s.callHTTP(httpV2(t, goodQuery)); a.StatusCode != 200 || len(s.backup.Requests()) == 0 {
		t.Fatalf("got %d %s; backup %d", a.StatusCode, a.Body, len(s.backup.Requests()))
	}

	// A 4xx is the caller's: no failover.
	s.sim.Reset()
	s.backup.Reset()
	s.sim.Push(wechatpaysim.Fault{Status: 400})
	if a := s.callHTTP(httpV2(t, goodQuery)); a.StatusCode != 400 || len(s.backup.Requests()) != 0 {
		t.Fatalf("got %d; backup %d", a.StatusCode, len(s.backup.Requests()))
	}
}

func TestDeadline(t *testing.T) {
	// A 2 s function whose upstream never answers in time: the caller gets
	// our 504, not a Lambda timeout.
	s := newStack(t, options{env: map[string]string{"AWS_LAMBDA_FUNCTION_TIMEOUT": "2", "UPSTREAM_TIMEOUT": "10s"}})
	s.sim.Push(wechatpaysim.Fault{Delay: 5 * time.Second})
	start := time.Now()
	a := s.callHTTP(httpV2(t, goodQuery))
	b := decodeError(t, a.Body)
	if a.StatusCode != http.StatusGatewayTimeout || b.Error.Code != "UPSTREAM_UNAVAILABLE" {
		t.Fatalf("got %d %s after %s", a.StatusCode, a.Body, time.Since(start))
	}
}

func TestUpstreamTimeoutRetries(t *testing.T) {
	s := newStack(t, options{env: map[string]string{"UPSTREAM_TIMEOUT": "300ms"}})
	s.sim.Push(wechatpaysim.Fault{Delay: 2 * time.Second})
	a := s.callHTTP(httpV2(t, goodQuery))
	if a.StatusCode != 200 || len(s.sim.Requests()) != 2 {
		t.Fatalf("got %d after %d attempts: %s", a.StatusCode, len(s.sim.Requests()), a.Body)
	}
}

func TestSecretProblems(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		s := newStack(t, options{noSecret: true})
		a := s.callHTTP(httpV2(t, goodQuery))
		b := decodeError(t, a.Body)
		if a.StatusCode != 500 || b.Error.Code != "CONFIGURATION_ERROR" || len(s.sim.Requests()) != 0 {
			t.Fatalf("got %d %s", a.StatusCode, a.Body)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		raw, _ := identity.SecretJSON(devkeys.ModePublicKey)
		var m map[string]any
		json.Unmarshal(raw, &m)
		delete(m, "mchid")
		broken, _ := json.Marshal(m)
		s := newStack(t, options{secretRaw: string(broken)})
		a := s.callHTTP(httpV2(t, goodQuery))
		b := decodeError(t, a.Body)
		if a.StatusCode != 500 || b.Error.Code != "CONFIGURATION_ERROR" || !strings.Contains(b.Error.Message, "mchid") {
			t.Fatalf("got %d %s", a.StatusCode, a.Body)
		}
		if strings.Contains(a.Body, "PRIVATE KEY") || strings.Contains(s.output.String(), "PRIVATE KEY") {
			t.Error("the key leaked into the answer or the log")
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		s := newStack(t, options{secretRaw: identity.MerchantKeyPEM})
		a := s.callHTTP(httpV2(t, goodQuery))
		if a.StatusCode != 500 || strings.Contains(a.Body, "PRIVATE") || strings.Contains(s.output.String(), "PRIVATE KEY") {
			t.Fatalf("got %d %s", a.StatusCode, a.Body)
		}
	})
	t.Run("Secrets Manager failing", func(t *testing.T) {
		s := newStack(t, options{})
		s.secrets.FailNext(10, "InternalServiceError", 500)
		a := s.callHTTP(httpV2(t, goodQuery))
		if b := decodeError(t, a.Body); a.StatusCode != 500 || b.Error.Code != "CONFIGURATION_ERROR" {
			t.Fatalf("got %d %s", a.StatusCode, a.Body)
		}
	})
	t.Run("misconfigured function", func(t *testing.T) {
		s := newStack(t, options{env: map[string]string{"WECHATPAY_BASE_URL": "http://api.mch.weixin.qq.com"}})
		a := s.callHTTP(httpV2(t, goodQuery))
		if b := decodeError(t, a.Body); a.StatusCode != 500 || b.Error.Code != "CONFIGURATION_ERROR" || len(s.sim.Requests()) != 0 {
			t.Fatalf("got %d %s", a.StatusCode, a.Body)
		}
		// Bad input is still the caller's error first.
		if a := s.callHTTP(httpV2(t, "plan_id=1")); a.StatusCode != 400 {
			t.Fatalf("got %d %s", a.StatusCode, a.Body)
		}
	})
}

// TestKeyRotation: WeChat Pay starts expecting a new merchant key; the first
// 401 makes the function fetch the rotated secret past its cache and retry.
func TestKeyRotation(t *testing.T) {
	s := newStack(t, options{})
	if a := s.callHTTP(httpV2(t, goodQuery)); a.StatusCode != 200 {
		t.Fatalf("before rotation: %d %s", a.StatusCode, a.Body)
	}
	// The merchant rotates its own key; WeChat Pay's keys stay.
	fresh, err := devkeys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	rotated := *identity
	rotated.MerchantKey, rotated.MerchantKeyPEM, rotated.MerchantSerialNo = fresh.MerchantKey, fresh.MerchantKeyPEM, fresh.MerchantSerialNo
	raw, _ := rotated.SecretJSON(devkeys.ModePublicKey)
	s.secrets.Put(secretName, string(raw))
	s.simHandler.Store(wechatpaysim.New(wechatpaysim.Config{Identity: &rotated, RequireSerialHeader: true}))
	calls := s.secrets.Calls()
	a := s.callHTTP(httpV2(t, goodQuery))
	if a.StatusCode != 200 || s.secrets.Calls() != calls+1 {
		t.Fatalf("after rotation: %d %s; %d secret fetches", a.StatusCode, a.Body, s.secrets.Calls()-calls)
	}

}

// TestPersistentAuthRefusal: one fresh fetch and one retry, then 502; a
// second refusal right after does not fetch the secret again.
func TestPersistentAuthRefusal(t *testing.T) {
	s := newStack(t, options{})
	fresh, err := devkeys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	expectsOther := *identity
	expectsOther.MerchantKey, expectsOther.MerchantKeyPEM = fresh.MerchantKey, fresh.MerchantKeyPEM
	sim := wechatpaysim.New(wechatpaysim.Config{Identity: &expectsOther, RequireSerialHeader: true})
	s.simHandler.Store(sim)

	a := s.callHTTP(httpV2(t, goodQuery))
	if b := decodeError(t, a.Body); a.StatusCode != 502 || b.Error.Code != "UPSTREAM_AUTH_FAILED" || b.Error.Upstream == nil || b.Error.Upstream.Status != 401 {
		t.Fatalf("got %d %s", a.StatusCode, a.Body)
	}
	if n := len(sim.Requests()); n != 2 {
		t.Errorf("%d upstream attempts; want 2 (one retry)", n)
	}
	if n := s.secrets.Calls(); n != 2 {
		t.Errorf("%d secret fetches; want 2 (the first and one fresh)", n)
	}
	s.callHTTP(httpV2(t, goodQuery))
	if n := s.secrets.Calls(); n != 2 {
		t.Errorf("a second refusal within the refresh interval fetched the secret again (%d fetches)", n)
	}
}

// TestStaleSecretServedWhenSecretsManagerFails: past the TTL, a failing
// Secrets Manager does not take the function down; the last good secret is
// used (for a bounded grace period) and a warning says so.
func TestStaleSecretServedWhenSecretsManagerFails(t *testing.T) {
	s := newStack(t, options{env: map[string]string{"SECRET_CACHE_TTL": "200ms"}})
	if a := s.callHTTP(httpV2(t, goodQuery)); a.StatusCode != 200 {
		t.Fatalf("%d %s", a.StatusCode, a.Body)
	}
	time.Sleep(300 * time.Millisecond)
	s.secrets.FailNext(10, "InternalServiceError", 500)
	if a := s.callHTTP(httpV2(t, goodQuery)); a.StatusCode != 200 {
		t.Fatalf("with Secrets Manager failing: %d %s", a.StatusCode, a.Body)
	}
	if out, ok := s.waitOutput(`"secret":"stale"`, "using the last good merchant secret"); !ok {
		t.Errorf("no stale-secret warning in the log:\n%s", out)
	}
}

func TestOversizedAnswerRefused(t *testing.T) {
	s := newStack(t, options{})
	huge := []byte(`{"data":[],"pad":"` + strings.Repeat("x", 2<<20) + `"}`)
	s.sim.Push(wechatpaysim.Fault{Body: huge})
	a := s.callHTTP(httpV2(t, goodQuery))
	if b := decodeError(t, a.Body); a.StatusCode != 503 || b.Error.Code != "UPSTREAM_UNAVAILABLE" {
		t.Fatalf("got %d %s", a.StatusCode, a.Body)
	}
}
