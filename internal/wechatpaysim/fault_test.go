package wechatpaysim_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/campuspay/contracts/internal/wechatpaysim"
)

func TestFaults(t *testing.T) {
	id := newIdentity(t)
	signedHeaders := []string{"Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial"}
	tests := []struct {
		name  string
		mode  wechatpaysim.SignMode
		fault wechatpaysim.Fault
		check func(t *testing.T, resp *http.Response, body []byte)
	}{
		{"500 with default code", 0, wechatpaysim.Fault{Status: 500}, func(t *testing.T, resp *http.Response, body []byte) {
			expectError(t, id, resp, body, 500, "SYSTEM_ERROR")
		}},
		{"429 FREQUENCY_LIMITED with a message", 0, wechatpaysim.Fault{Status: 429, Code: "FREQUENCY_LIMITED", Message: "slow down"}, func(t *testing.T, resp *http.Response, body []byte) {
			if e := expectError(t, id, resp, body, 429, "FREQUENCY_LIMITED"); e.Message != "slow down" {
				t.Errorf("message %q", e.Message)
			}
		}},
		{"404 RESOURCE_NOT_EXISTS by default", 0, wechatpaysim.Fault{Status: 404}, func(t *testing.T, resp *http.Response, body []byte) {
			expectError(t, id, resp, body, 404, "RESOURCE_NOT_EXISTS")
		}},
		{"403 NO_AUTH by default", 0, wechatpaysim.Fault{Status: 403}, func(t *testing.T, resp *http.Response, body []byte) {
			expectError(t, id, resp, body, 403, "NO_AUTH")
		}},
		{"unsigned 502", 0, wechatpaysim.Fault{Status: 502, Unsigned: true}, func(t *testing.T, resp *http.Response, body []byte) {
			if resp.StatusCode != 502 || resp.Header.Get("Request-ID") == "" {
				t.Errorf("status %d, Request-ID present %v", resp.StatusCode, resp.Header.Get("Request-ID") != "")
			}
			for _, h := range signedHeaders {
				if _, ok := resp.Header[h]; ok {
					t.Errorf("unsigned answer carries %s", h)
				}
			}
		}},
		{"unsigned 200", 0, wechatpaysim.Fault{Unsigned: true}, func(t *testing.T, resp *http.Response, body []byte) {
			if resp.StatusCode != 200 || resp.Header.Get("Wechatpay-Signature") != "" {
				t.Errorf("status %d, signature present %v", resp.StatusCode, resp.Header.Get("Wechatpay-Signature") != "")
			}
			decodePage(t, body)
		}},
		{"bad signature", 0, wechatpaysim.Fault{BadSignature: true}, func(t *testing.T, resp *http.Response, body []byte) {
			if _, err := verifyAnswer(id, resp.Header, body); err == nil || err.Error() != "signature does not verify" {
				t.Errorf("verification: %v, want a signature that does not verify", err)
			}
		}},
		{"stale timestamp", 0, wechatpaysim.Fault{StaleTimestamp: true}, func(t *testing.T, resp *http.Response, body []byte) {
			n, _ := strconv.ParseInt(resp.Header.Get("Wechatpay-Timestamp"), 10, 64)
			if age := time.Since(time.Unix(n, 0)); age < 9*time.Minute || age > 11*time.Minute {
				t.Errorf("timestamp is %s old, want 10 minutes", age.Round(time.Second))
			}
			if _, err := verifyAnswer(id, resp.Header, body); err == nil || err.Error() != "Wechatpay-Timestamp is stale" {
				t.Errorf("verification: %v, want stale", err)
			}
		}},
		{"unknown public key ID", wechatpaysim.SignPublicKey, wechatpaysim.Fault{UnknownSerial: true}, func(t *testing.T, resp *http.Response, body []byte) {
			if s := resp.Header.Get("Wechatpay-Serial"); s != wechatpaysim.UnknownPublicKeyID {
				t.Errorf("serial %q", s)
			}
			if _, err := verifyAnswer(id, resp.Header, body); err == nil {
				t.Error("answer with an unknown serial verified")
			}
		}},
		{"unknown certificate serial", wechatpaysim.SignCertificate, wechatpaysim.Fault{UnknownSerial: true}, func(t *testing.T, resp *http.Response, body []byte) {
			if s := resp.Header.Get("Wechatpay-Serial"); s != wechatpaysim.UnknownCertSerial {
				t.Errorf("serial %q", s)
			}
			if _, err := verifyAnswer(id, resp.Header, body); err == nil {
				t.Error("answer with an unknown serial verified")
			}
		}},
		{"signature test probe", 0, wechatpaysim.Fault{SignTestProbe: true}, func(t *testing.T, resp *http.Response, body []byte) {
			if !strings.HasPrefix(resp.Header.Get("Wechatpay-Signature"), "WECHATPAY/SIGNTEST/") {
				t.Error("signature does not start WECHATPAY/SIGNTEST/")
			}
			if resp.StatusCode != 200 || resp.Header.Get("Wechatpay-Serial") != id.PublicKeyID {
				t.Errorf("status %d; a probe should otherwise look like a normal answer", resp.StatusCode)
			}
		}},
		{"malformed body, signed", 0, wechatpaysim.Fault{Body: []byte(`{"data":[`)}, func(t *testing.T, resp *http.Response, body []byte) {
			if resp.StatusCode != 200 || string(body) != `{"data":[` {
				t.Errorf("status %d, body %q", resp.StatusCode, body)
			}
			mustVerify(t, id, resp, body)
		}},
		{"body and status", 0, wechatpaysim.Fault{Status: 503, Body: []byte("<html>busy</html>"), Unsigned: true}, func(t *testing.T, resp *http.Response, body []byte) {
			if resp.StatusCode != 503 || string(body) != "<html>busy</html>" || resp.Header.Get("Wechatpay-Signature") != "" {
				t.Errorf("status %d, body %q", resp.StatusCode, body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, id, wechatpaysim.Config{SignMode: tt.mode})
			f.sim.Push(tt.fault)
			resp, body := f.do(call{target: demoTarget})
			tt.check(t, resp, body)
			if f.sim.Pending() != 0 {
				t.Error("the fault was not taken")
			}
			reqs := f.sim.Requests()
			if len(reqs) != 1 || !reqs[0].Verified || reqs[0].Status != resp.StatusCode {
				t.Errorf("Requests(): %d records; want one, verified, with status %d", len(reqs), resp.StatusCode)
			}
			// The next request is answered normally.
			resp, body = f.do(call{target: demoTarget})
			if resp.StatusCode != 200 {
				t.Fatalf("after the fault: status %d (body %s)", resp.StatusCode, body)
			}
			mustVerify(t, id, resp, body)
		})
	}

	t.Run("a fault answers even a refused request, which is still recorded as refused", func(t *testing.T) {
		f := newFixture(t, id, wechatpaysim.Config{})
		f.sim.Push(wechatpaysim.Fault{Status: 500})
		resp, body := f.do(call{target: demoTarget, mchid: "1900000002"})
		expectError(t, id, resp, body, 500, "SYSTEM_ERROR")
		if r := f.sim.Requests(); len(r) != 1 || r[0].Verified {
			t.Error("the request is recorded as verified")
		}
	})
}

func TestDelayFault(t *testing.T) {
	id := newIdentity(t)
	f := newFixture(t, id, wechatpaysim.Config{})

	f.sim.Push(wechatpaysim.Fault{Delay: 150 * time.Millisecond})
	start := time.Now()
	resp, body := f.do(call{target: demoTarget})
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("answered after %s, want at least 150ms", took)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	mustVerify(t, id, resp, body) // signed when written, after the delay

	// A client that gives up is not kept waiting, and the server goes on.
	f.sim.Push(wechatpaysim.Fault{Delay: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err := f.client.Do(call{target: demoTarget}.build(t, f).WithContext(ctx))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("delayed request: %v, want the client's deadline", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("gave up after %s", took)
	}
	if resp, _ := f.do(call{target: demoTarget}); resp.StatusCode != 200 {
		t.Errorf("after a cancelled delay: status %d", resp.StatusCode)
	}
	if n := len(f.sim.Requests()); n != 3 {
		t.Errorf("%d requests recorded, want 3", n)
	}
}

func TestDropConnectionFault(t *testing.T) {
	id := newIdentity(t)
	f := newFixture(t, id, wechatpaysim.Config{})
	// Keep-alives off: net/http would resend a GET by itself on a reused
	// connection that closes, which would hide the drop.
	f.client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

	f.sim.Push(wechatpaysim.Fault{DropConnection: true})
	resp, err := f.client.Do(call{target: demoTarget}.build(t, f))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("dropped connection answered %d", resp.StatusCode)
	}
	if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
		t.Errorf("error %v, want the connection closed", err)
	}
	reqs := f.sim.Requests()
	if len(reqs) != 1 || reqs[0].Status != 0 || !reqs[0].Verified {
		t.Errorf("Requests(): %d records; want one verified with status 0", len(reqs))
	}
	if resp, _ := f.do(call{target: demoTarget}); resp.StatusCode != 200 {
		t.Errorf("after the drop: status %d", resp.StatusCode)
	}
}

func TestFaultQueueAndRecords(t *testing.T) {
	id := newIdentity(t)
	f := newFixture(t, id, wechatpaysim.Config{})
	f.sim.Push(wechatpaysim.Fault{Status: 500}, wechatpaysim.Fault{Status: 503})
	f.sim.Push(wechatpaysim.Fault{Status: 429})
	if n := f.sim.Pending(); n != 3 {
		t.Fatalf("Pending() = %d, want 3", n)
	}
	for _, want := range []int{500, 503, 429, 200, 200} {
		if resp, _ := f.do(call{target: demoTarget}); resp.StatusCode != want {
			t.Errorf("status %d, want %d", resp.StatusCode, want)
		}
	}
	reqs := f.sim.Requests()
	if len(reqs) != 5 {
		t.Fatalf("%d records, want 5", len(reqs))
	}
	for i, want := range []string{"SYSTEM_ERROR", "SYSTEM_ERROR", "FREQUENCY_LIMITED", "", ""} {
		if reqs[i].Code != want {
			t.Errorf("record %d: code %q, want %q", i, reqs[i].Code, want)
		}
	}
	if reqs[0].Header.Get("Authorization") == "" || reqs[0].Header.Get("User-Agent") != "wechatpaysim-test/1.0" {
		t.Error("records do not hold the request headers")
	}
	// Records are copies.
	reqs[0].Header.Del("User-Agent")
	if f.sim.Requests()[0].Header.Get("User-Agent") == "" {
		t.Error("changing a record changed the server's")
	}

	f.sim.Push(wechatpaysim.Fault{Status: 500})
	f.sim.Reset()
	if len(f.sim.Requests()) != 0 || f.sim.Pending() != 0 {
		t.Error("Reset kept records or faults")
	}
	if resp, _ := f.do(call{target: demoTarget}); resp.StatusCode != 200 {
		t.Errorf("after Reset: status %d", resp.StatusCode)
	}
}

// TestConcurrentUse is for the race detector: faults, sign modes and
// records used from many goroutines at once.
func TestConcurrentUse(t *testing.T) {
	id := newIdentity(t)
	f := newFixture(t, id, wechatpaysim.Config{SignMode: wechatpaysim.SignAlternate})
	const n = 16
	f.sim.Push(make([]wechatpaysim.Fault, n/2)...) // empty faults: normal answers
	var wg sync.WaitGroup
	for i := range n {
		req := call{target: demoTarget}.build(t, f) // built here: t.Fatal only on the test's goroutine
		wg.Go(func() {
			resp, err := f.client.Do(req)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("request %d: status %d", i, resp.StatusCode)
			}
			if _, err := verifyAnswer(id, resp.Header, body); err != nil {
				t.Errorf("request %d: %v", i, err)
			}
		})
		if i%4 == 0 {
			f.sim.SetSignMode(wechatpaysim.SignAlternate)
			_ = f.sim.Requests()
		}
	}
	wg.Wait()
	if got := len(f.sim.Requests()); got != n {
		t.Errorf("%d records, want %d", got, n)
	}
}

// TestReuseSignatures: with ReuseSignatures the same answer carries the same
// signature (still valid), and a fault never corrupts the kept one.
func TestReuseSignatures(t *testing.T) {
	id := newIdentity(t)
	f := newFixture(t, id, wechatpaysim.Config{Identity: id, ReuseSignatures: true})
	var sigs []string
	for range 2 {
		resp, body := f.do(call{target: demoTarget})
		mustVerify(t, id, resp, body)
		sigs = append(sigs, resp.Header.Get("Wechatpay-Signature"))
	}
	if sigs[0] != sigs[1] {
		t.Error("the same answer was signed twice")
	}
	f.sim.Push(wechatpaysim.Fault{BadSignature: true})
	resp, body := f.do(call{target: demoTarget})
	if _, err := verifyAnswer(id, resp.Header, body); err == nil {
		t.Error("BadSignature verified")
	}
	resp, body = f.do(call{target: demoTarget})
	mustVerify(t, id, resp, body)
}
