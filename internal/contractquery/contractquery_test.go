package contractquery

import (
	"strings"
	"testing"

	"github.com/campuspay/contracts/internal/invocation"
)

func s(v string) []invocation.Value { return []invocation.Value{{Text: v}} }
func n(v string) []invocation.Value {
	return []invocation.Value{{Text: v, Kind: invocation.KindNumber}}
}

// valid returns a complete, valid parameter set with the given overrides;
// a nil override deletes the parameter.
func valid(over map[string][]invocation.Value) invocation.Params {
	p := invocation.Params{
		"openid":          s("oUpF8uMuAJOM2pxb1Q"),
		"plan_id":         s("101164396123311331"),
		"contract_status": s("ADD"),
	}
	for k, v := range over {
		if v == nil {
			delete(p, k)
		} else {
			p[k] = v
		}
	}
	return p
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name string
		over map[string][]invocation.Value
		want Query
	}{
		{"defaults", nil, Query{"oUpF8uMuAJOM2pxb1Q", "101164396123311331", "ADD", 0, 20}},
		{"status case-insensitive in, upper-case out", map[string][]invocation.Value{"contract_status": s("delete")},
			Query{"oUpF8uMuAJOM2pxb1Q", "101164396123311331", "DELETE", 0, 20}},
		{"all", map[string][]invocation.Value{"contract_status": s("All")}, Query{"oUpF8uMuAJOM2pxb1Q", "101164396123311331", "ALL", 0, 20}},
		{"numbers as JSON numbers", map[string][]invocation.Value{"offset": n("40"), "limit": n("40")},
			Query{"oUpF8uMuAJOM2pxb1Q", "101164396123311331", "ADD", 40, 40}},
		{"numbers as strings", map[string][]invocation.Value{"offset": s("30"), "limit": s("10")},
			Query{"oUpF8uMuAJOM2pxb1Q", "101164396123311331", "ADD", 30, 10}},
		{"limit 1", map[string][]invocation.Value{"limit": s("1"), "offset": s("7")}, Query{"oUpF8uMuAJOM2pxb1Q", "101164396123311331", "ADD", 7, 1}},
		{"longest ids", map[string][]invocation.Value{"openid": s(strings.Repeat("a", 128)), "plan_id": s(strings.Repeat("-", 32))},
			Query{strings.Repeat("a", 128), strings.Repeat("-", 32), "ADD", 0, 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Validate(valid(tt.over))
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestValidateRefuses(t *testing.T) {
	two := []invocation.Value{{Text: "a"}, {Text: "b"}}
	other := []invocation.Value{{Text: "true", Kind: invocation.KindOther}}
	tests := []struct {
		name    string
		over    map[string][]invocation.Value
		field   string
		message string
	}{
		{"openid missing", map[string][]invocation.Value{"openid": nil}, "openid", "openid is required"},
		{"openid empty", map[string][]invocation.Value{"openid": s("")}, "openid", "openid is required"},
		{"openid too long", map[string][]invocation.Value{"openid": s(strings.Repeat("a", 129))}, "openid", "openid must be 1 to 128 characters of A-Z, a-z, 0-9, _ and -"},
		{"openid bad character", map[string][]invocation.Value{"openid": s("a/b")}, "openid", "openid must be"},
		{"openid non-ASCII", map[string][]invocation.Value{"openid": s("用户")}, "openid", "openid must be"},
		{"openid twice", map[string][]invocation.Value{"openid": two}, "openid", "openid must be given only once"},
		{"openid not a string", map[string][]invocation.Value{"openid": n("12")}, "openid", "openid must be"},
		{"plan_id missing", map[string][]invocation.Value{"plan_id": nil}, "plan_id", "plan_id is required"},
		{"plan_id empty", map[string][]invocation.Value{"plan_id": s("")}, "plan_id", "plan_id is required"},
		{"plan_id too long", map[string][]invocation.Value{"plan_id": s(strings.Repeat("1", 33))}, "plan_id", "plan_id must be 1 to 32 characters"},
		{"plan_id space", map[string][]invocation.Value{"plan_id": s("1 2")}, "plan_id", "plan_id must be"},
		{"plan_id twice", map[string][]invocation.Value{"plan_id": two}, "plan_id", "given only once"},
		{"plan_id bool", map[string][]invocation.Value{"plan_id": other}, "plan_id", "plan_id must be"},
		{"status missing", map[string][]invocation.Value{"contract_status": nil}, "contract_status", "contract_status is required"},
		{"status empty", map[string][]invocation.Value{"contract_status": s("")}, "contract_status", "contract_status is required"},
		{"status unknown", map[string][]invocation.Value{"contract_status": s("SIGNED")}, "contract_status", "contract_status must be ADD, DELETE or ALL"},
		{"status twice", map[string][]invocation.Value{"contract_status": two}, "contract_status", "given only once"},
		{"limit 0", map[string][]invocation.Value{"limit": s("0")}, "limit", "limit must be an integer from 1 to 40"},
		{"limit 41", map[string][]invocation.Value{"limit": n("41")}, "limit", "limit must be an integer from 1 to 40"},
		{"limit fraction", map[string][]invocation.Value{"limit": n("20.5")}, "limit", "limit must be an integer"},
		{"limit 20.0", map[string][]invocation.Value{"limit": n("20.0")}, "limit", "limit must be an integer"},
		{"limit exponent", map[string][]invocation.Value{"limit": n("2e1")}, "limit", "limit must be an integer"},
		{"limit word", map[string][]invocation.Value{"limit": s("ten")}, "limit", "limit must be an integer"},
		{"limit plus sign", map[string][]invocation.Value{"limit": s("+5")}, "limit", "limit must be an integer"},
		{"limit empty", map[string][]invocation.Value{"limit": s("")}, "limit", "limit must be an integer"},
		{"limit huge", map[string][]invocation.Value{"limit": s("99999999999999999999999")}, "limit", "limit must be an integer"},
		{"limit twice", map[string][]invocation.Value{"limit": two}, "limit", "given only once"},
		{"offset negative", map[string][]invocation.Value{"offset": n("-20")}, "offset", "offset must be an integer of 0 or more"},
		{"offset fraction", map[string][]invocation.Value{"offset": n("0.5")}, "offset", "offset must be an integer"},
		{"offset not a multiple", map[string][]invocation.Value{"offset": n("15")}, "offset", "offset must be a multiple of limit (20)"},
		{"offset not a multiple of given limit", map[string][]invocation.Value{"offset": s("10"), "limit": s("15")}, "offset", "multiple of limit (15)"},
		{"offset twice", map[string][]invocation.Value{"offset": two}, "offset", "given only once"},
		{"offset object", map[string][]invocation.Value{"offset": other}, "offset", "offset must be an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Validate(valid(tt.over))
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			if err.Field != tt.field || !strings.Contains(err.Message, tt.message) {
				t.Errorf("got field %q message %q; want field %q message containing %q", err.Field, err.Message, tt.field, tt.message)
			}
		})
	}
}

func TestEncodeIsSortedAndExplicit(t *testing.T) {
	q := Query{"o", "p", "ALL", 40, 20}
	if got, want := q.Encode(), "contract_status=ALL&limit=20&offset=40&plan_id=p"; got != want {
		t.Errorf("Encode = %q, want %q", got, want)
	}
	if got := q.WithOffset(0).Offset; got != 0 || q.Offset != 40 {
		t.Error("WithOffset must copy")
	}
}
