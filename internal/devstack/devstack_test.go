package devstack

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/campuspay/contracts/internal/devkeys"
	"github.com/campuspay/contracts/internal/emulator"
	"github.com/campuspay/contracts/internal/wechatpaysim"
)

// These tests never print keys: on failure they show the function's log
// lines, which by the contract hold none, and answers from the simulator's
// seeded data.

// moduleDir is the repository root, where the builds run.
const moduleDir = "../.."

// loopback0 is every address of a test stack: a free loopback port.
const loopback0 = "127.0.0.1:0"

// newTestStack is a Stack on free ports, with its keys in keysDir and its
// binaries in binDir, its output in out.
func newTestStack(mode devkeys.Mode, keysDir, binDir string, out *emulator.Buffer) *Stack {
	return &Stack{
		Mode:           mode,
		Addr:           loopback0,
		WeChatPayAddr:  loopback0,
		SecretsAddr:    loopback0,
		EmulatorAddr:   loopback0,
		RuntimeAPIAddr: loopback0,
		KeysDir:        keysDir,
		BinDir:         binDir,
		ModuleDir:      moduleDir,
		Stdout:         out,
		Log:            out,
	}
}

// page is the part of a success answer the tests look at.
type page struct {
	Data []struct {
		ContractID     string `json:"contract_id"`
		OpenID         string `json:"openid"`
		ContractStatus string `json:"contract_status"`
	} `json:"data"`
	Offset     int  `json:"offset"`
	Limit      int  `json:"limit"`
	TotalCount int  `json:"total_count"`
	HasMore    bool `json:"has_more"`
	NextOffset *int `json:"next_offset"`
}

// errorAnswer is the contract's error body.
type errorAnswer struct {
	Error struct {
		Code  string `json:"code"`
		Field string `json:"field"`
	} `json:"error"`
}

