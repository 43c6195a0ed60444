// Package e2e runs the real bootstrap under the real Lambda runtime
// interface emulator (the one inside SAM's containers), against the WeChat
// Pay simulator and the local Secrets Manager endpoint, all on 127.0.0.1.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/campuspay/contracts/internal/config"
	"github.com/campuspay/contracts/internal/devkeys"
	"github.com/campuspay/contracts/internal/emulator"
	"github.com/campuspay/contracts/internal/secretsmanagerlocal"
	"github.com/campuspay/contracts/internal/wechatpaysim"
)

// Built once per test binary, in TestMain.
var (
	bootstrapPath string
	riePath       string
	identity      *devkeys.Identity
	// allOutput collects every emulator's output, for the secret scan.
	allOutput = &emulator.Buffer{}
)

const secretName = "campuspay/merchant"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		ctx := context.Background()
		build := emulator.Builder{Dir: ".."}
		// The bootstrap is built exactly as for Lambda (for this machine's
		// architecture, so the emulator can run it).
		// E2E_BOOTSTRAP runs the suite against a bootstrap built elsewhere
		// (make build CRYPTO=boring, say) instead of building one.
		if prebuilt := os.Getenv("E2E_BOOTSTRAP"); prebuilt != "" {
			bootstrapPath = prebuilt
		} else if bootstrapPath, err = build.Bootstrap(ctx, "./functions/contracts", dir); err != nil {
			fmt.Fprintln(os.Stderr, "build bootstrap:", err)
			return 1
		}
		if riePath, err = build.Emulator(ctx, dir); err != nil {
			fmt.Fprintln(os.Stderr, "build the runtime interface emulator:", err)
			return 1
		}
		if identity, err = devkeys.Generate(); err != nil {
			fmt.Fprintln(os.Stderr, "generate keys:", err)
			return 1
		}
		code := m.Run()
		if leaks := scanForSecrets(allOutput.String()); len(leaks) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: the function's output holds secret material: %s\n", strings.Join(leaks, ", "))
			return 1
		}
		return code
	}()
	os.Exit(code)
}

// stack is one function under the emulator with its own upstreams.
type stack struct {
	t      *testing.T
	sim    *wechatpaysim.Server
	simURL string
	// simHandler serves simURL; swapping it stands for WeChat Pay
	// starting to expect a rotated merchant key.
	simHandler atomic.Pointer[wechatpaysim.Server]
	backup     *wechatpaysim.Server // nil unless asked for
	secrets    *secretsmanagerlocal.Server
	invoke     string // the emulator's invoke URL
	output     *emulator.Buffer
}

type options struct {
	mode      devkeys.Mode
	signMode  wechatpaysim.SignMode
	backup    bool
	env       map[string]string
	noSecret  bool
	secretRaw string // SecretString to store instead of the generated one
}

func newStack(t *testing.T, o options) *stack {
	t.Helper()
	if o.mode == "" {
		o.mode = devkeys.ModePublicKey
	}
	s := &stack{t: t, output: &emulator.Buffer{}}
	s.sim = wechatpaysim.New(wechatpaysim.Config{Identity: identity, SignMode: o.signMode,
		RequireSerialHeader: o.mode == devkeys.ModePublicKey || o.mode == devkeys.ModeMigration})
	s.simHandler.Store(s.sim)
	simSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.simHandler.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(simSrv.Close)
	s.simURL = simSrv.URL
	backupURL := "off"
	if o.backup {
		s.backup = wechatpaysim.New(wechatpaysim.Config{Identity: identity, SignMode: o.signMode,
			RequireSerialHeader: o.mode == devkeys.ModePublicKey || o.mode == devkeys.ModeMigration})
		b := httptest.NewServer(s.backup)
		t.Cleanup(b.Close)
		backupURL = b.URL
	}
	s.secrets = secretsmanagerlocal.New()
	smSrv := httptest.NewServer(s.secrets)
	t.Cleanup(smSrv.Close)
	if !o.noSecret {
		value := o.secretRaw
		if value == "" {
			raw, err := identity.SecretJSON(o.mode)
			if err != nil {
				t.Fatal(err)
			}
			value = string(raw)
		}
		s.secrets.Put(secretName, value)
	}
	env := map[string]string{
		"WECHATPAY_SECRET_ID":              secretName,
		"WECHATPAY_BASE_URL":               s.simURL,
		"WECHATPAY_BACKUP_BASE_URL":        backupURL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": smSrv.URL,
		"AWS_REGION":                       "us-east-1",
		"AWS_ACCESS_KEY_ID":                "AKIDLOCALTEST",
		"AWS_SECRET_ACCESS_KEY":            "local-test-secret",
		"AWS_EC2_METADATA_DISABLED":        "true",
		"AWS_LAMBDA_FUNCTION_TIMEOUT":      "10",
		"LOG_LEVEL":                        "info",
	}
	for k, v := range o.env {
		env[k] = v
	}
	s.start(env)
	return s
}

