package contracts

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/campuspay/contracts/internal/contractquery"
	"github.com/campuspay/contracts/internal/jsonr"
)

// referencePage is WeChat Pay's answer as encoding/json reads it, the
// outcome decodePage must reproduce.
type referencePage struct {
	Data       []referenceContract `json:"data"`
	TotalCount *int                `json:"total_count"`
}

type referenceContract struct {
	ContractID      json.RawMessage `json:"contract_id"`
	MchID           json.RawMessage `json:"mchid"`
	AppID           json.RawMessage `json:"appid"`
	OpenID          json.RawMessage `json:"openid"`
	PlanID          json.RawMessage `json:"plan_id"`
	ContractStatus  json.RawMessage `json:"contract_status"`
	CreateTime      json.RawMessage `json:"create_time"`
	OutContractCode json.RawMessage `json:"out_contract_code"`
}

// referenceDecode decodes body with encoding/json. ok is false when
// encoding/json refuses it, or a contract value is neither null nor a
// string of valid UTF-8.
func referenceDecode(body []byte) (upstreamPage, bool) {
	var ref referencePage
	if err := json.Unmarshal(body, &ref); err != nil {
		return upstreamPage{}, false
	}
	up := upstreamPage{TotalCount: ref.TotalCount}
	for _, rc := range ref.Data {
		var c Contract
		for i, raw := range [...]json.RawMessage{rc.ContractID, rc.MchID, rc.AppID, rc.OpenID, rc.PlanID, rc.ContractStatus, rc.CreateTime, rc.OutContractCode} {
			f := c.field([]byte(contractKeys[i]))
			switch {
			case raw == nil || string(raw) == "null":
			case raw[0] == '"' && utf8.Valid(raw):
				*f = rawString(raw)
			default:
				return upstreamPage{}, false
			}
		}
		up.Data = append(up.Data, c)
	}
	return up, true
}

// dataKeys counts the top-level keys that name data. encoding/json decodes
// a second data array over the first one's elements, a quirk decodePage
// does not copy (the later array wins whole), so such bodies are not
// compared.
func dataKeys(body []byte) int {
	n := 0
	r := jsonr.NewReader(body)
	if r.Peek() != jsonr.Object {
		return 0
	}
	for key := range r.Members() {
		if jsonr.Match(key, "data") == 0 {
			n++
		}
	}
	return n
}

// checkDecodeAgainstEncodingJSON holds decodePage to encoding/json on body.
func checkDecodeAgainstEncodingJSON(t testing.TB, body []byte) {
	t.Helper()
	if dataKeys(body) > 1 {
		return
	}
	got, err := decodePage(body, nil)
	want, ok := referenceDecode(body)
	if ok != (err == nil) {
		t.Fatalf("encoding/json accepts: %v; decodePage: %v; body %q", ok, err, body)
	}
	if !ok {
		return
	}
	if (got.TotalCount == nil) != (want.TotalCount == nil) || got.TotalCount != nil && *got.TotalCount != *want.TotalCount {
		t.Fatalf("total_count %v, encoding/json %v, body %q", got.TotalCount, want.TotalCount, body)
	}
	if len(got.Data) != len(want.Data) {
		t.Fatalf("%d contracts, encoding/json %d, body %q", len(got.Data), len(want.Data), body)
	}
	for i := range got.Data {
		g, w := &got.Data[i], &want.Data[i]
		for _, k := range contractKeys {
			if gv, wv := *g.field([]byte(k)), *w.field([]byte(k)); !bytes.Equal(gv, wv) || (gv == nil) != (wv == nil) {
				t.Fatalf("contract %d %s: %q, encoding/json %q, body %q", i, k, gv, wv, body)
			}
		}
	}
}

var pageBodies = []string{
	upstreamTwo,
	`{"data":[{"contract_id":"c1","mchid":"m","appid":"a","openid":"o","plan_id":"p","contract_status":"ADD","create_time":"2024-01-01T00:00:00+08:00","out_contract_code":"x"}],"total_count":1,"offset":0,"limit":20,"links":{"next":"","prev":"","self":"/v3/x"}}`,
	`null`, `{}`, ` {"data":null,"total_count":null} `, `{"data":[],"total_count":0}`, `{"data":[null,{}]}`,
	`{"DATA":[{"Contract_ID":"up","contract_id":"later"}],"Total_Count":3}`, `{"data":[{"contract_id":"a","contract_id":null}]}`,
	`{"total_count":1,"total_count":null}`, `{"total_count":-0}`, `{"data":[{"mch\u0069d":"esc","plan_id":"\u00e9\n"}]}`,
	`{"data":[{"k\u212aey":1}]}`, `{"data":[{"contract_id":"\u017f"}]}`,
	// refused by both
	`[]`, `"x"`, `1`, `{"data":{}}`, `{"data":["x"]}`, `{"data":[1]}`, `{"data":[{"contract_id":1}]}`,
	`{"data":[{"contract_id":{}}]}`, `{"data":[{"contract_id":["x"]}]}`, "{\"data\":[{\"contract_id\":\"\xff\"}]}",
	`{"total_count":1.5}`, `{"total_count":1e2}`, `{"total_count":"1"}`, `{"total_count":99999999999999999999}`,
	`{"total_count":true}`, `{"data":[{}],}`, `{"data":[{}]`, `{"data":[{}]} x`, `{"data":[{"contract_id":"a"]}`,
	`{"links":{"self":}}`, ``,
}

func TestDecodePageAgreesWithEncodingJSON(t *testing.T) {
	for _, b := range pageBodies {
		checkDecodeAgainstEncodingJSON(t, []byte(b))
	}
}

// FuzzDecodePage: whatever WeChat Pay's verified body, decodePage accepts
// it exactly when encoding/json would, and reads the same page from it.
func FuzzDecodePage(f *testing.F) {
	for _, b := range pageBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecodeAgainstEncodingJSON(t, body)
	})
}

// TestRecycledListsCarryNothingOver: a list handed back by Release comes
// back empty, with no value of the page it served.
func TestRecycledListsCarryNothingOver(t *testing.T) {
	var lists contractLists
	q := contractquery.Query{OpenID: "o", PlanID: "p", ContractStatus: "ALL", Limit: 20}
	first, err := normalize([]byte(upstreamTwo), q, "/users/o/contracts", &lists)
	if err != nil || len(first.Data) == 0 || first.Data[0].ContractID == nil {
		t.Fatalf("first page: %+v, %v", first, err)
	}
	kept := first.Data[:1:1]
	first.Release()
	if kept[0].ContractID != nil {
		t.Errorf("a released list still holds %q", kept[0].ContractID)
	}
	for range 3 { // the pool may or may not hand the same list back
		next, err := normalize([]byte(`{"data":[{},{"mchid":"m"}]}`), q, "/users/o/contracts", &lists)
		if err != nil {
			t.Fatal(err)
		}
		if len(next.Data) != 2 || string(next.Data[1].MchID) != `"m"` {
			t.Fatalf("recycled page: %+v", next.Data)
		}
		for i, c := range next.Data {
			for _, k := range contractKeys {
				if v := *c.field([]byte(k)); v != nil && (i == 0 || k != "mchid") {
					t.Fatalf("contract %d of a recycled list has %s %q", i, k, v)
				}
			}
		}
		next.Release()
	}
}
