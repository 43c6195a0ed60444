package wechatpaysim_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/campuspay/contracts/internal/wechatpaysim"
)

func TestAcceptsSignedRequestAndSignsAnswer(t *testing.T) {
	f := newFixture(t, newIdentity(t), wechatpaysim.Config{})
	resp, body := f.do(call{target: demoTarget})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200 (body %s)", resp.StatusCode, body)
	}
	if serial := mustVerify(t, f.id, resp, body); serial != f.id.PublicKeyID {
		t.Errorf("Wechatpay-Serial %q, want the public key ID", serial)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if resp.Header.Get("Request-ID") == "" {
		t.Error("no Request-ID")
	}

	p := decodePage(t, body)
	want := f.sim.Contracts(wechatpaysim.DemoOpenID, wechatpaysim.DemoPlanID)
	if len(want) != 45 {
		t.Fatalf("seed has %d contracts for the demo user and plan, want 45", len(want))
	}
	if !reflect.DeepEqual(p.Data, want[:20]) || p.Offset != 0 || p.Limit != 20 || p.TotalCount != 45 {
		t.Errorf("page offset=%d limit=%d total=%d, %d items; want the first 20 of 45 seeded",
			p.Offset, p.Limit, p.TotalCount, len(p.Data))
	}
	if p.Links.Self != demoTarget || p.Links.Prev != "" ||
		p.Links.Next != strings.Replace(demoTarget, "offset=0", "offset=20", 1) {
		t.Errorf("links %+v", p.Links)
	}
	if strings.Contains(string(body), `\u0026`) {
		t.Error("links have & escaped as \\u0026, which WeChat Pay does not do")
	}

	reqs := f.sim.Requests()
	if len(reqs) != 1 || !reqs[0].Verified || reqs[0].Status != 200 || reqs[0].Code != "" ||
		reqs[0].Method != "GET" || reqs[0].RequestURI != demoTarget {
		t.Errorf("Requests() = %d records; first verified=%v status=%d code=%q", len(reqs), reqs[0].Verified, reqs[0].Status, reqs[0].Code)
	}
}