// start runs the emulator with the bootstrap, on loopback ports of its own,
// and stops it (and the function) when the test ends.
func (s *stack) start(env map[string]string) {
	t := s.t
	procEnv := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, config.GoRuntimeEnv...)
	for k, v := range env {
		procEnv = append(procEnv, k+"="+v)
	}
	p, err := emulator.Start(context.Background(), emulator.Config{
		Emulator:  riePath,
		Bootstrap: bootstrapPath,
		Env:       procEnv,
		Output:    io.MultiWriter(s.output, allOutput),
	})
	if err != nil {
		t.Fatalf("%v:\n%s", err, s.output.String())
	}
	t.Cleanup(func() {
		s.recordSignatures()
		if err := p.Stop(); err != nil {
			t.Log(err)
		}
		if t.Failed() {
			t.Logf("emulator output:\n%s", s.output.String())
		}
	})
	s.invoke = p.InvokeURL()
}

// call invokes the function with payload and returns the emulator's status
// and the raw answer.
func (s *stack) call(payload []byte) (int, []byte) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.invoke, bytes.NewReader(payload))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("invoke: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.StatusCode, body
}

// httpAnswer is a proxy answer (REST v1, HTTP API v2 and Function URLs).
type httpAnswer struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

// callHTTP invokes with a proxy event and decodes the proxy answer.
func (s *stack) callHTTP(payload []byte) httpAnswer {
	s.t.Helper()
	status, raw := s.call(payload)
	if status != http.StatusOK {
		s.t.Fatalf("emulator status %d: %s", status, raw)
	}
	var a httpAnswer
	if err := json.Unmarshal(raw, &a); err != nil || a.StatusCode == 0 {
		s.t.Fatalf("not a proxy answer: %s", raw)
	}
	return a
}

// functionError is how the runtime reports a direct invocation's error.
type functionError struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

// errorBody is the contract's error body.
type errorBody struct {
	Error struct {
		Code     string `json:"code"`
		Message  string `json:"message"`
		Field    string `json:"field"`
		Upstream *struct {
			Status    int    `json:"status"`
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"upstream"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

func decodeError(t *testing.T, body string) errorBody {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal([]byte(body), &b); err != nil || b.Error.Code == "" {
		t.Fatalf("not an error body: %s", body)
	}
	return b
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func direct(openid string, q map[string]any) []byte {
	m := map[string]any{"openid": openid}
	for k, v := range q {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

// httpV2 makes an HTTP API v2 event from the fixture with another query.
func httpV2(t *testing.T, rawQuery string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixture(t, "http-v2.json"), &m); err != nil {
		t.Fatal(err)
	}
	m["rawQueryString"] = rawQuery
	delete(m, "queryStringParameters")
	b, _ := json.Marshal(m)
	return b
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// signatures holds every request signature the simulators saw, so the scan
// can look for them in the output.
var signatures struct {
	mu  sync.Mutex
	all []string
}

var signatureRE = regexp.MustCompile(`signature="([^"]+)"`)

func (s *stack) recordSignatures() {
	signatures.mu.Lock()
	defer signatures.mu.Unlock()
	for _, sim := range []*wechatpaysim.Server{s.sim, s.backup, s.simHandler.Load()} {
		if sim == nil {
			continue
		}
		for _, r := range sim.Requests() {
			if m := signatureRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
				signatures.all = append(signatures.all, m[1])
			}
		}
	}
}

// scanForSecrets lists what secret material out holds: any line of the
// merchant private key's body, the APIv3 key, a request signature, or an
// Authorization header.
func scanForSecrets(out string) []string {
	var leaks []string
	for _, line := range strings.Split(identity.MerchantKeyPEM, "\n") {
		if len(line) > 16 && !strings.HasPrefix(line, "-----") && strings.Contains(out, line) {
			leaks = append(leaks, "a line of the private key")
			break
		}
	}
	if strings.Contains(out, "PRIVATE KEY") {
		leaks = append(leaks, "a PEM private key header")
	}
	if strings.Contains(out, identity.APIv3Key) {
		leaks = append(leaks, "the APIv3 key")
	}
	if strings.Contains(out, wechatpaysim.DemoOpenID) {
		leaks = append(leaks, "a full openid")
	}
	if strings.Contains(out, "WECHATPAY2-SHA256-RSA2048") {
		leaks = append(leaks, "an Authorization header")
	}
	signatures.mu.Lock()
	defer signatures.mu.Unlock()
	if len(signatures.all) == 0 {
		leaks = append(leaks, "(no signature was recorded: the scan would prove nothing)")
	}
	for _, sig := range signatures.all {
		if strings.Contains(out, sig) || strings.Contains(out, sig[:24]) {
			leaks = append(leaks, "a request signature")
			break
		}
	}
	return leaks
}

func TestSecretScanFindsPlantedSecrets(t *testing.T) {
	planted := "log line " + identity.APIv3Key + " " + strings.Split(identity.MerchantKeyPEM, "\n")[2]
	if got := scanForSecrets(planted); len(got) < 2 {
		t.Errorf("the scan missed planted secrets: %v", got)
	}
}

// waitOutput waits (at most 5 s) until the function's output holds every one
// of subs: its log lines reach us through the emulator's pipe, after the
// answer. It returns the output and whether all were found.
func (s *stack) waitOutput(subs ...string) (string, bool) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := s.output.String()
		if contains(out, subs...) {
			return out, true
		}
		if time.Now().After(deadline) {
			return out, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
