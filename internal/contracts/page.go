package contracts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/campuspay/contracts/internal/contractquery"
	"github.com/campuspay/contracts/internal/jsonr"
)

// Contract is one item of the list: WeChat Pay's eight values, each kept as
// the raw JSON string it sent, or nil when it sent null or nothing (written
// as null: every key is always present).
type Contract struct {
	ContractID      rawString
	MchID           rawString
	AppID           rawString
	OpenID          rawString
	PlanID          rawString
	ContractStatus  rawString
	CreateTime      rawString
	OutContractCode rawString
}

// contractKeys are WeChat Pay's names of a Contract's fields.
var contractKeys = [...]string{"contract_id", "mchid", "appid", "openid", "plan_id", "contract_status", "create_time", "out_contract_code"}

// field returns the field named by key (matched as encoding/json matches
// keys, see jsonr.Match), or nil. WeChat Pay's own spelling is looked up
// first: it is what every key is, 160 times a page.
func (c *Contract) field(key []byte) *rawString {
	switch string(key) {
	case "contract_id":
		return &c.ContractID
	case "mchid":
		return &c.MchID
	case "appid":
		return &c.AppID
	case "openid":
		return &c.OpenID
	case "plan_id":
		return &c.PlanID
	case "contract_status":
		return &c.ContractStatus
	case "create_time":
		return &c.CreateTime
	case "out_contract_code":
		return &c.OutContractCode
	}
	if i := jsonr.Match(key, contractKeys[:]...); i >= 0 {
		return c.field([]byte(contractKeys[i]))
	}
	return nil
}

// rawString is one JSON string value exactly as WeChat Pay sent it (quotes
// and escapes included), or nil for null or absent.
//
// It aliases the verified answer body instead of copying it: normalize's
// caller owns that body and does not change it before the page is written,
// which saves the 160 small allocations of a full page.
type rawString []byte

// Page is the success body of the contract.
type Page struct {
	Data       []Contract
	Offset     int
	Limit      int
	TotalCount int
	HasMore    bool
	NextOffset *int
	Links      Links

	lists *contractLists // where Release hands Data back
}

// Links point at this API, never at WeChat Pay.
type Links struct {
	Self string
	Next *string
	Prev *string
}

// upstreamPage is what normalize reads of WeChat Pay's answer; its links
// are dropped, since they point at WeChat Pay.
type upstreamPage struct {
	Data       []Contract
	TotalCount *int
}

// contractLists recycles the lists contracts are read into: a list lives
// only until its page is written (Page.Release), and a fresh one per
// invocation was a tenth of the garbage of a warm invocation. The zero
// value is ready; a nil *contractLists recycles nothing. A Service keeps
// one, so that nothing of it outlives the Service.
type contractLists struct{ pool sync.Pool }

func (l *contractLists) get() []Contract {
	if l != nil {
		if list, ok := l.pool.Get().(*[]Contract); ok {
			return (*list)[:0]
		}
	}
	return make([]Contract, 0, 20) // WeChat Pay's default page
}

// put keeps list for reuse. Its values, which alias an answer body, are
// cleared first, so that a kept list holds no body.
func (l *contractLists) put(list []Contract) {
	if l == nil || cap(list) == 0 {
		return
	}
	clear(list)
	list = list[:0]
	l.pool.Put(&list)
}

// Release hands the page's list of contracts back for reuse, once the page
// is written: the page must not be used after it.
func (p *Page) Release() {
	p.lists.put(p.Data)
	p.Data = nil
}

// normalize turns WeChat Pay's verified answer into the contract's page.
// offset and limit are the ones used; basePath is the path links are built
// on; the list of contracts comes from lists (nil: a new one). The page
// refers to body, which must not change until it is written.
func normalize(body []byte, q contractquery.Query, basePath string, lists *contractLists) (*Page, error) {
	up, err := decodePage(body, lists)
	if err != nil {
		return nil, fmt.Errorf("decode contract list: %w", err)
	}
	p := &Page{Data: up.Data, Offset: q.Offset, Limit: q.Limit, lists: lists}
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