func TestRefusesBadAuthorization(t *testing.T) {
	f := newFixture(t, newIdentity(t), wechatpaysim.Config{})
	other := newIdentity(t)
	now := time.Now()
	ts := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	good := func(edit func(p map[string]string)) string {
		// A well-signed header, then edited.
		nonce, stamp := randomNonce(), ts(0)
		p := map[string]string{
			"mchid": f.id.MchID, "nonce_str": nonce, "timestamp": stamp, "serial_no": f.id.MerchantSerialNo,
			"signature": sign(t, f.id.MerchantKey, "GET", demoTarget, stamp, nonce, ""),
		}
		edit(p)
		return `WECHATPAY2-SHA256-RSA2048 mchid="` + p["mchid"] + `",nonce_str="` + p["nonce_str"] +
			`",signature="` + p["signature"] + `",timestamp="` + p["timestamp"] + `",serial_no="` + p["serial_no"] + `"`
	}
	tests := []struct {
		name string
		call call
	}{
		{"signed with another key", call{key: other.MerchantKey}},
		{"timestamp 6 minutes old", call{timestamp: ts(-6 * time.Minute)}},
		{"timestamp 6 minutes ahead", call{timestamp: ts(6 * time.Minute)}},
		{"timestamp in milliseconds", call{timestamp: strconv.FormatInt(now.UnixMilli(), 10)}},
		{"timestamp not a number", call{timestamp: "soon"}},
		{"wrong serial_no", call{serial: other.MerchantSerialNo}},
		{"lower-case serial_no", call{serial: strings.ToLower(f.id.MerchantSerialNo)}},
		{"wrong mchid", call{mchid: "1900000002"}},
		{"tampered query", call{signTarget: strings.Replace(demoTarget, "limit=20", "limit=10", 1)}},
		{"signed over the path only", call{signTarget: strings.SplitN(demoTarget, "?", 2)[0]}},
		{"signed over a re-encoded query", call{
			target:     "/v3/eduschoolpay/users/" + wechatpaysim.DemoOpenID + "/contracts?plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=%41LL",
			signTarget: "/v3/eduschoolpay/users/" + wechatpaysim.DemoOpenID + "/contracts?plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ALL",
		}},
		{"no Authorization", call{noAuth: true}},
		{"wrong scheme", call{authorization: strings.Replace(good(func(map[string]string) {}), "WECHATPAY2-SHA256-RSA2048", "Bearer", 1)}},
		{"scheme in lower case", call{authorization: strings.Replace(good(func(map[string]string) {}), "WECHATPAY2-SHA256-RSA2048", "wechatpay2-sha256-rsa2048", 1)}},
		{"missing nonce_str", call{authorization: strings.Replace(good(func(map[string]string) {}), "nonce_str=", "nonce=", 1)}},
		{"empty nonce_str", call{authorization: good(func(p map[string]string) { p["nonce_str"] = "" })}},
		{"unquoted value", call{authorization: strings.Replace(good(func(p map[string]string) { p["mchid"] = "MCHID" }), `"MCHID"`, f.id.MchID, 1)}},
		{"duplicated parameter", call{authorization: good(func(map[string]string) {}) + `,mchid="` + f.id.MchID + `"`}},
		{"unknown parameter", call{authorization: good(func(map[string]string) {}) + `,extra="1"`}},
		{"trailing comma", call{authorization: good(func(map[string]string) {}) + `,`}},
		{"signature not base64", call{authorization: good(func(p map[string]string) { p["signature"] = "not*base64" })}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.sim.Reset()
			c := tt.call
			if c.target == "" {
				c.target = demoTarget
			}
			resp, body := f.do(c)
			expectError(t, f.id, resp, body, http.StatusUnauthorized, "SIGN_ERROR")
			if reqs := f.sim.Requests(); len(reqs) != 1 || reqs[0].Verified {
				t.Errorf("Requests() = %d records, want one not verified", len(reqs))
			}
		})
	}

	t.Run("spaces after commas are allowed", func(t *testing.T) {
		resp, body := f.do(call{target: demoTarget, authorization: strings.ReplaceAll(good(func(map[string]string) {}), `",`, `", `)})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d (body %s)", resp.StatusCode, body)
		}
	})
	t.Run("parameters in another order", func(t *testing.T) {
		auth := good(func(map[string]string) {})
		params := strings.Split(strings.TrimPrefix(auth, "WECHATPAY2-SHA256-RSA2048 "), ",")
		for i, j := 0, len(params)-1; i < j; i, j = i+1, j-1 {
			params[i], params[j] = params[j], params[i]
		}
		resp, body := f.do(call{target: demoTarget, authorization: "WECHATPAY2-SHA256-RSA2048 " + strings.Join(params, ",")})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d (body %s)", resp.StatusCode, body)
		}
	})
	t.Run("timestamp 4 minutes off either way", func(t *testing.T) {
		for _, d := range []time.Duration{-4 * time.Minute, 4 * time.Minute} {
			if resp, body := f.do(call{target: demoTarget, timestamp: ts(d)}); resp.StatusCode != http.StatusOK {
				t.Errorf("offset %s: status %d (body %s)", d, resp.StatusCode, body)
			}
		}
	})
}

func TestRefusesReplayedNonce(t *testing.T) {
	f := newFixture(t, newIdentity(t), wechatpaysim.Config{})
	c := call{target: demoTarget, nonce: randomNonce(), timestamp: strconv.FormatInt(time.Now().Unix(), 10)}
	if resp, body := f.do(c); resp.StatusCode != http.StatusOK {
		t.Fatalf("first request: status %d (body %s)", resp.StatusCode, body)
	}
	resp, body := f.do(c)
	expectError(t, f.id, resp, body, http.StatusUnauthorized, "SIGN_ERROR")

	// A refused request does not use up its nonce.
	n := randomNonce()
	resp, body = f.do(call{target: demoTarget, nonce: n, mchid: "1900000002"})
	expectError(t, f.id, resp, body, http.StatusUnauthorized, "SIGN_ERROR")
	if resp, body := f.do(call{target: demoTarget, nonce: n}); resp.StatusCode != http.StatusOK {
		t.Errorf("nonce of a refused request: status %d (body %s)", resp.StatusCode, body)
	}
}

