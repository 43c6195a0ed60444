package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/campuspay/contracts/internal/contractquery"
	"github.com/campuspay/contracts/internal/jsonw"
)

// Contract is one item of the list: WeChat Pay's eight values, each kept as
// the raw JSON string it sent, or nil when it sent null or nothing (written
// as null: every key is always present).
type Contract struct {
	ContractID      rawString `json:"contract_id"`
	MchID           rawString `json:"mchid"`
	AppID           rawString `json:"appid"`
	OpenID          rawString `json:"openid"`
	PlanID          rawString `json:"plan_id"`
	ContractStatus  rawString `json:"contract_status"`
	CreateTime      rawString `json:"create_time"`
	OutContractCode rawString `json:"out_contract_code"`
}

// rawString is one JSON string value exactly as WeChat Pay sent it (quotes
// and escapes included), or nil for null or absent.
//
// It aliases the verified answer body instead of copying it: normalize's
// caller owns that body and does not change it before the page is written,
// which saves the 160 small allocations of a full page.
type rawString []byte

var errNotString = errors.New("a contract field is not a string")

// UnmarshalJSON implements json.Unmarshaler. The decoder has checked that b
// is valid JSON; it must be a string (of valid UTF-8, since it is passed on
// as it is) or null.
func (r *rawString) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 4 && string(b) == "null":
		*r = nil
	case len(b) >= 2 && b[0] == '"' && utf8.Valid(b):
		*r = b
	default:
		return errNotString
	}
	return nil
}

// Page is the success body of the contract.
type Page struct {
	Data       []Contract
	Offset     int
	Limit      int
	TotalCount int
	HasMore    bool
	NextOffset *int
	Links      Links
}

// Links point at this API, never at WeChat Pay.
type Links struct {
	Self string
	Next *string
	Prev *string
}

// upstreamPage is WeChat Pay's answer; its links are dropped, since they
// point at WeChat Pay.
type upstreamPage struct {
	Data       []Contract `json:"data"`
	TotalCount *int       `json:"total_count"`
}

// normalize turns WeChat Pay's verified answer into the contract's page.
// offset and limit are the ones used; basePath is the path links are built
// on. The page refers to body, which must not change until it is written.
func normalize(body []byte, q contractquery.Query, basePath string) (*Page, error) {
	var up upstreamPage
	if err := json.Unmarshal(body, &up); err != nil {
		return nil, fmt.Errorf("decode contract list: %w", err)
	}
	p := &Page{Data: up.Data, Offset: q.Offset, Limit: q.Limit}
	if p.Data == nil {
		p.Data = []Contract{}
	}
	if up.TotalCount != nil {
		p.TotalCount = *up.TotalCount
	} else {
		p.TotalCount = q.Offset + len(p.Data) // the least it can be
	}
	p.Links.Self = basePath + "?" + q.Encode()
	if next := q.Offset + q.Limit; next < p.TotalCount {
		p.HasMore, p.NextOffset = true, &next
		link := basePath + "?" + q.WithOffset(next).Encode()
		p.Links.Next = &link
	}
	if q.Offset > 0 {
		link := basePath + "?" + q.WithOffset(max(q.Offset-q.Limit, 0)).Encode()
		p.Links.Prev = &link
	}
	return p, nil
}

// AppendJSON appends the page's JSON, keys in the contract's order. It is
// written by hand because it is on every warm invocation's path: the
// reflection-based encoder costs more than the rest of the service's work.
func (p *Page) AppendJSON(b []byte) []byte {
	b = append(b, `{"data":[`...)
	for i := range p.Data {
		if i > 0 {
			b = append(b, ',')
		}
		c := &p.Data[i]
		b = appendField(b, `{"contract_id":`, c.ContractID)
		b = appendField(b, `,"mchid":`, c.MchID)
		b = appendField(b, `,"appid":`, c.AppID)
		b = appendField(b, `,"openid":`, c.OpenID)
		b = appendField(b, `,"plan_id":`, c.PlanID)
		b = appendField(b, `,"contract_status":`, c.ContractStatus)
		b = appendField(b, `,"create_time":`, c.CreateTime)
		b = appendField(b, `,"out_contract_code":`, c.OutContractCode)
		b = append(b, '}')
	}
	b = append(b, `],"offset":`...)
	b = strconv.AppendInt(b, int64(p.Offset), 10)
	b = append(b, `,"limit":`...)
	b = strconv.AppendInt(b, int64(p.Limit), 10)
	b = append(b, `,"total_count":`...)
	b = strconv.AppendInt(b, int64(p.TotalCount), 10)
	b = append(b, `,"has_more":`...)
	b = strconv.AppendBool(b, p.HasMore)
	b = append(b, `,"next_offset":`...)
	if p.NextOffset != nil {
		b = strconv.AppendInt(b, int64(*p.NextOffset), 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"links":{"self":`...)
	b = jsonw.AppendString(b, p.Links.Self)
	b = append(b, `,"next":`...)
	b = appendOptional(b, p.Links.Next)
	b = append(b, `,"prev":`...)
	b = appendOptional(b, p.Links.Prev)
	return append(b, "}}"...)
}

func appendField(b []byte, key string, v rawString) []byte {
	b = append(b, key...)
	if v == nil {
		return append(b, "null"...)
	}
	return append(b, v...)
}

func appendOptional(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return jsonw.AppendString(b, *s)
}

// marshal renders v as JSON without escaping &, < and > (links carry &).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
