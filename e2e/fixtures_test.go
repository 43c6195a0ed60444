package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/campuspay/contracts/internal/wechatpaysim"
)

// page is the contract's success body.
type page struct {
	Data       []map[string]*string `json:"data"`
	Offset     int                  `json:"offset"`
	Limit      int                  `json:"limit"`
	TotalCount int                  `json:"total_count"`
	HasMore    bool                 `json:"has_more"`
	NextOffset *int                 `json:"next_offset"`
	Links      struct {
		Self string  `json:"self"`
		Next *string `json:"next"`
		Prev *string `json:"prev"`
	} `json:"links"`
}

var itemKeys = []string{"contract_id", "mchid", "appid", "openid", "plan_id", "contract_status", "create_time", "out_contract_code"}

// checkPage asserts a page against the simulator's seed data.
func checkPage(t *testing.T, s *stack, body []byte, status string, offset, limit int, selfPath string) page {
	t.Helper()
	var p page
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("not a page: %s", body)
	}
	var want []wechatpaysim.Contract
	for _, c := range s.sim.Contracts(wechatpaysim.DemoOpenID, wechatpaysim.DemoPlanID) {
		if status == "ALL" || c.ContractStatus == status {
			want = append(want, c)
		}
	}
	end := min(offset+limit, len(want))
	want = want[min(offset, len(want)):end]
	if p.TotalCount == 0 || p.Offset != offset || p.Limit != limit || len(p.Data) != len(want) {
		t.Fatalf("page offset %d limit %d total %d items %d; want %d %d - %d", p.Offset, p.Limit, p.TotalCount, len(p.Data), offset, limit, len(want))
	}
	for i, item := range p.Data {
		for _, k := range itemKeys {
			if _, ok := item[k]; !ok {
				t.Errorf("item %d lacks key %q", i, k)
			}
		}
		if item["contract_id"] == nil || *item["contract_id"] != want[i].ContractID || *item["contract_status"] != want[i].ContractStatus {
			t.Errorf("item %d = %v; want %+v", i, item, want[i])
		}
		if (want[i].OutContractCode == "") != (item["out_contract_code"] == nil) {
			t.Errorf("item %d out_contract_code = %v; want %q", i, item["out_contract_code"], want[i].OutContractCode)
		}
	}
	wantSelf := selfPath + "?contract_status=" + status + "&limit=" + itoa(limit) + "&offset=" + itoa(offset) + "&plan_id=" + wechatpaysim.DemoPlanID
	if p.Links.Self != wantSelf {
		t.Errorf("links.self = %q; want %q", p.Links.Self, wantSelf)
	}
	if strings.Contains(string(body), "weixin.qq.com") || strings.Contains(string(body), "/v3/") {
		t.Errorf("the answer points at WeChat Pay: %s", body)
	}
	return p
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestFixtures sends every fixture of events/ through the emulator, as sam
// local invoke -e would, and checks the contract's answer.
func TestFixtures(t *testing.T) {
	s := newStack(t, options{})
	okHTTP := []struct {
		file, status  string
		offset, limit int
		selfPath      string
	}{
		{"rest-v1.json", "ADD", 0, 20, "/users/oUpF8uMuAJOM2pxb1Q/contracts"},
		{"http-v2.json", "ADD", 0, 20, "/users/oUpF8uMuAJOM2pxb1Q/contracts"},
		{"http-v2-stage.json", "ALL", 10, 10, "/prod/users/oUpF8uMuAJOM2pxb1Q/contracts"},
		{"function-url.json", "ADD", 0, 20, "/users/oUpF8uMuAJOM2pxb1Q/contracts"},
	}
	for _, tt := range okHTTP {
		t.Run(tt.file, func(t *testing.T) {
			a := s.callHTTP(fixture(t, tt.file))
			if a.StatusCode != 200 || a.Headers["Content-Type"] != "application/json; charset=utf-8" || a.Headers["X-Upstream-Request-Id"] == "" {
				t.Fatalf("answer %d %v %s", a.StatusCode, a.Headers, a.Body)
			}
			checkPage(t, s, []byte(a.Body), tt.status, tt.offset, tt.limit, tt.selfPath)
		})
	}
	for _, file := range []string{"direct-flat.json", "direct-nested.json"} {
		t.Run(file, func(t *testing.T) {
			status, raw := s.call(fixture(t, file))
			if status != 200 {
				t.Fatalf("status %d: %s", status, raw)
			}
			checkPage(t, s, raw, "ADD", 0, 20, "/users/oUpF8uMuAJOM2pxb1Q/contracts")
		})
	}

	// Bad input: the contract's 4xx, and nothing reaches WeChat Pay or
	// Secrets Manager.
	s2 := newStack(t, options{})
	badHTTP := []struct {
		file   string
		status int
		code   string
		field  string
	}{
		{"invalid-limit-http-v2.json", 400, "INVALID_PARAMETER", "limit"},
		{"invalid-repeated-rest-v1.json", 400, "INVALID_PARAMETER", "plan_id"},
		{"invalid-repeated-http-v2.json", 400, "INVALID_PARAMETER", "contract_status"},
		{"invalid-missing-plan-function-url.json", 400, "INVALID_PARAMETER", "plan_id"},
		{"method-post-http-v2.json", 405, "METHOD_NOT_ALLOWED", ""},
		{"unknown-path-rest-v1.json", 404, "NOT_FOUND", ""},
	}
	for _, tt := range badHTTP {
		t.Run(tt.file, func(t *testing.T) {
			a := s2.callHTTP(fixture(t, tt.file))
			b := decodeError(t, a.Body)
			if a.StatusCode != tt.status || b.Error.Code != tt.code || b.Error.Field != tt.field || b.RequestID == "" {
				t.Errorf("got %d %s", a.StatusCode, a.Body)
			}
			if tt.status == http.StatusMethodNotAllowed && a.Headers["Allow"] != "GET" {
				t.Errorf("Allow = %q", a.Headers["Allow"])
			}
		})
	}
	badDirect := []struct {
		file, field string
	}{
		{"invalid-offset-direct.json", "offset"},
		{"invalid-status-direct.json", "contract_status"},
	}
	for _, tt := range badDirect {
		t.Run(tt.file, func(t *testing.T) {
			status, raw := s2.call(fixture(t, tt.file))
			var fe functionError
			if err := json.Unmarshal(raw, &fe); err != nil || status != 200 || fe.ErrorType != "INVALID_PARAMETER" || !strings.Contains(fe.ErrorMessage, tt.field) {
				t.Errorf("got %d %s", status, raw)
			}
		})
	}
	t.Run("not JSON", func(t *testing.T) {
		status, raw := s2.call([]byte("plan_id=1"))
		var fe functionError
		if err := json.Unmarshal(raw, &fe); err != nil || status != 200 || fe.ErrorType != "INVALID_PARAMETER" {
			t.Errorf("got %d %s", status, raw)
		}
	})
	checkOneLineEach(t, s, len(okHTTP)+2)
	checkOneLineEach(t, s2, len(badHTTP)+len(badDirect)+1)
	if n := len(s2.sim.Requests()); n != 0 {
		t.Errorf("bad input reached WeChat Pay %d times", n)
	}
	if n := s2.secrets.Calls(); n != 0 {
		t.Errorf("bad input fetched the secret %d times", n)
	}
}