func TestNonceMemoryFollowsTheClock(t *testing.T) {
	id := newIdentity(t)
	clock := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	f := newFixture(t, id, wechatpaysim.Config{Now: now})
	stamp := strconv.FormatInt(clock.Unix(), 10)
	c := call{target: demoTarget, nonce: randomNonce(), timestamp: stamp}
	if resp, body := f.do(c); resp.StatusCode != http.StatusOK {
		t.Fatalf("request at the server's clock: status %d (body %s)", resp.StatusCode, body)
	}
	if ts := f.sim.Requests()[0].Time; !ts.Equal(clock) {
		t.Errorf("Request.Time %s, want the server's clock %s", ts, clock)
	}
	// With the real clock the timestamp of 2030 is far off.
	g := newFixture(t, id, wechatpaysim.Config{})
	resp, body := g.do(call{target: demoTarget, timestamp: stamp})
	expectError(t, id, resp, body, http.StatusUnauthorized, "SIGN_ERROR")
}

func TestBasicRules(t *testing.T) {
	f := newFixture(t, newIdentity(t), wechatpaysim.Config{})
	refused := []struct {
		name   string
		header map[string]string
	}{
		{"no Accept", map[string]string{"Accept": ""}},
		{"Accept text/html", map[string]string{"Accept": "text/html"}},
		{"Accept application/json;q=0", map[string]string{"Accept": "text/html, application/json;q=0"}},
		{"no User-Agent", map[string]string{"User-Agent": ""}},
		{"blank User-Agent", map[string]string{"User-Agent": "  "}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(call{target: demoTarget, header: tt.header})
			expectError(t, f.id, resp, body, http.StatusBadRequest, "INVALID_REQUEST")
		})
	}
	for _, accept := range []string{"*/*", "application/*", "application/json; charset=utf-8", "text/html;q=0.9, application/json;q=0.5"} {
		t.Run("Accept "+accept, func(t *testing.T) {
			resp, body := f.do(call{target: demoTarget, header: map[string]string{"Accept": accept}})
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d (body %s)", resp.StatusCode, body)
			}
		})
	}
	t.Run("basic rules come before the signature", func(t *testing.T) {
		resp, body := f.do(call{target: demoTarget, noAuth: true, header: map[string]string{"Accept": ""}})
		expectError(t, f.id, resp, body, http.StatusBadRequest, "INVALID_REQUEST")
	})
}

func TestSerialHeader(t *testing.T) {
	id := newIdentity(t)
	f := newFixture(t, id, wechatpaysim.Config{RequireSerialHeader: true})
	tests := []struct {
		name   string
		serial string
		status int
	}{
		{"missing", "", http.StatusBadRequest},
		{"a platform certificate serial", id.Certificates[0].SerialNo, http.StatusBadRequest},
		{"the public key ID", id.PublicKeyID, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(call{target: demoTarget, header: map[string]string{"Wechatpay-Serial": tt.serial}})
			if tt.status == http.StatusOK {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d (body %s)", resp.StatusCode, body)
				}
				return
			}
			e := expectError(t, id, resp, body, tt.status, "PARAM_ERROR")
			if !strings.Contains(e.Message, "Wechatpay-Serial") {
				t.Errorf("message %q does not name Wechatpay-Serial", e.Message)
			}
		})
	}
	t.Run("signature comes first", func(t *testing.T) {
		resp, body := f.do(call{target: demoTarget, mchid: "1900000002"})
		expectError(t, id, resp, body, http.StatusUnauthorized, "SIGN_ERROR")
	})
	t.Run("not required by default", func(t *testing.T) {
		g := newFixture(t, id, wechatpaysim.Config{})
		if resp, body := g.do(call{target: demoTarget}); resp.StatusCode != http.StatusOK {
			t.Errorf("status %d (body %s)", resp.StatusCode, body)
		}
	})
}

