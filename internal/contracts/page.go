package contracts

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/campuspay/contracts/internal/contractquery"
)

// Contract is one item of the list. Every key is always present: a value
// WeChat Pay left out is null.
type Contract struct {
	ContractID      *string `json:"contract_id"`
	MchID           *string `json:"mchid"`
	AppID           *string `json:"appid"`
	OpenID          *string `json:"openid"`
	PlanID          *string `json:"plan_id"`
	ContractStatus  *string `json:"contract_status"`
	CreateTime      *string `json:"create_time"`
	OutContractCode *string `json:"out_contract_code"`
}

// Page is the success body of the contract.
type Page struct {
	Data       []Contract `json:"data"`
	Offset     int        `json:"offset"`
	Limit      int        `json:"limit"`
	TotalCount int        `json:"total_count"`
	HasMore    bool       `json:"has_more"`
	NextOffset *int       `json:"next_offset"`
	Links      Links      `json:"links"`
}

// Links point at this API, never at WeChat Pay.
type Links struct {
	Self string  `json:"self"`
	Next *string `json:"next"`
	Prev *string `json:"prev"`
}

// upstreamPage is WeChat Pay's answer; its links are dropped, since they
// point at WeChat Pay.
type upstreamPage struct {
	Data       []Contract `json:"data"`
	TotalCount *int       `json:"total_count"`
}

// normalize turns WeChat Pay's verified answer into the contract's page.
// offset and limit are the ones used; basePath is the path links are built on.
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