// TestPagingThroughEverything follows next_offset to the end.
func TestPagingThroughEverything(t *testing.T) {
	s := newStack(t, options{})
	var ids []string
	var statuses []string
	offset := 0
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		status, raw := s.call(direct(wechatpaysim.DemoOpenID, map[string]any{
			"query": map[string]any{"plan_id": wechatpaysim.DemoPlanID, "contract_status": "all", "offset": offset, "limit": 20}}))
		if status != 200 {
			t.Fatalf("%d %s", status, raw)
		}
		p := checkPage(t, s, raw, "ALL", offset, 20, "/users/"+wechatpaysim.DemoOpenID+"/contracts")
		for _, item := range p.Data {
			ids = append(ids, *item["contract_id"])
			statuses = append(statuses, *item["contract_status"])
		}
		if (offset == 0) != (p.Links.Prev == nil) {
			t.Errorf("offset %d: prev = %v", offset, p.Links.Prev)
		}
		if !p.HasMore {
			if p.NextOffset != nil || p.Links.Next != nil {
				t.Errorf("last page has next %v %v", p.NextOffset, p.Links.Next)
			}
			break
		}
		offset = *p.NextOffset
	}
	want := s.sim.Contracts(wechatpaysim.DemoOpenID, wechatpaysim.DemoPlanID)
	if len(ids) != len(want) {
		t.Fatalf("%d contracts; want %d", len(ids), len(want))
	}
	seenDelete := false
	for i, st := range statuses {
		if st == "DELETE" {
			seenDelete = true
		} else if seenDelete {
			t.Errorf("contract %d signed after a terminated one", i)
		}
	}
	// One secret fetch for every page: the cache works across invocations.
	if n := s.secrets.Calls(); n != 1 {
		t.Errorf("secret fetched %d times over %d invocations", n, len(ids)/20+1)
	}
}

// checkOneLineEach asserts that n invocations wrote exactly n summary lines
// and n EMF metrics lines, each a JSON object on a line of its own. The
// last lines may still be in the emulator's pipe: it waits (at most 5 s)
// for the counts to reach n.
func checkOneLineEach(t *testing.T, s *stack, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		summaries, metrics, bad := countLines(s.output.String())
		if bad != "" {
			t.Errorf("a function line is not one JSON object: %q", bad)
			return
		}
		if summaries == n && metrics == n {
			return
		}
		if summaries > n || metrics > n || time.Now().After(deadline) {
			t.Errorf("%d invocations wrote %d summary and %d metrics lines", n, summaries, metrics)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countLines counts the function's summary and EMF lines in out; bad is the
// first line of the function's that is not a JSON object.
func countLines(out string) (summaries, metrics int, bad string) {
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue // the emulator's own lines
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			if !strings.HasSuffix(out, line) { // a line still being written is not bad
				return 0, 0, line
			}
			continue
		}
		switch {
		case m["_aws"] != nil:
			metrics++
		case m["message"] == "invocation":
			summaries++
		}
	}
	return summaries, metrics, ""
}