func TestParameterRules(t *testing.T) {
	f := newFixture(t, newIdentity(t), wechatpaysim.Config{})
	base := "/v3/eduschoolpay/users/" + wechatpaysim.DemoOpenID + "/contracts?"
	tests := []struct {
		query string
		field string // the parameter the message must name; "" for success
	}{
		{"plan_id=" + wechatpaysim.DemoPlanID, "contract_status"},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=", "contract_status"},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=add", "contract_status"},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=SIGNED", "contract_status"},
		{"contract_status=ADD", "plan_id"},
		{"plan_id=&contract_status=ADD", "plan_id"},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ADD&limit=0", "limit"},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ADD&limit=41", "limit"},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ADD&limit=ten", "limit"},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ADD&limit=%2B5", "limit"},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ADD&limit=", "limit"},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ADD&offset=-20", "offset"},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ADD&offset=1.0", "offset"},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ADD&offset=5", "offset"},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ADD&offset=10&limit=20", "offset"},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ADD", "plan_id"},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ADD&contract_status=ADD", "contract_status"},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ADD&limit=10&limit=10", "limit"},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ADD&offset=0&offset=0", "offset"},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ADD&limit=%zz", "query"},

		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ADD", ""},
		{"contract_status=DELETE&plan_id=" + wechatpaysim.DemoPlanID, ""},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ALL&limit=40", ""},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ALL&limit=1&offset=44", ""},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ALL&offset=40", ""},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ALL&offset=400&limit=40", ""},
		{"plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ADD&unknown=1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp, body := f.do(call{target: base + tt.query})
			if tt.field == "" {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d, want 200 (body %s)", resp.StatusCode, body)
				}
				mustVerify(t, f.id, resp, body)
				return
			}
			e := expectError(t, f.id, resp, body, http.StatusBadRequest, "PARAM_ERROR")
			if !strings.Contains(e.Message, tt.field) {
				t.Errorf("message %q does not name %s", e.Message, tt.field)
			}
		})
	}
}