// get sends one curl-equivalent request through the local API, bounded.
func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func TestStackServesSignedContracts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bootstrap and the emulator, and runs them")
	}
	if err := emulator.CheckPlatform(); err != nil {
		t.Skip(err)
	}
	keysDir, binDir := t.TempDir(), t.TempDir()
	id, _, err := devkeys.LoadOrGenerate(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	// Build once for every mode.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var buildOut emulator.Buffer
	if err := (&Stack{BinDir: binDir, ModuleDir: moduleDir, Log: &buildOut}).Build(ctx); err != nil {
		t.Fatalf("%v\n%s", err, buildOut.String())
	}

	for _, mode := range []devkeys.Mode{devkeys.ModePublicKey, devkeys.ModeCertificates, devkeys.ModeAPIv3Key, devkeys.ModeMigration} {
		t.Run(string(mode), func(t *testing.T) {
			out := &emulator.Buffer{}
			s := newTestStack(mode, keysDir, binDir, out)
			s.SkipBuild = true
			t.Cleanup(s.Stop) // also after a failed Start or a t.Fatal
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("stack output:\n%s", out.String())
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
			e := s.Endpoints()
			base := e.APIURL() + "/users/" + wechatpaysim.DemoOpenID + "/contracts?plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ALL"

			status, body := get(t, base)
			first := checkPage(t, "first page", status, body, 0)
			if first.Data[0].ContractID != "wxcontract0001" {
				t.Errorf("first page starts at %s, want wxcontract0001", first.Data[0].ContractID)
			}

			status, body = get(t, base+"&offset=20")
			second := checkPage(t, "second page", status, body, 20)
			if second.Data[0].ContractID != "wxcontract0021" {
				t.Errorf("second page starts at %s, want wxcontract0021", second.Data[0].ContractID)
			}

			status, body = get(t, base+"&limit=41")
			var ea errorAnswer
			if err := json.Unmarshal(body, &ea); err != nil || status != http.StatusBadRequest ||
				ea.Error.Code != "INVALID_PARAMETER" || ea.Error.Field != "limit" {
				t.Errorf("limit=41: %d %s, want 400 INVALID_PARAMETER field limit", status, body)
			}

			// Both good requests were answered from signed, verified data:
			// the function's summary lines say so. They reach us through
			// the emulator's pipe after the answers: wait for them (bounded).
			got := outcomes(out.String())
			for deadline := time.Now().Add(5 * time.Second); len(got) < 3 && time.Now().Before(deadline); got = outcomes(out.String()) {
				time.Sleep(10 * time.Millisecond)
			}
			if !slices.Equal(got, []string{"OK", "OK", "INVALID_PARAMETER"}) {
				t.Errorf("the function's invocation lines have outcomes %q, want OK, OK, INVALID_PARAMETER", got)
			}
			noSecrets(t, out.String(), id)

			pid := s.EmulatorPID()
			if pid == 0 {
				t.Fatal("no emulator pid")
			}
			children := s.rie.BootstrapPIDs()
			if len(children) == 0 && runtime.GOOS == "linux" {
				t.Error("no function process found under the emulator after three requests")
			}
			s.Stop()
			if emulator.Alive(pid) {
				t.Errorf("the emulator (pid %d) is still there after Stop", pid)
			}
			for _, c := range children {
				if emulator.Alive(c) {
					t.Errorf("the function (pid %d) is still there after Stop", c)
				}
			}
			for name, addr := range map[string]string{"local API": e.API, "emulator": e.Emulator, "simulator": e.WeChatPay, "secrets": e.Secrets} {
				if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
					c.Close()
					t.Errorf("the %s still accepts connections on %s after Stop", name, addr)
				}
			}
		})
	}

	// A piece that stops on its own closes Done, so that `make run` exits
	// non-zero instead of serving 502s.
	t.Run("emulator dies", func(t *testing.T) {
		out := &emulator.Buffer{}
		s := newTestStack(devkeys.ModePublicKey, keysDir, binDir, out)
		s.SkipBuild = true
		t.Cleanup(s.Stop)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if p, err := os.FindProcess(s.EmulatorPID()); err != nil || p.Kill() != nil {
			t.Fatalf("cannot kill the emulator (pid %d)", s.EmulatorPID())
		}
		select {
		case <-s.Done():
			if err := s.Err(); err == nil || !strings.Contains(err.Error(), "emulator exited") {
				t.Errorf("Err = %v, want the emulator's exit", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Done not closed 10s after the emulator was killed")
		}
		s.Stop()
		if emulator.Alive(s.EmulatorPID()) {
			t.Error("the emulator is still there")
		}
	})
}

// checkPage checks a 200 page of the demo user's 45 contracts at offset.
func checkPage(t *testing.T, what string, status int, body []byte, offset int) page {
	t.Helper()
	var p page
	if status != http.StatusOK {
		t.Fatalf("%s: status %d: %s", what, status, body)
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("%s: %v: %s", what, err, body)
	}
	if len(p.Data) != 20 || p.TotalCount != 45 || p.Offset != offset || p.Limit != 20 || !p.HasMore ||
		p.NextOffset == nil || *p.NextOffset != offset+20 {
		t.Fatalf("%s: %d items, total_count %d, offset %d, limit %d, has_more %v, next_offset %v; want 20 items of 45 at offset %d",
			what, len(p.Data), p.TotalCount, p.Offset, p.Limit, p.HasMore, p.NextOffset, offset)
	}
	for _, c := range p.Data {
		if c.OpenID != wechatpaysim.DemoOpenID {
			t.Fatalf("%s: an item of openid %q", what, c.OpenID)
		}
	}
	return p
}

// outcomes are the outcome fields of the function's summary log lines
// (message "invocation"), in order; other output is skipped.
func outcomes(out string) []string {
	var got []string
	for line := range strings.Lines(out) {
		var l struct{ Message, Outcome string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Message == "invocation" {
			got = append(got, l.Outcome)
		}
	}
	return got
}

// noSecrets fails if the output holds key material. It names what leaked,
// never the value.
func noSecrets(t *testing.T, out string, id *devkeys.Identity) {
	t.Helper()
	if strings.Contains(out, "PRIVATE KEY") {
		t.Error("the output holds a PEM private key")
	}
	if strings.Contains(out, id.APIv3Key) {
		t.Error("the output holds the APIv3 key")
	}
	if strings.Contains(out, "WECHATPAY2-SHA256-RSA2048 ") {
		t.Error("the output holds an Authorization header")
	}
}

func TestStartFailsOnBusyPort(t *testing.T) {
	if err := emulator.CheckPlatform(); err != nil {
		t.Skip(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	keysDir := t.TempDir() // one identity for every subtest: generating it is the slow part

	for _, tc := range []struct {
		flag string
		set  func(*Stack)
	}{
		{"-addr", func(s *Stack) { s.Addr = busy.Addr().String() }},
		{"-wechatpay-addr", func(s *Stack) { s.WeChatPayAddr = busy.Addr().String() }},
		{"-secrets-addr", func(s *Stack) { s.SecretsAddr = busy.Addr().String() }},
		{"-emulator-addr", func(s *Stack) { s.EmulatorAddr = busy.Addr().String() }},
		{"-runtime-api-addr", func(s *Stack) { s.RuntimeAPIAddr = busy.Addr().String() }},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			out := &emulator.Buffer{}
			s := newTestStack(devkeys.ModePublicKey, keysDir, filepath.Join(t.TempDir(), "bin"), out)
			tc.set(s)
			t.Cleanup(s.Stop)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := s.Start(ctx)
			if err == nil {
				t.Fatal("Start succeeded on a busy port")
			}
			if msg := err.Error(); !strings.Contains(msg, busy.Addr().String()) || !strings.Contains(msg, tc.flag) {
				t.Errorf("error %q does not name the busy address and %s", msg, tc.flag)
			}
			if s.EmulatorPID() != 0 {
				t.Error("the emulator was started although a port was busy")
			}
			// What had started is stopped: the ports taken before the busy
			// one are free again.
			for _, addr := range []string{s.Endpoints().WeChatPay, s.Endpoints().Secrets, s.Endpoints().API} {
				if addr == "" {
					continue
				}
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Errorf("%s is still taken after the failed Start: %v", addr, err)
					continue
				}
				ln.Close()
			}
			select {
			case <-s.Done():
				t.Errorf("Done closed by a requested stop: %v", s.Err())
			default:
			}
		})
	}
}

func TestStartRefusesBadConfiguration(t *testing.T) {
	for name, s := range map[string]*Stack{
		"unknown mode":       {Mode: "pubkey"},
		"non-loopback API":   {Mode: devkeys.ModePublicKey, Addr: "0.0.0.0:3000"},
		"hostname simulator": {Mode: devkeys.ModePublicKey, WeChatPayAddr: "example.com:8081"},
		"no port":            {Mode: devkeys.ModePublicKey, SecretsAddr: "127.0.0.1"},
	} {
		t.Run(name, func(t *testing.T) {
			s.KeysDir, s.BinDir = filepath.Join(t.TempDir(), "keys"), t.TempDir()
			t.Cleanup(s.Stop)
			err := s.Start(context.Background())
			if err == nil {
				t.Fatal("Start succeeded")
			}
			if s.id != nil {
				t.Errorf("keys were loaded before the configuration was checked (error %v)", err)
			}
		})
	}
	var s Stack
	s.Stop() // a Stack never started stops without panicking
	s.Stop()
	if err := s.Err(); err != nil {
		t.Errorf("Err after Stop = %v", err)
	}
	if s.Start(context.Background()) == nil {
		t.Error("Start after Stop succeeded")
	}
}
