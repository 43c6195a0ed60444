package contracts

import (
	"encoding/json"
	"testing"

	"github.com/campuspay/contracts/internal/contractquery"
	"github.com/campuspay/contracts/internal/jsonw"
)

// FuzzNormalize: any verified body WeChat Pay might send either normalizes
// into a page that keeps the contract's invariants, or is an error; never a
// panic.
func FuzzNormalize(f *testing.F) {
	f.Add([]byte(upstreamTwo), 20, 20)
	f.Add([]byte(`{"data":null,"total_count":-5}`), 0, 1)
	f.Add([]byte(`{"data":[{}],"total_count":99999999999}`), 40, 40)
	f.Add([]byte(`{"data":[{"contract_id":null}]}`), 0, 20)
	f.Add([]byte(`[]`), 0, 20)
	f.Fuzz(func(t *testing.T, body []byte, offset, limit int) {
		if limit < 1 || limit > 40 || offset < 0 || offset > 1<<20 || offset%limit != 0 {
			return
		}
		q := contractquery.Query{OpenID: "o", PlanID: "p", ContractStatus: "ALL", Offset: offset, Limit: limit}
		p, err := normalize(body, q, "/users/o/contracts", nil)
		if err != nil {
			return
		}
		if p.Data == nil || p.Offset != offset || p.Limit != limit {
			t.Fatalf("page %+v", p)
		}
		if p.HasMore != (p.NextOffset != nil) || p.HasMore != (p.Links.Next != nil) || (offset == 0) != (p.Links.Prev == nil) {
			t.Fatalf("links disagree: %+v", p)
		}
		out := p.AppendJSON(nil, false)
		if esc := p.AppendJSON(nil, true); string(esc) != string(jsonw.AppendStringContents(nil, out)) {
			t.Fatalf("escaped page %q is not the page %q escaped", esc, out)
		}
		if len(out) > p.EncodedSize() {
			t.Fatalf("AppendJSON wrote %d bytes, more than EncodedSize's %d", len(out), p.EncodedSize())
		}
		var back map[string]any
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("AppendJSON wrote invalid JSON %q: %v", out, err)
		}
		if data, _ := back["data"].([]any); len(data) != len(p.Data) {
			t.Fatalf("data has %d items, want %d", len(data), len(p.Data))
		}
	})
}