func TestPaging(t *testing.T) {
	f := newFixture(t, newIdentity(t), wechatpaysim.Config{})
	all := f.sim.Contracts(wechatpaysim.DemoOpenID, wechatpaysim.DemoPlanID)

	t.Run("ALL in pages of 20, following next", func(t *testing.T) {
		var got []wechatpaysim.Contract
		target := demoTarget
		var prev string
		for pages := 0; target != ""; pages++ {
			if pages > 3 {
				t.Fatal("more than 3 pages for 45 contracts")
			}
			resp, body := f.do(call{target: target})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: status %d (body %s)", target, resp.StatusCode, body)
			}
			mustVerify(t, f.id, resp, body)
			p := decodePage(t, body)
			if p.TotalCount != 45 || p.Limit != 20 || p.Offset != 20*pages || p.Links.Self != target || p.Links.Prev != prev {
				t.Errorf("page %d: offset=%d limit=%d total=%d links=%+v", pages, p.Offset, p.Limit, p.TotalCount, p.Links)
			}
			got = append(got, p.Data...)
			prev, target = target, p.Links.Next
		}
		if !reflect.DeepEqual(got, all) {
			t.Fatalf("paged through %d contracts, want the 45 seeded in order", len(got))
		}
		seenDelete, signed, missingCode := false, 0, 0
		for _, c := range got {
			switch c.ContractStatus {
			case "ADD":
				signed++
				if seenDelete {
					t.Fatal("a signed contract comes after a terminated one")
				}
			case "DELETE":
				seenDelete = true
			default:
				t.Fatalf("contract_status %q", c.ContractStatus)
			}
			if c.OutContractCode == "" {
				missingCode++
			}
			if c.OpenID != wechatpaysim.DemoOpenID || c.PlanID != wechatpaysim.DemoPlanID || c.MchID != f.id.MchID || c.AppID != wechatpaysim.AppID {
				t.Errorf("contract %s: openid/plan/mchid/appid are not the seed's", c.ContractID)
			}
			if ct, err := time.Parse(time.RFC3339, c.CreateTime); err != nil || !strings.HasSuffix(c.CreateTime, "+08:00") || ct.IsZero() {
				t.Errorf("contract %s: create_time %q is not RFC 3339 in +08:00", c.ContractID, c.CreateTime)
			}
		}
		if signed != 27 || missingCode == 0 {
			t.Errorf("%d signed (want 27), %d without out_contract_code (want some)", signed, missingCode)
		}
	})

	t.Run("out_contract_code is left out, not empty", func(t *testing.T) {
		_, body := f.do(call{target: demoTarget})
		var raw struct {
			Data []map[string]json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(body, &raw); err != nil {
			t.Fatal(err)
		}
		left := 0
		for _, item := range raw.Data {
			if len(item) != 7 && len(item) != 8 {
				t.Errorf("item has %d keys", len(item))
			}
			if _, ok := item["out_contract_code"]; !ok {
				left++
			}
		}
		if left == 0 {
			t.Error("no item of the first page leaves out out_contract_code")
		}
	})

	statusTests := []struct {
		status     string
		total      int
		firstIndex int
	}{{"ADD", 27, 0}, {"DELETE", 18, 27}, {"ALL", 45, 0}}
	for _, tt := range statusTests {
		t.Run("contract_status "+tt.status, func(t *testing.T) {
			target := "/v3/eduschoolpay/users/" + wechatpaysim.DemoOpenID + "/contracts?plan_id=" + wechatpaysim.DemoPlanID +
				"&contract_status=" + tt.status + "&offset=0&limit=40"
			resp, body := f.do(call{target: target})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d (body %s)", resp.StatusCode, body)
			}
			p := decodePage(t, body)
			if p.TotalCount != tt.total || len(p.Data) != min(tt.total, 40) || p.Data[0] != all[tt.firstIndex] {
				t.Errorf("total %d, %d items; want %d", p.TotalCount, len(p.Data), tt.total)
			}
			for _, c := range p.Data {
				if tt.status != "ALL" && c.ContractStatus != tt.status {
					t.Errorf("contract %s is %s", c.ContractID, c.ContractStatus)
				}
			}
		})
	}

	t.Run("last partial page and past the end", func(t *testing.T) {
		for _, tt := range []struct {
			offset, items int
			next          bool
		}{{40, 5, false}, {60, 0, false}, {20, 20, true}} {
			target := strings.Replace(demoTarget, "offset=0", "offset="+strconv.Itoa(tt.offset), 1)
			_, body := f.do(call{target: target})
			p := decodePage(t, body)
			if len(p.Data) != tt.items || (p.Links.Next != "") != tt.next || p.Data == nil {
				t.Errorf("offset %d: %d items, next %q; want %d items, next %v", tt.offset, len(p.Data), p.Links.Next, tt.items, tt.next)
			}
		}
	})

	t.Run("defaults", func(t *testing.T) {
		target := "/v3/eduschoolpay/users/" + wechatpaysim.DemoOpenID + "/contracts?plan_id=" + wechatpaysim.DemoPlanID + "&contract_status=ALL"
		_, body := f.do(call{target: target})
		p := decodePage(t, body)
		if p.Offset != 0 || p.Limit != 20 || len(p.Data) != 20 || p.Links.Self != demoTarget {
			t.Errorf("offset=%d limit=%d items=%d self=%q", p.Offset, p.Limit, len(p.Data), p.Links.Self)
		}
	})

	others := []struct {
		openid, plan string
		total        int
	}{
		{wechatpaysim.SecondOpenID, wechatpaysim.DemoPlanID, 5},
		{wechatpaysim.DemoOpenID, wechatpaysim.SecondPlanID, 3},
		{wechatpaysim.FullPageOpenID, wechatpaysim.DemoPlanID, 20},
		{"oUnknownUser", wechatpaysim.DemoPlanID, 0},
		{wechatpaysim.DemoOpenID, "999", 0},
	}
	for _, tt := range others {
		t.Run(tt.openid+"/"+tt.plan, func(t *testing.T) {
			target := "/v3/eduschoolpay/users/" + url.PathEscape(tt.openid) + "/contracts?plan_id=" + tt.plan + "&contract_status=ALL"
			resp, body := f.do(call{target: target})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d (body %s)", resp.StatusCode, body)
			}
			mustVerify(t, f.id, resp, body)
			p := decodePage(t, body)
			want := f.sim.Contracts(tt.openid, tt.plan)
			if p.TotalCount != tt.total || len(want) != tt.total || len(p.Data) != min(tt.total, 20) || p.Links.Next != "" {
				t.Errorf("total %d, %d items, next %q; want %d, none", p.TotalCount, len(p.Data), p.Links.Next, tt.total)
			}
			if tt.total == 0 && !strings.Contains(string(body), `"data":[]`) {
				t.Errorf("empty page does not carry data as []")
			}
		})
	}
}

