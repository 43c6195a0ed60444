package contracts

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/campuspay/contracts/internal/contractquery"
	"github.com/campuspay/contracts/internal/jsonr"
	"github.com/campuspay/contracts/internal/jsonw"
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

// Errors of a body that is valid JSON but not a contract list.
var (
	errNotObject  = errors.New("the answer is not a JSON object")
	errDataKind   = errors.New("data is not an array of objects")
	errNotString  = errors.New("a contract field is not a string of valid UTF-8")
	errTotalCount = errors.New("total_count is not an integer")
	errNotJSON    = errors.New("the answer is not valid JSON")
)

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

// decodePage reads WeChat Pay's answer. It is read with jsonr rather than
// encoding/json, on every warm invocation's path, with encoding/json's
// outcome: the same syntax check of the whole body, keys matched the same
// way, the later of two equal keys winning, null as absent, and a value of
// the wrong type an error.
func decodePage(body []byte, lists *contractLists) (upstreamPage, error) {
	var up upstreamPage
	r := jsonr.NewReader(body)
	var kindErr error
	switch r.Peek() {
	case jsonr.Null:
		r.Skip()
	case jsonr.Object:
		for key := range r.Members() {
			switch jsonr.Match(key, "data", "total_count") {
			case 0:
				data, err := readContracts(r, lists)
				up.Data = data
				kindErr = cmp.Or(kindErr, err)
			case 1:
				n, err := readCount(r)
				up.TotalCount = n
				kindErr = cmp.Or(kindErr, err)
			}
		}
	default:
		r.Skip()
		kindErr = errNotObject
	}
	if err := r.Finish(); err != nil {
		return upstreamPage{}, fmt.Errorf("%w: %w", errNotJSON, err)
	}
	if kindErr != nil {
		return upstreamPage{}, kindErr
	}
	return up, nil
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

// readContracts reads data: null, or an array of contracts (each an object
// or null). A value of the wrong type is skipped and reported.
func readContracts(r *jsonr.Reader, lists *contractLists) ([]Contract, error) {
	switch r.Peek() {
	case jsonr.Null:
		r.Skip()
		return nil, nil
	case jsonr.Array:
	default:
		r.Skip()
		return nil, errDataKind
	}
	data := lists.get()
	var kindErr error
	for range r.Elements() {
		data = append(data, Contract{})
		c := &data[len(data)-1]
		switch r.Peek() {
		case jsonr.Null:
			continue
		case jsonr.Object:
		default:
			kindErr = errDataKind
			continue
		}
		for key := range r.Members() {
			f := c.field(key)
			if f == nil {
				continue
			}
			switch r.Peek() {
			case jsonr.Null:
				r.Skip()
				*f = nil
			case jsonr.String:
				raw, valid := r.RawString()
				*f = raw
				if !valid {
					kindErr = errNotString
				}
			default:
				kindErr = errNotString
			}
		}
	}
	return data, kindErr
}

// readCount reads total_count: null, or an integer that fits an int.
func readCount(r *jsonr.Reader) (*int, error) {
	switch r.Peek() {
	case jsonr.Null:
		r.Skip()
		return nil, nil
	case jsonr.Number:
		n, err := strconv.Atoi(string(r.Number()))
		if err != nil {
			return nil, errTotalCount
		}
		return &n, nil
	default:
		r.Skip()
		return nil, errTotalCount
	}
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

// contractOverhead is what AppendJSON writes for a contract besides its
// values: keys, punctuation, and null for each of the eight values.
var contractOverhead = len(`{"contract_id":,"mchid":,"appid":,"openid":,"plan_id":,"contract_status":,"create_time":,"out_contract_code":},`) + 8*len("null")

// EncodedSize returns the most AppendJSON writes, unescaped, for the page
// when its links need no escaping (they are built from validated values
// and the caller's path), so that the answer's buffer is allocated once, at
// about its size.
func (p *Page) EncodedSize() int {
	n := 200 + len(p.Links.Self)
	for _, l := range [...]*string{p.Links.Next, p.Links.Prev} {
		if l != nil {
			n += len(*l)
		}
	}
	for i := range p.Data {
		c := &p.Data[i]
		n += contractOverhead + len(c.ContractID) + len(c.MchID) + len(c.AppID) + len(c.OpenID) +
			len(c.PlanID) + len(c.ContractStatus) + len(c.CreateTime) + len(c.OutContractCode)
	}
	return n
}

// literal is a piece of the page's JSON, and the same escaped as the
// contents of a JSON string, worked out once.
type literal struct{ plain, escaped string }

func lit(s string) literal { return literal{s, string(jsonw.AppendStringContents(nil, s))} }

var (
	litOpen       = lit(`{"data":[`)
	litNull       = lit("null")
	litOffset     = lit(`],"offset":`)
	litLimit      = lit(`,"limit":`)
	litTotalCount = lit(`,"total_count":`)
	litHasMore    = lit(`,"has_more":`)
	litNextOffset = lit(`,"next_offset":`)
	litSelf       = lit(`,"links":{"self":`)
	litNext       = lit(`,"next":`)
	litPrev       = lit(`,"prev":`)
	// litFields open each of a contract's values, in the contract's order.
	litFields = [...]literal{
		lit(`{"contract_id":`), lit(`,"mchid":`), lit(`,"appid":`), lit(`,"openid":`),
		lit(`,"plan_id":`), lit(`,"contract_status":`), lit(`,"create_time":`), lit(`,"out_contract_code":`),
	}
)

// pageWriter appends the page's JSON, as it is or escaped.
type pageWriter struct {
	b       []byte
	escaped bool
}

func (w *pageWriter) lit(l literal) {
	if w.escaped {
		w.b = append(w.b, l.escaped...)
	} else {
		w.b = append(w.b, l.plain...)
	}
}

// json appends JSON that needs no escaping of its own (a number, a
// boolean) or that does (a string token): escaped, it goes through
// jsonw.AppendStringContents.
func (w *pageWriter) json(v []byte) {
	if w.escaped {
		w.b = jsonw.AppendStringContents(w.b, v)
	} else {
		w.b = append(w.b, v...)
	}
}

func (w *pageWriter) raw(v rawString) {
	if v == nil {
		w.lit(litNull)
		return
	}
	w.json(v)
}

func (w *pageWriter) int(n int) { w.b = strconv.AppendInt(w.b, int64(n), 10) }

// link appends a link as a JSON string, or null.
func (w *pageWriter) link(s *string) {
	if s == nil {
		w.lit(litNull)
		return
	}
	var tok [256]byte
	w.json(jsonw.AppendString(tok[:0], *s))
}

// AppendJSON appends the page's JSON, keys in the contract's order; with
// escaped, as the contents of a JSON string, for a proxy envelope (see
// invocation.JSONBody). It is written by hand because it is on every warm
// invocation's path: the reflection-based encoder costs more than the
// rest of the service's work.
func (p *Page) AppendJSON(b []byte, escaped bool) []byte {
	w := pageWriter{b: b, escaped: escaped}
	w.lit(litOpen)
	for i := range p.Data {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		c := &p.Data[i]
		for j, v := range [...]rawString{c.ContractID, c.MchID, c.AppID, c.OpenID, c.PlanID, c.ContractStatus, c.CreateTime, c.OutContractCode} {
			w.lit(litFields[j])
			w.raw(v)
		}
		w.b = append(w.b, '}')
	}
	w.lit(litOffset)
	w.int(p.Offset)
	w.lit(litLimit)
	w.int(p.Limit)
	w.lit(litTotalCount)
	w.int(p.TotalCount)
	w.lit(litHasMore)
	w.b = strconv.AppendBool(w.b, p.HasMore)
	w.lit(litNextOffset)
	if p.NextOffset != nil {
		w.int(*p.NextOffset)
	} else {
		w.lit(litNull)
	}
	w.lit(litSelf)
	w.link(&p.Links.Self)
	w.lit(litNext)
	w.link(p.Links.Next)
	w.lit(litPrev)
	w.link(p.Links.Prev)
	w.b = append(w.b, "}}"...)
	return w.b
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
