package invocation_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/campuspay/contracts/internal/contractquery"
	"github.com/campuspay/contracts/internal/invocation"
)

// FuzzParseAndValidate feeds arbitrary payloads through the event adapter
// and the validator: neither may panic, and whatever validates must be safe
// to put in WeChat Pay's URL unescaped.
func FuzzParseAndValidate(f *testing.F) {
	fixtures, _ := filepath.Glob("../../events/*.json")
	for _, name := range fixtures {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	for _, seed := range []string{
		`{}`, `[]`, `null`, `{"openid":1e400}`, `{"query":{"limit":-0}}`, `{"version":"2.0","rawPath":"/users//contracts"}`,
		`{"httpMethod":"GET","path":"/users/%zz/contracts"}`, `{"version":"2.0","rawPath":"/users/a/contracts","rawQueryString":"limit=%"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		req, err := invocation.Parse(payload)
		if err != nil {
			return
		}
		q, ferr := contractquery.Validate(req.Params)
		if ferr != nil {
			if ferr.Field == "" || ferr.Message == "" {
				t.Fatalf("a field error without field or message: %+v", ferr)
			}
			return
		}
		for _, v := range []string{q.OpenID, q.PlanID} {
			if v == "" || strings.ContainsAny(v, "/?&=#% \n") {
				t.Fatalf("unsafe value validated: %q", v)
			}
		}
		if q.Limit < 1 || q.Limit > 40 || q.Offset < 0 || q.Offset%q.Limit != 0 {
			t.Fatalf("out-of-range paging validated: %+v", q)
		}
		switch q.ContractStatus {
		case "ADD", "DELETE", "ALL":
		default:
			t.Fatalf("status %q validated", q.ContractStatus)
		}
	})
}