func TestRouting(t *testing.T) {
	f := newFixture(t, newIdentity(t), wechatpaysim.Config{})
	for _, target := range []string{
		"/v3/eduschoolpay/users/" + wechatpaysim.DemoOpenID + "/contracts/",
		"/v3/eduschoolpay/users//contracts?plan_id=1&contract_status=ADD",
		"/v3/eduschoolpay/users/a/b/contracts",
		"/v3/pay/transactions/id/1",
		"/",
	} {
		t.Run(target, func(t *testing.T) {
			resp, body := f.do(call{target: target})
			expectError(t, f.id, resp, body, http.StatusNotFound, "NOT_FOUND")
		})
	}
	t.Run("POST", func(t *testing.T) {
		resp, body := f.do(call{method: http.MethodPost, target: demoTarget})
		expectError(t, f.id, resp, body, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
		if allow := resp.Header.Get("Allow"); allow != "GET" {
			t.Errorf("Allow %q, want GET", allow)
		}
	})
}

func TestCertificates(t *testing.T) {
	for _, mode := range []wechatpaysim.SignMode{wechatpaysim.SignPublicKey, wechatpaysim.SignCertificate, wechatpaysim.SignAlternate} {
		t.Run(mode.String(), func(t *testing.T) {
			f := newFixture(t, newIdentity(t), wechatpaysim.Config{SignMode: mode})
			resp, body := f.do(call{target: "/v3/certificates"})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d (body %s)", resp.StatusCode, body)
			}
			if serial := mustVerify(t, f.id, resp, body); serial != f.id.Certificates[0].SerialNo {
				t.Errorf("certificate download signed by %q, want platform certificate 0", serial)
			}
			var got struct {
				Data []struct {
					SerialNo           string `json:"serial_no"`
					EffectiveTime      string `json:"effective_time"`
					ExpireTime         string `json:"expire_time"`
					EncryptCertificate struct {
						Algorithm      string `json:"algorithm"`
						Nonce          string `json:"nonce"`
						AssociatedData string `json:"associated_data"`
						Ciphertext     string `json:"ciphertext"`
					} `json:"encrypt_certificate"`
				} `json:"data"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if len(got.Data) != len(f.id.Certificates) {
				t.Fatalf("%d certificates, want %d", len(got.Data), len(f.id.Certificates))
			}
			block, err := aes.NewCipher([]byte(f.id.APIv3Key))
			if err != nil {
				t.Fatal(err)
			}
			gcm, err := cipher.NewGCM(block)
			if err != nil {
				t.Fatal(err)
			}
			for i, item := range got.Data {
				want := f.id.Certificates[i]
				enc := item.EncryptCertificate
				if item.SerialNo != want.SerialNo || enc.Algorithm != "AEAD_AES_256_GCM" || enc.AssociatedData != "certificate" || len(enc.Nonce) != 12 {
					t.Errorf("certificate %d: serial match %v, algorithm %q, associated_data %q, nonce of %d characters",
						i, item.SerialNo == want.SerialNo, enc.Algorithm, enc.AssociatedData, len(enc.Nonce))
				}
				for _, ts := range []string{item.EffectiveTime, item.ExpireTime} {
					if _, err := time.Parse(time.RFC3339, ts); err != nil || !strings.HasSuffix(ts, "+08:00") {
						t.Errorf("certificate %d: time %q is not RFC 3339 in +08:00", i, ts)
					}
				}
				if et, _ := time.Parse(time.RFC3339, item.ExpireTime); !et.Equal(want.Cert.NotAfter) {
					t.Errorf("certificate %d: expire_time is not the certificate's NotAfter", i)
				}
				sealed, err := base64.StdEncoding.DecodeString(enc.Ciphertext)
				if err != nil {
					t.Fatalf("certificate %d: ciphertext is not base64", i)
				}
				plain, err := gcm.Open(nil, []byte(enc.Nonce), sealed, []byte(enc.AssociatedData))
				if err != nil {
					t.Fatalf("certificate %d: does not decrypt with the APIv3 key: %v", i, err)
				}
				p, _ := pem.Decode(plain)
				if p == nil {
					t.Fatalf("certificate %d: plaintext is not PEM", i)
				}
				cert, err := x509.ParseCertificate(p.Bytes)
				if err != nil || !cert.Equal(want.Cert) {
					t.Errorf("certificate %d: decrypts to another certificate (%v)", i, err)
				}
				if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&want.Key.PublicKey) {
					t.Errorf("certificate %d: key is not the platform key", i)
				}
			}
		})
	}
}

func TestSignModes(t *testing.T) {
	id := newIdentity(t)
	f := newFixture(t, id, wechatpaysim.Config{SignMode: wechatpaysim.SignCertificate})
	serialOf := func() string {
		t.Helper()
		resp, body := f.do(call{target: demoTarget})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d (body %s)", resp.StatusCode, body)
		}
		return mustVerify(t, id, resp, body)
	}
	if s := serialOf(); s != id.Certificates[0].SerialNo {
		t.Errorf("SignCertificate: serial is not platform certificate 0")
	}
	f.sim.SetSignMode(wechatpaysim.SignPublicKey)
	if s := serialOf(); s != id.PublicKeyID {
		t.Errorf("SignPublicKey: serial %q, want the public key ID", s)
	}
	f.sim.SetSignMode(wechatpaysim.SignAlternate)
	a, b, c := serialOf(), serialOf(), serialOf()
	if a != id.PublicKeyID || b != id.Certificates[0].SerialNo || c != id.PublicKeyID {
		t.Errorf("SignAlternate: serials do not alternate between the public key and certificate 0")
	}
	// Error answers follow the sign mode too.
	f.sim.SetSignMode(wechatpaysim.SignCertificate)
	resp, body := f.do(call{target: demoTarget, mchid: "1900000002"})
	expectError(t, id, resp, body, http.StatusUnauthorized, "SIGN_ERROR")
	if resp.Header.Get("Wechatpay-Serial") != id.Certificates[0].SerialNo {
		t.Error("error answer is not signed with the certificate in SignCertificate mode")
	}

	for _, s := range []string{"publickey", "certificate", "alternate"} {
		m, err := wechatpaysim.ParseSignMode(s)
		if err != nil || m.String() != s {
			t.Errorf("ParseSignMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := wechatpaysim.ParseSignMode("rsa"); err == nil {
		t.Error("ParseSignMode accepted an unknown mode")
	}
}
